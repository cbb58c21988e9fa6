"""REST emitter benchmark: MCPs/s delivered to one local GMS test server, ours vs acryl-datahub's.

The GMS test server (tests/servers/gms.py) runs in a child process, so it does
not share the GIL with the emitters; it checks every proposal's shape and
counts what it accepted, and the benchmark checks that count. Both emitters
get the same MCPs (built from the same aspect dicts, before the clock starts)
and talk to the same server over keep-alive HTTP/1.1:

* single: ``emit(mcp)`` one by one (one ``ingestProposal`` request per MCP);
* batch: ``emit_mcps(mcps)`` (``ingestProposalBatch``, 200 per request).

acryl-datahub's emitter talks Rest.li here (``openapi_ingestion=False``), as it
does with a GMS that does not advertise its OpenAPI SDK endpoints; it adds a
small ``systemMetadata`` to each proposal, ours sends none (GMS fills it in).
A third row shows ``emit`` with ``delivery="background"`` (queued, batched by a
sender thread, then ``flush``), which is what the bridge's pipeline benefits from.

Run: ``python -m benchmarks.bench_rest [--n 4000] [--single-n 1000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import gc
import logging
import time
from collections.abc import Callable
from typing import Any

__all__ = ["main", "run"]


def _aspects(n: int) -> list[tuple[str, str, dict[str, Any]]]:
    """``n`` (urn, aspect name, aspect) triples that look like what the translator produces."""
    from translators.datahub.urns import make_dataset_urn

    out = []
    for i in range(n):
        urn = make_dataset_urn("bigquery", f"my-project.dataset_{i % 50}.table_{i}")
        kind = i % 3
        if kind == 0:
            out.append((urn, "datasetProperties", {
                "name": f"table_{i}", "description": f"Table number {i}, written by job {i % 17}",
                "customProperties": {"owner_team": "analytics", "row_count": str(i * 10), "format": "parquet"},
                "tags": [],
            }))
        elif kind == 1:
            ups = [make_dataset_urn("bigquery", f"my-project.raw.src_{(i + k) % 97}") for k in range(3)]
            out.append((urn, "upstreamLineage", {
                "upstreams": [{"auditStamp": {"time": 1700000000000, "actor": "urn:li:corpuser:datahub"},
                               "dataset": u, "type": "TRANSFORMED"} for u in ups],
            }))
        else:
            out.append((urn, "status", {"removed": False}))
    return out


def _ours(triples: list[tuple[str, str, dict[str, Any]]]) -> list[Any]:
    from bridge.mcp import MetadataChangeProposalWrapper

    return [MetadataChangeProposalWrapper(entity_urn=u, aspect_name=a, aspect=v) for u, a, v in triples]


def _theirs(triples: list[tuple[str, str, dict[str, Any]]]) -> list[Any]:
    from datahub.emitter.mcp import MetadataChangeProposalWrapper
    from datahub.metadata.schema_classes import ASPECT_NAME_MAP

    return [MetadataChangeProposalWrapper(entityUrn=u, aspect=ASPECT_NAME_MAP[a].from_obj(v)) for u, a, v in triples]


def _timed(server: Any, expected: int, fn: Callable[[], None]) -> float:
    """Seconds ``fn`` took; checks the server accepted exactly ``expected`` proposals meanwhile."""
    server.reset()
    gc.collect()
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    got = server.stats()["proposals"]
    if got != expected:
        raise RuntimeError(f"server accepted {got} proposals, expected {expected}")
    return elapsed


def run(n: int = 4000, single_n: int = 1000, repeat: int = 3) -> list[dict[str, Any]]:
    """Measure; returns one row per (case, emitter) with MCPs/s (best of ``repeat``)."""
    from datahub.emitter.rest_emitter import DatahubRestEmitter

    from emitters.rest import RestEmitter
    from tests.servers.gms import GmsProcess

    triples = _aspects(n)
    single = triples[:single_n]
    rows: list[dict[str, Any]] = []
    with GmsProcess(store=False) as server:
        ours = RestEmitter(gms_server=server.url)
        ours_bg = RestEmitter(gms_server=server.url, delivery="background", linger_ms=2)
        theirs = DatahubRestEmitter(server.url, openapi_ingestion=False)
        ours.test_connection()
        theirs.test_connection()
        # Warm both connection pools and code paths.
        ours.emit_many(_ours(triples[:50]))
        theirs.emit_mcps(_theirs(triples[:50]))

        def best(label: str, impl: str, count: int, build: Callable[[], list[Any]],
                 send: Callable[[list[Any]], None]) -> None:
            times = []
            for _ in range(repeat):
                items = build()  # fresh objects: nothing cached from the previous round
                times.append(_timed(server, count, lambda items=items: send(items)))
            rows.append({"case": label, "emitter": impl, "mcps": count, "seconds": min(times),
                         "mcps_per_s": count / min(times)})

        def ours_single(items: list[Any]) -> None:
            for mcp in items:
                ours.emit(mcp)

        def theirs_single(items: list[Any]) -> None:
            for mcp in items:
                theirs.emit(mcp)

        def ours_background(items: list[Any]) -> None:
            for mcp in items:
                ours_bg.emit(mcp)
            ours_bg.flush()

        best("single emit", "lineage-bridge", single_n, lambda: _ours(single), ours_single)
        best("single emit", "acryl-datahub", single_n, lambda: _theirs(single), theirs_single)
        best("batch emit_mcps", "lineage-bridge", n, lambda: _ours(triples), ours.emit_many)
        best("batch emit_mcps", "acryl-datahub", n, lambda: _theirs(triples), theirs.emit_mcps)
        best("emit, background delivery", "lineage-bridge", n, lambda: _ours(triples), ours_background)
        ours.close()
        ours_bg.close()
        theirs.close()
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Print the table and the ratios (ours / acryl-datahub, higher is better)."""
    parser = argparse.ArgumentParser(description="REST emitter benchmark vs acryl-datahub")
    parser.add_argument("--n", type=int, default=4000, help="MCPs per batch run")
    parser.add_argument("--single-n", type=int, default=1000, help="MCPs per single-emit run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small run (n=1000, single-n=300, repeat=2)")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.single_n, args.repeat = 1000, 300, 2
    logging.getLogger("datahub").setLevel(logging.WARNING)
    rows = run(args.n, args.single_n, args.repeat)
    print(f"{'case':<28} {'emitter':<16} {'MCPs':>6} {'seconds':>9} {'MCPs/s':>10}")
    for r in rows:
        print(f"{r['case']:<28} {r['emitter']:<16} {r['mcps']:>6} {r['seconds']:>9.3f} {r['mcps_per_s']:>10.0f}")
    rate = {(r["case"], r["emitter"]): r["mcps_per_s"] for r in rows}
    single = rate[("single emit", "lineage-bridge")] / rate[("single emit", "acryl-datahub")]
    batch = rate[("batch emit_mcps", "lineage-bridge")] / rate[("batch emit_mcps", "acryl-datahub")]
    background = rate[("emit, background delivery", "lineage-bridge")] / rate[("single emit", "acryl-datahub")]
    print(f"ratio single emit (ours / acryl-datahub emit):          {single:.2f}x  (target >= 1x)")
    print(f"ratio batch (ours emit_many / acryl-datahub emit_mcps): {batch:.2f}x  (target >= 3x)")
    print(f"ratio background emit (ours) / acryl-datahub emit:      {background:.2f}x")
    return rows


if __name__ == "__main__":
    main()
