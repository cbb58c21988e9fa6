"""OpenLineage JSON bytes -> DataHub MCPs: events per second, beside the floors.

``python benchmarks/bench_translate.py [--repeat N] [--quick]``

Rows (same run, same corpus of 74 real events repeated N times):

* ``json.loads`` -- decoding the bytes, the floor any Python consumer pays;
* ``parse_event`` -- decoded JSON -> neutral model (translators.openlineage);
* ``translate`` -- neutral model -> MCP objects (the DataHub translator alone);
* ``bridge: bytes -> MCPs`` -- json.loads + parse_event + translate + every
  MCP serialised both ways: ``to_obj()`` (file form) and the GMS
  ``ingestProposal`` request body (``json.dumps({"proposal": mcp.to_gms()})``,
  which carries ``aspect_json``): the whole per-event CPU cost of the bridge;
* ``bridge: bytes -> MCPs -> REST body`` -- the same, but only the request
  body the REST emitter sends (``emitters.rest.batching``): the per-event CPU
  of ``bridge serve``'s delivery child with a REST sink;
* ``acryl-datahub: serialise same MCPs`` -- acryl-datahub has no Python
  OpenLineage converter (DataHub's is Java, inside GMS), so the closest
  comparison is its SDK turning the *same* MCPs (typed aspect classes, built
  outside the timing) into the same GMS request body, exactly as
  ``DatahubRestEmitter.emit_mcp`` does -- only part of the bridge row's work.

Ratios are "times the cost of json.loads" and "acryl-datahub time / ours"
(above 1 means the bridge does the whole job faster than DataHub serialises).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from collections.abc import Callable

ROOT = pathlib.Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus" / "openlineage"


def _best(fn: Callable[[], object], rounds: int) -> float:
    """Best wall time of ``rounds`` runs (the machine is shared; the minimum is the stable figure)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20, help="times the corpus is repeated per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best is reported")
    parser.add_argument("--quick", action="store_true", help="small run (smoke test)")
    args = parser.parse_args(argv if argv is not None else [])
    if args.quick:
        args.repeat, args.rounds = 2, 2

    from datahub.emitter.mcp import MetadataChangeProposalWrapper as DataHubMCPW
    from datahub.emitter.rest_emitter import preserve_unicode_escapes
    from datahub.emitter.serialization_helper import pre_json_transform

    from emitters.rest.batching import encode, single_body
    from translators.datahub import DataHubTranslator
    from translators.openlineage import parse_event

    corpus = [p.read_bytes() for p in sorted(CORPUS.rglob("*.json"))]
    blobs = corpus * args.repeat
    n = len(blobs)
    translator = DataHubTranslator()

    def floor() -> None:
        for b in blobs:
            json.loads(b)

    decoded = [json.loads(b) for b in blobs]

    def parse_only() -> None:
        for d in decoded:
            parse_event(d)

    events = [parse_event(d) for d in decoded]

    def translate_only() -> None:
        for ev in events:
            translator.translate(ev)

    counter = {"mcps": 0}

    def bridge() -> None:
        count = 0
        for b in blobs:
            for mcp in translator.translate(parse_event(json.loads(b))):
                mcp.to_obj()
                json.dumps({"proposal": mcp.to_gms(), "async": "false"})
                count += 1
        counter["mcps"] = count

    def bridge_rest() -> None:
        # What the delivery child of `bridge serve` does per event with the REST emitter.
        for b in blobs:
            for mcp in translator.translate(parse_event(json.loads(b))):
                single_body(encode(mcp), False)

    # acryl-datahub's typed MCPs for the same output (built outside the timing).
    theirs = [
        DataHubMCPW.from_obj(m.to_obj())
        for b in corpus
        for m in translator.translate(parse_event(json.loads(b)))
    ]
    theirs = theirs * args.repeat

    def datahub_serialise() -> None:
        # DatahubRestEmitter.emit_mcp's request body for one proposal.
        for mcp in theirs:
            obj = preserve_unicode_escapes(pre_json_transform(mcp.to_obj()))
            json.dumps({"proposal": obj, "async": "false"})

    t_floor = _best(floor, args.rounds)
    t_parse = _best(parse_only, args.rounds)
    t_translate = _best(translate_only, args.rounds)
    t_bridge = _best(bridge, args.rounds)
    t_rest = _best(bridge_rest, args.rounds)
    t_dh = _best(datahub_serialise, args.rounds)
    mcps = counter["mcps"]

    print(
        f"corpus: {len(corpus)} events x {args.repeat} = {n} events, {mcps} MCPs ({mcps / n:.1f} per event)"
    )
    print(f"{'path':42} {'events/s':>10} {'µs/event':>9} {'x json.loads':>13}")
    for label, seconds in (
        ("json.loads (floor)", t_floor),
        ("parse_event (decoded JSON -> model)", t_parse),
        ("translate (model -> MCP objects)", t_translate),
        ("bridge: bytes -> MCPs -> file + GMS JSON", t_bridge),
        ("bridge: bytes -> MCPs -> REST body", t_rest),
        ("acryl-datahub: same MCPs -> GMS JSON", t_dh),
    ):
        print(f"{label:42} {n / seconds:10,.0f} {seconds / n * 1e6:9.1f} {seconds / t_floor:13.2f}")
    print(f"ratio acryl-datahub (serialising only) / bridge (whole path): {t_dh / t_bridge:.2f}x")
    print(
        "note: acryl-datahub has no Python OpenLineage -> MCP converter; its row only serialises the same MCPs."
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main(sys.argv[1:])
