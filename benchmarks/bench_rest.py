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

import _workload as workload

__all__ = ["main", "run"]


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

    triples = workload.aspects(n)
    single = triples[:single_n]
    rows: list[dict[str, Any]] = []
    with GmsProcess(store=False) as server:
        ours = RestEmitter(gms_server=server.url)
        ours_bg = RestEmitter(gms_server=server.url, delivery="background", linger_ms=2)
        theirs = DatahubRestEmitter(server.url, openapi_ingestion=False)
        ours.test_connection()
        theirs.test_connection()
        # Warm both connection pools and code paths.
        ours.emit_many(workload.ours(triples[:50]))
        theirs.emit_mcps(workload.theirs(triples[:50]))

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

        best("single emit", "lineage-bridge", single_n, lambda: workload.ours(single), ours_single)
        best("single emit", "acryl-datahub", single_n, lambda: workload.theirs(single), theirs_single)
        best("batch emit_mcps", "lineage-bridge", n, lambda: workload.ours(triples), ours.emit_many)
        best("batch emit_mcps", "acryl-datahub", n, lambda: workload.theirs(triples), theirs.emit_mcps)
        best("emit, background delivery", "lineage-bridge", n, lambda: workload.ours(triples), ours_background)
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
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
