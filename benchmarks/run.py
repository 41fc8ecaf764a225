"""Run every benchmark module in one process and print the figures as ratios.

    python benchmarks/run.py            # full sizes
    python benchmarks/run.py --quick    # smaller sizes, for a smoke run

Figures also go to reports/benchmarks.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pathlib
import platform
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import Figure  # noqa: E402


def _fmt(seconds: float, unit: str) -> str:
    if unit != "s/op":
        return f"{seconds:,.1f} {unit}"
    for scale, name in ((1, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")):
        if seconds >= scale:
            return f"{seconds / scale:,.2f} {name}"
    return f"{seconds / 1e-9:,.2f} ns"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("only", nargs="*", help="bench module names to run")
    args = parser.parse_args()
    modules = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if args.only:
        modules = [m for m in modules if any(o in m for o in args.only)]
    figures: list[Figure] = []
    for name in modules:
        module = importlib.import_module(name)
        print(f"== {name}", flush=True)
        for fig in module.run(quick=args.quick):
            figures.append(fig)
            ratio = f"{fig.ratio:,.1f}x vs {fig.peer}" if fig.ratio is not None else ""
            mark = "ok  " if fig.ok else "MISS"
            theirs = f" (theirs {_fmt(fig.theirs, fig.unit)})" if fig.theirs else ""
            print(
                f"  {mark} #{fig.issue} {fig.workload}: {_fmt(fig.ours, fig.unit)}"
                f"{theirs} {ratio}  [target: {fig.target}]",
                flush=True,
            )
    out = HERE.parent / "reports" / "benchmarks.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "python": sys.version,
                "machine": platform.machine(),
                "figures": [f.as_dict() for f in figures],
            },
            indent=2,
        )
    )
    missed = [f for f in figures if not f.ok]
    print(f"\n{len(figures) - len(missed)}/{len(figures)} figures meet their targets")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
