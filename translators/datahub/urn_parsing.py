"""Reading DataHub URNs back (pure): :func:`split_urn` (DataHub's ``Urn.from_string``), :func:`parse_typed_urn`,
and :func:`parse_dataset_urn`, the one parser of dataset URNs: the translator's dataset identities, the Dagster
plugin's ``DatasetUrn`` and the datasets a URN names all read them through it.

A URN that cannot be read raises :class:`bridge.errors.InvalidEventError` naming the argument, the URN and
what is wrong.
"""

from __future__ import annotations

from bridge.errors import InvalidEventError

__all__ = ["PREFIX", "has_reserved", "invalid_part", "parse_dataset_urn", "parse_typed_urn", "split_urn"]

#: What every URN starts with.
PREFIX = "urn:li:"


def has_reserved(value: str) -> bool:
    """Whether ``value`` holds one of DataHub's reserved URN characters (``,`` ``(`` ``)`` ``\u241f``)."""
    # spelled out, not any(): this is on every URN the translator makes
    return "," in value or "(" in value or ")" in value or "\u241f" in value


def invalid_part(arg: str, reason: str) -> InvalidEventError:
    """The error for a URN (or one of its parts) named by ``arg`` that DataHub would refuse."""
    return InvalidEventError(reason, field=arg)


def _split_ids(ids: str, arg: str) -> list[str]:
    """Split ``(a,b,(c,d))`` into its top-level parts (a plain id is one part)."""
    if not (ids.startswith("(") and ids.endswith(")")):
        return [ids]
    parts: list[str] = []
    depth = 1
    start = 1
    for i in range(1, len(ids)):
        c = ids[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                raise invalid_part(arg, f"mismatched parentheses in URN ids {ids!r}")
        elif c == "," and depth == 1:
            if i == start:
                raise invalid_part(arg, f"empty part in URN ids {ids!r}")
            parts.append(ids[start:i])
            start = i + 1
    if depth != 0:
        raise invalid_part(arg, f"mismatched parentheses in URN ids {ids!r}")
    parts.append(ids[start:-1])
    return parts


def split_urn(urn: str, *, arg: str = "urn") -> tuple[str, list[str]]:
    """Parse a URN string into its entity type and top-level id parts.

    Follows DataHub's parser (``Urn.from_string``): ``urn:li:<type>:<id>`` or
    ``urn:li:<type>:(<id1>,<id2>,...)`` where ids may themselves be URNs.

    Args:
        urn: the URN text.
        arg: name of the argument, used in the error.

    Returns:
        ``(entity_type, parts)``.

    Raises:
        InvalidEventError: if ``urn`` is not a well-formed URN.
    """
    if not urn.startswith(PREFIX):
        raise invalid_part(arg, f"{urn!r} is not a URN (it must start with 'urn:li:')")
    pieces = urn.split(":", 3)
    if len(pieces) != 4 or "" in pieces:
        raise invalid_part(arg, f"{urn!r} is not a URN (expected urn:li:<type>:<id>)")
    parts = _split_ids(pieces[3], arg)
    if "" in parts:
        raise invalid_part(arg, f"{urn!r} has an empty id part")
    return pieces[2], parts


def parse_typed_urn(urn: str, entity_type: str, n_parts: int, arg: str) -> list[str]:
    """Parse ``urn`` as a URN of ``entity_type`` with ``n_parts`` plain-text parts."""
    kind, parts = split_urn(urn, arg=arg)
    if kind != entity_type:
        raise invalid_part(arg, f"expected a {entity_type} URN, got {urn!r}")
    if len(parts) != n_parts:
        raise invalid_part(arg, f"a {entity_type} URN has {n_parts} part(s), {urn!r} has {len(parts)}")
    for part in parts:
        if has_reserved(part):
            raise invalid_part(arg, f"{urn!r} has reserved characters , ( ) in a part")
    return parts


_DATASET_SHAPE = "urn:li:dataset:(urn:li:dataPlatform:<platform>,<name>,<env>)"


def parse_dataset_urn(urn: str, *, arg: str = "urn") -> tuple[str, str, str]:
    """Parse a dataset URN as DataHub's ``DatasetUrn.from_string`` does (which checks no env names).

    Args:
        urn: ``urn:li:dataset:(urn:li:dataPlatform:<platform>,<name>,<env>)``.
        arg: name of the argument, used in the error.

    Returns:
        ``(platform, name, env)`` as written (the name still percent-encoded): the inverse of
        :func:`~translators.datahub.urns.make_dataset_urn_with_platform_instance` with no platform instance.

    Raises:
        InvalidEventError: ``urn`` is not a dataset URN; the message names it and what is wrong.
    """

    def invalid(why: str) -> InvalidEventError:
        return invalid_part(arg, f"{urn!r} is not a dataset URN ({_DATASET_SHAPE}): {why}")

    if not isinstance(urn, str):
        raise invalid(f"a {type(urn).__name__}, not a string")
    kind, parts = split_urn(urn, arg=arg)
    if kind != "dataset":
        raise invalid(f"it is a {kind} URN")
    if len(parts) != 3:
        raise invalid(f"it has {len(parts)} part(s), not 3")
    platform_urn, name, env = parts
    try:
        (platform,) = parse_typed_urn(platform_urn, "dataPlatform", 1, arg)
    except InvalidEventError:
        raise invalid(f"its platform {platform_urn!r} is not a dataPlatform URN") from None
    if has_reserved(name) or has_reserved(env):
        raise invalid("its name or env holds a reserved character (\u241f)")
    return platform, name, env
