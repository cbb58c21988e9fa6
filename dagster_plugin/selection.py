"""Which runs a sensor reports: ``monitored_jobs`` / ``job_selection`` as Dagster's run-status sensors take them.

Items are what :func:`dagster.run_status_sensor` accepts — job definitions (``JobDefinition``,
``GraphDefinition``, ``UnresolvedAssetJobDefinition``) or their names, which mean jobs of the
sensor's own code location, and ``JobSelector`` / ``RepositorySelector`` / ``CodeLocationSelector``,
which may name other code locations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

__all__ = ["RunSelection"]


@attrs.frozen(kw_only=True)
class _Selector:
    location: str | None  # None: the sensor's own code location
    repository: str | None = None
    job: str | None = None

    def matches(self, job: str, location: str | None, repository: str | None, own: str | None) -> bool:
        want = self.location if self.location is not None else own
        if want is not None and location is not None and want != location:
            return False
        if self.repository is not None and repository is not None and self.repository != repository:
            return False
        return self.job is None or self.job == job


def _selector(item: Any) -> _Selector:
    import dagster as dg

    if isinstance(item, str):
        return _Selector(location=None, job=item)
    if isinstance(item, dg.JobSelector):
        return _Selector(location=item.location_name, repository=item.repository_name, job=item.job_name)
    if isinstance(item, dg.RepositorySelector):
        return _Selector(location=item.location_name, repository=item.repository_name)
    if isinstance(item, dg.CodeLocationSelector):
        return _Selector(location=item.location_name)
    name = getattr(item, "name", None)
    if isinstance(name, str) and name:  # JobDefinition, GraphDefinition, UnresolvedAssetJobDefinition
        return _Selector(location=None, job=name)
    raise TypeError(
        f"monitored_jobs/job_selection items must be jobs, job names, JobSelector, RepositorySelector or "
        f"CodeLocationSelector, got {type(item).__name__}"
    )


@attrs.frozen(kw_only=True)
class RunSelection:
    """The runs a sensor reports; empty selects every job of its own code location."""

    selectors: tuple[_Selector, ...] = ()

    @classmethod
    def of(cls, *selections: Sequence[Any] | None) -> RunSelection:
        """Combine ``monitored_jobs`` and ``job_selection`` (either may be None)."""
        return cls(selectors=tuple(_selector(item) for items in selections for item in items or ()))

    @property
    def job_names(self) -> list[str] | None:
        """Job names to filter storage by, when every selector names a job (else None: filter later)."""
        if not self.selectors or any(s.job is None for s in self.selectors):
            return None
        return sorted({s.job for s in self.selectors if s.job is not None})

    @property
    def other_locations(self) -> bool:
        """Whether a selector names a code location (possibly not the sensor's own)."""
        return any(s.location is not None for s in self.selectors)

    def matches(self, job: str, location: str | None, repository: str | None, own: str | None) -> bool:
        """Whether a run of ``job`` in ``location``/``repository`` is selected, for a sensor in ``own``."""
        if not self.selectors:
            return True
        return any(s.matches(job, location, repository, own) for s in self.selectors)
