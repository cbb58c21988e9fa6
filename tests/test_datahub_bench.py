"""The translation benchmark runs and reports every row (smoke test, no timing assertions)."""

from __future__ import annotations

import importlib.util
import pathlib

BENCH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "bench_translate.py"


def test_bench_translate_quick(capsys):
    spec = importlib.util.spec_from_file_location("bench_translate", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--quick"])
    out = capsys.readouterr().out
    for row in (
        "json.loads (floor)",
        "parse_event",
        "bridge: bytes -> MCPs",
        "floor: the same file form, built and written by C",
        "acryl-datahub: same MCPs -> GMS JSON",
        "whole path (bytes -> file form) / floor",
    ):
        assert row in out
    assert "74 events x 2 = 148 events" in out
