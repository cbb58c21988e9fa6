"""URN builders and dataset resolution: lineage-bridge vs acryl-datahub, same run.

``python benchmarks/bench_urns.py [--n N]``. Prints per-call times and the ratio
(acryl-datahub time / ours; above 1 means we are faster). The inputs mix plain
names with names that need escaping, as real events do.
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable


def _best(fn: Callable[[], object], n: int) -> float:
    """Best of 3 runs, seconds per call."""
    return min(timeit.repeat(fn, number=n, repeat=3)) / n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000, help="calls per measurement")
    args = parser.parse_args(argv or [])

    from datahub.emitter import mce_builder as dh

    from translators.datahub import urns as ours
    from translators.datahub.platform_config import PlatformConfig
    from translators.datahub.platforms import resolve_dataset_urn

    names = [f"db.schema.table_{i}" for i in range(50)] + [f"db.t({i}),x" for i in range(50)]
    state = {"i": 0}

    def name() -> str:
        state["i"] = (state["i"] + 1) % len(names)
        return names[state["i"]]

    config = PlatformConfig()
    cases: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        (
            "make_dataset_urn",
            lambda: ours.make_dataset_urn("postgres", name()),
            lambda: dh.make_dataset_urn("postgres", name()),
        ),
        (
            "make_data_job_urn",
            lambda: ours.make_data_job_urn("airflow", "dag", name()),
            lambda: dh.make_data_job_urn("airflow", "dag", name()),
        ),
        (
            "make_schema_field_urn",
            lambda: ours.make_schema_field_urn("urn:li:dataset:(urn:li:dataPlatform:hive,t,PROD)", name()),
            lambda: dh.make_schema_field_urn("urn:li:dataset:(urn:li:dataPlatform:hive,t,PROD)", name()),
        ),
        (
            "make_tag_urn",
            lambda: ours.make_tag_urn(name()),
            lambda: dh.make_tag_urn(name()),
        ),
        (
            "datahub_guid",
            lambda: ours.datahub_guid({"platform": "spark", "run": name()}),
            lambda: dh.datahub_guid({"platform": "spark", "run": name()}),
        ),
        (
            # acryl-datahub has no OpenLineage resolver; the floor is building the same URN directly.
            "resolve gs:// path vs make_dataset_urn",
            lambda: resolve_dataset_urn("gs://bucket", name(), config=config),
            lambda: dh.make_dataset_urn("gcs", "bucket/" + name()),
        ),
    ]
    print(f"{'operation':40} {'ours µs':>9} {'datahub µs':>11} {'ratio':>7}")
    for label, mine, theirs in cases:
        t_ours = _best(mine, args.n)
        t_dh = _best(theirs, args.n)
        print(f"{label:40} {t_ours * 1e6:9.2f} {t_dh * 1e6:11.2f} {t_dh / t_ours:7.2f}x")


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main(sys.argv[1:])
