"""Run every benchmark in one go: ``make bench`` (or ``python benchmarks/run.py [NAME...]``).

Each ``benchmarks/bench_<name>.py`` has a ``main(argv)`` that measures the bridge
side by side, in the same run, with the tool a user would otherwise use
(acryl-datahub's emitters, or a floor like ``json.loads``) and prints ratios.
Absolute times on shared machines are noise; the ratios are the result.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(HERE.parent))
    sys.path.insert(0, str(HERE))
    names = argv or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(f"bench_{name}")
        module.main([])
        print(f"({name}: {time.perf_counter() - started:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
