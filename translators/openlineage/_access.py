"""Fast, liberal accessors for facet handlers.

The common value (a string, ``None``, a dict) is returned at once, without building
the JSON path, which is only needed for a warning or an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._values import Malformed, as_mapping, opt_int, opt_str

__all__ = ["as_item", "as_list", "get_int", "get_str", "get_str_i", "ident"]


def ident(value: Any) -> str | None:
    """A usable identifier (non-blank string; numbers as text) or ``None``."""
    if type(value) is str:
        return value if value.strip() else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def get_str(obj: Mapping[str, Any], key: str, p: str, loc: str | None) -> str | None:
    value = obj.get(key)
    if value is None or type(value) is str:
        return value
    return opt_str(value, f"{p}.{key}", loc)


def get_str_i(obj: Mapping[str, Any], key: str, p: str, i: int, loc: str | None) -> str | None:
    value = obj.get(key)
    if value is None or type(value) is str:
        return value
    return opt_str(value, f"{p}[{i}].{key}", loc)


def get_int(obj: Mapping[str, Any], key: str, p: str, loc: str | None) -> int | None:
    value = obj.get(key)
    if value is None or type(value) is int:
        return value
    return opt_int(value, f"{p}.{key}", loc)


def as_item(item: Any, p: str, i: int) -> Mapping[str, Any]:
    if type(item) is dict:
        return item
    return as_mapping(item, f"{p}[{i}]")


def as_list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if type(value) is list:
        return value
    raise Malformed(path, f"expected a list, got {type(value).__name__}")
