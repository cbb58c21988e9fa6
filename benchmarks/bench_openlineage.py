"""OpenLineage JSON -> neutral model: lineage-bridge vs the floor (json.loads) and acryl-datahub, same run.

``python benchmarks/bench_openlineage.py [--copies N]``. The input is the 74 real corpus
events (Airflow, Spark, column lineage), repeated ``--copies`` times as JSON Lines bytes.

Rows (events/s, best of 3):

* ``json.loads``: decoding the same lines and nothing else — the floor.
* ``bridge parse_events``: bytes -> model events (decoding included).
* ``datahub OpenLineageParser``: ``json.loads`` + acryl-datahub's only Python OpenLineage
  event parser (the Matillion source's ``OpenLineageParser.parse_lineage_event``). It reads
  less than we do (datasets and column lineage, no job/run facets), so it is a generous baseline.
* ``bridge to_openlineage+dumps`` vs ``json.dumps``: writing the events back out.

Ratios: ``x floor`` is our time / json.loads time (lower is better; 2.0 means parsing costs as
much again as decoding); ``vs datahub`` is datahub time / ours (above 1 means we are faster).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "openlineage"


def _best(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=40, help="times the 74-event corpus is repeated")
    args = parser.parse_args(argv or [])

    from translators.openlineage import parse_events, to_openlineage

    lines = [json.dumps(json.loads(p.read_bytes())) for p in sorted(CORPUS.rglob("*.json"))]
    data = "\n".join(lines * args.copies).encode()
    raw_lines = data.split(b"\n")
    n = len(raw_lines)

    def floor() -> None:
        for line in raw_lines:
            json.loads(line)

    def ours() -> None:
        for _, result in parse_events(data, source="bench.jsonl"):
            if not hasattr(result, "producer"):
                raise RuntimeError(f"corpus event refused: {result}")

    rows: list[tuple[str, float]] = [
        ("json.loads (floor)", _best(floor)),
        ("bridge parse_events", _best(ours)),
    ]

    try:
        from datahub.ingestion.source.matillion_dpc.matillion_lineage import OpenLineageParser
    except ImportError:
        OpenLineageParser = None  # noqa: N806 - acryl-datahub is a bench extra
    if OpenLineageParser is not None:
        dh = OpenLineageParser()

        def datahub() -> None:
            for line in raw_lines:
                dh.parse_lineage_event(json.loads(line))

        rows.append(("datahub OpenLineageParser", _best(datahub)))

    events = [r for _, r in parse_events(data)]
    dicts = [json.loads(line) for line in raw_lines]
    rows.append(("json.dumps (floor)", _best(lambda: [json.dumps(d) for d in dicts])))
    rows.append(
        ("bridge to_openlineage+dumps", _best(lambda: [json.dumps(to_openlineage(e)) for e in events]))
    )

    times = dict(rows)
    print(f"{n} events ({len(data) / 1e6:.1f} MB of JSON Lines)")
    print(f"{'what':30} {'events/s':>10} {'x floor':>8} {'vs datahub':>11}")
    for name, seconds in rows:
        floor_key = "json.dumps (floor)" if "dumps" in name else "json.loads (floor)"
        ratio = seconds / times[floor_key]
        versus = ""
        if name == "bridge parse_events" and "datahub OpenLineageParser" in times:
            versus = f"{times['datahub OpenLineageParser'] / seconds:.2f}"
        print(f"{name:30} {n / seconds:10.0f} {ratio:8.2f} {versus:>11}")


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main(sys.argv[1:])
