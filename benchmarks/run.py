"""Measure validate, plan and apply at scale against the simulator, and write benchmarks/RESULTS.md.

    make bench                      # the full run (a few minutes)
    .venv/bin/python benchmarks/run.py --quick     # sizes / 10, one repetition, no profile

The parts: harness.py (the simulator in its own process, a command timed to its end, pinning to
cores), scenarios.py (what is run), checks.py (request counts and the targets), profiling.py
(py-spy over the largest plan), report.py (the page). Every measurement is repeated (--repeat,
default 5) and the median run is reported: this VM's CPU speed varies between runs, and five
runs give a steadier median than three.

The machine may be shared: when the 1-minute load average is above --max-load, the run waits up
to --wait seconds for it to drop, then runs anyway, and the page says which.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from checks import targets
from profiling import profile_plan, profile_steps
from report import RunInfo, report
from scenarios import Bench

ROOT = Path(__file__).resolve().parent.parent


def wait_for_quiet(max_load: float, wait: float) -> str:
    """Wait until the 1-minute load average is at most max_load, for `wait` seconds at most."""
    load = os.getloadavg()[0]
    if load <= max_load:
        return ""
    print(f"load average {load:.2f} > {max_load}: waiting up to {wait:.0f} s", flush=True)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        time.sleep(min(15.0, max(0.0, deadline - time.monotonic())))
        now = os.getloadavg()[0]
        if now <= max_load:
            waited = wait - (deadline - time.monotonic())
            return (
                f"The load was {load:.2f} at first; the run waited {waited:.0f} s for it to drop."
            )
    now = os.getloadavg()[0]
    if wait:
        return (
            f"The load was {load:.2f} at first and still {now:.2f} after waiting {wait:.0f} s: "
            "the run went ahead on a busy machine."
        )
    return f"The load was {load:.2f}, above {max_load}: the run went ahead on a busy machine."


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Sizes / 10, one repetition.")
    parser.add_argument("--repeat", type=int, default=None, help="Runs per measurement.")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--no-profile", action="store_true", help="Skip the profile.")
    parser.add_argument("--max-load", type=float, default=1.5, help="A quiet machine's load.")
    parser.add_argument(
        "--wait", type=float, default=None, help="Seconds to wait for it (600; 0 with --quick)."
    )
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 5
    if args.wait is None:
        args.wait = 0.0 if args.quick else 600.0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    divisor = 10 if args.quick else 1
    local = [2_500 // divisor, 5_000 // divisor, 10_000 // divisor]
    vs_naive = [250 // divisor, 500 // divisor, 1_000 // divisor]
    load_note = wait_for_quiet(args.max_load, args.wait)
    started = datetime.now(UTC)
    load = os.getloadavg()
    clock = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as folder:
        bench = Bench(args.repeat, Path(folder))
        bench.calibrate(local[-1], 10)
        bench.local(local, 10)
        bench.latency_plan(local, 10, 0.050)
        bench.versus_naive(vs_naive, 10, 0.010)
        if not args.quick and not args.no_profile:
            profile_plan(bench, local[-1], 10)
            for latency in (0.050, 0.0):
                profile_steps(bench, local[-1], 10, latency)
        results = bench.results
        targets(results, f"{local[-1]:,} x 10", args.quick)
        info = RunInfo(args.quick, args.repeat, started, load, time.perf_counter() - clock)
        info.load_note = load_note
        text = report(results, info)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    for check in results.checks:
        mark = "info" if check.met is None else "ok  " if check.met else "MISS"
        print(f"{mark} {check.target}: {check.measured}")
    return 1 if results.problems else 0


if __name__ == "__main__":
    sys.exit(main())
