"""DataHub's ``DatasetUrn`` (``datahub.utilities.urns.dataset_urn``) without acryl-datahub (pure).

The guide's examples name datasets with it (``DatasetUrn("snowflake", "tableA").urn()``); imported from
:mod:`dagster_plugin` they run unchanged and give the URNs DataHub's class gives: the platform as a
``dataPlatform`` URN, ``,`` ``(`` ``)`` in the name percent-encoded, the env upper-cased.
"""

from __future__ import annotations

from translators.datahub.urns import make_dataset_urn_with_platform_instance, split_urn

__all__ = ["DatasetUrn"]


class DatasetUrn(str):
    """A dataset URN; it is the URN string itself, and answers DataHub's ``urn()``, ``platform``, ``name``, ``env``.

    Args:
        platform: platform name (``snowflake``) or dataPlatform URN.
        name: dataset name.
        env: DataHub environment (``PROD``).

    Raises:
        InvalidEventError (a ValueError): an empty part, reserved characters in ``env``, a malformed URN.
    """

    def __new__(cls, platform: str, name: str, env: str = "PROD") -> DatasetUrn:
        return str.__new__(cls, make_dataset_urn_with_platform_instance(platform, name, None, env))

    @classmethod
    def create_from_ids(cls, platform_id: str, table_name: str, env: str,
                        platform_instance: str | None = None) -> DatasetUrn:
        """As DataHub's: the platform instance prefixes the name (``<instance>.<table>``)."""
        return str.__new__(cls, make_dataset_urn_with_platform_instance(platform_id, table_name, platform_instance,
                                                                        env))  # fmt: skip

    @classmethod
    def from_string(cls, urn: str) -> DatasetUrn:
        """Parse ``urn:li:dataset:(<platform urn>,<name>,<env>)`` (kept as written)."""
        kind, parts = split_urn(str(urn), arg="dataset urn")
        if kind != "dataset" or len(parts) != 3 or not parts[0].startswith("urn:li:dataPlatform:"):
            raise ValueError(f"not a dataset URN: {urn!r}")
        return str.__new__(cls, str(urn))

    create_from_string = from_string

    def urn(self) -> str:
        return str(self)

    def _parts(self) -> list[str]:
        return split_urn(str(self))[1]

    @property
    def platform(self) -> str:
        """The dataPlatform URN."""
        return self._parts()[0]

    @property
    def name(self) -> str:
        return self._parts()[1]

    @property
    def env(self) -> str:
        return self._parts()[2]

    def __repr__(self) -> str:
        return f"DatasetUrn({str(self)!r})"
