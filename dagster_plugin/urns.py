"""DataHub's ``DatasetUrn`` (``datahub.utilities.urns.dataset_urn``) without acryl-datahub (pure).

The guide's examples name datasets with it (``DatasetUrn("snowflake", "tableA").urn()``); imported from
:mod:`dagster_plugin` they run unchanged and give the URNs DataHub's class gives: the platform as a
``dataPlatform`` URN, ``,`` ``(`` ``)`` in the name percent-encoded, the env upper-cased.
:func:`converted_urn` is what ``asset_keys_to_dataset_urn_converter`` names an asset key, checked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bridge.errors import InvalidEventError
from translators.datahub.urn_parsing import parse_dataset_urn
from translators.datahub.urns import make_dataset_urn_with_platform_instance

__all__ = ["DatasetUrn", "converted_urn"]

_CONVERTER = "asset_keys_to_dataset_urn_converter"


class DatasetUrn(str):
    """A dataset URN; it is the URN string itself, and answers DataHub's ``urn()``, ``platform``, ``name``, ``env``.

    Args:
        platform: platform name (``snowflake``) or dataPlatform URN.
        name: dataset name.
        env: DataHub environment (``PROD``).

    Raises:
        InvalidEventError (a ValueError): an empty part, reserved characters in ``env``, a malformed URN.
    """

    _platform: str
    _name: str
    _env: str

    def __new__(cls, platform: str, name: str, env: str = "PROD") -> DatasetUrn:
        return cls._parsed(make_dataset_urn_with_platform_instance(platform, name, None, env))

    @classmethod
    def _parsed(cls, urn: str) -> DatasetUrn:
        """The one way an instance is made: the URN parsed once, its parts kept."""
        self = str.__new__(cls, urn)
        self._platform, self._name, self._env = parse_dataset_urn(urn, arg="dataset urn")
        return self

    @classmethod
    def create_from_ids(cls, platform_id: str, table_name: str, env: str,
                        platform_instance: str | None = None) -> DatasetUrn:
        """As DataHub's: the platform instance prefixes the name (``<instance>.<table>``)."""
        return cls._parsed(make_dataset_urn_with_platform_instance(platform_id, table_name, platform_instance, env))

    @classmethod
    def from_string(cls, urn: str) -> DatasetUrn:
        """Parse ``urn:li:dataset:(<platform urn>,<name>,<env>)`` (kept as written; a DataHub ``Urn`` too).

        Raises:
            InvalidEventError (a ValueError): not a dataset URN; the message names it and what is wrong.
        """
        return cls._parsed(str(urn))

    create_from_string = from_string

    def urn(self) -> str:
        return str(self)

    @property
    def platform(self) -> str:
        """The dataPlatform URN."""
        return f"urn:li:dataPlatform:{self._platform}"

    @property
    def name(self) -> str:
        return self._name

    @property
    def env(self) -> str:
        return self._env

    def __repr__(self) -> str:
        return f"DatasetUrn({str(self)!r})"


def converted_urn(converter: Callable[[list[str]], Any], asset_key: Sequence[str]) -> DatasetUrn | None:
    """The dataset ``converter`` (DataHub's ``asset_keys_to_dataset_urn_converter``) names ``asset_key``: None
    (it names none), or its DataHub ``DatasetUrn`` or URN string as a :class:`DatasetUrn`.

    Raises:
        InvalidEventError: it returned something else; ``field`` names the converter, the message the asset key,
            what it returned and what is wrong with it.
    """
    urn = converter(list(asset_key))
    if urn is None:
        return None
    try:
        return DatasetUrn.from_string(urn.urn() if callable(getattr(urn, "urn", None)) else str(urn))
    except InvalidEventError as exc:
        raise InvalidEventError(f"asset key {list(asset_key)}: {exc.reason}", field=_CONVERTER) from None
