"""A profile of `plan` on the largest account: py-spy over every thread, else cProfile.

Also usable on its own, to look at one plan more closely:

    .venv/bin/python benchmarks/profiling.py --personas 10000 --latency 0.05 [--idle]

`--idle` keeps the samples of threads that wait (on a socket, on a lock): with it the profile
shows where the wall time goes, without it where the CPU time goes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

from scenarios import Bench

RATE = 500  # samples per second


def py_spy_command(py_spy: str, out: Path, command: list[str], idle: bool) -> list[str]:
    mode = ["--idle"] if idle else ["--gil"]
    return [
        py_spy,
        "record",
        *mode,
        "--format",
        "raw",
        "-r",
        str(RATE),
        "-o",
        str(out),
        "--",
        *command,
    ]


def profile_plan(
    bench: Bench, personas: int, numbers_each: int, latency: float = 0.0, idle: bool = False
) -> None:
    """Sample `plan` of a 1% drift account into bench.results.profile."""
    results = bench.results
    _, state_path, config_path = bench.account(personas, numbers_each, 0.01, "profile")
    sim = bench.simulator(state_path)
    try:
        if latency:
            sim.latency(latency)
        py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which(
            "py-spy"
        )
        out = bench.workdir / "profile.txt"
        plan = [*bench.cli, "plan", str(config_path)]
        if py_spy:
            command = py_spy_command(py_spy, out, plan, idle)
            results.profile_tool = (
                f"py-spy --idle (all threads, waiting included, so wall time; {RATE} "
                "samples/s; self time by function)"
                if idle
                else f"py-spy --gil (all threads, samples of the thread holding the GIL, so "
                f"Python CPU work and not waiting; {RATE} samples/s; self time by function)"
            )
        else:
            command = [sys.executable, "-m", "cProfile", "-o", str(out), *plan[1:]]
            results.profile_tool = "cProfile (main thread only; pip install py-spy for all)"
        run = bench.once(command, sim)
        if run.code != 0:
            results.problems.append(f"profile run exited {run.code}: {run.output[-500:]}")
            return
        results.profile = read_py_spy(out) if py_spy else read_cprofile(out)
    finally:
        sim.stop()


def _short(frame: str) -> str:
    """`func (path/to/module.py:12)` -> `module.py:func`."""
    name, _, where = frame.rpartition(" (")
    file = where.split(":")[0].rsplit("/", 1)[-1]
    return f"{file}:{name}"


def read_py_spy(path: Path, top: int = 15) -> list[tuple[str, float]]:
    self_samples: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        total += int(count)
        self_samples[_short(frames[-1])] += int(count)
    return [(name, 100 * count / total) for name, count in self_samples.most_common(top)]


def read_cprofile(path: Path) -> list[tuple[str, float]]:
    import pstats

    stats = pstats.Stats(str(path))
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(value[2] for value in entries.values()) or 1.0
    ranked = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:15]
    return [
        (f"{Path(file).name}:{name}", 100 * value[2] / total) for (file, _, name), value in ranked
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--personas", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.0, help="Seconds per request.")
    parser.add_argument("--idle", action="store_true", help="Count waiting threads too.")
    parser.add_argument("--keep", type=Path, help="Copy the raw samples here.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reconciler-profile-") as folder:
        bench = Bench(1, Path(folder))
        profile_plan(bench, args.personas, 10, args.latency, args.idle)
        if args.keep and (bench.workdir / "profile.txt").exists():
            shutil.copy(bench.workdir / "profile.txt", args.keep)
    print(bench.results.profile_tool)
    for problem in bench.results.problems:
        print(problem)
    for name, share in bench.results.profile:
        print(f"{share:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
