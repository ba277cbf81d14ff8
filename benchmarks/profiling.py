"""A profile of `plan` on the largest account: py-spy over every thread, else cProfile.

Also usable on its own, to look at one plan more closely:

    .venv/bin/python benchmarks/profiling.py --personas 10000 --latency 0.05 [--idle]

Without `--idle`: where the CPU time goes, self time by function over every thread (py-spy
--gil). With it: where the wall time goes, step by step on the main thread (py-spy --idle keeps
the samples of a thread that waits on a socket or a lock).
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


def _py_spy() -> str | None:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


def sample_plan(
    bench: Bench, personas: int, numbers_each: int, latency: float, idle: bool, drift: float
) -> Path | None:
    """`plan` run under py-spy (cProfile without it): the raw samples."""
    _, state_path, config_path = bench.account(personas, numbers_each, drift, "profile")
    sim = bench.simulator(state_path)
    try:
        if latency:
            sim.latency(latency)
        py_spy = _py_spy()
        out = bench.workdir / ("profile-idle.txt" if idle else "profile.txt")
        plan = [*bench.cli, "plan", str(config_path)]
        if py_spy:
            command = py_spy_command(py_spy, out, plan, idle)
        else:
            command = [sys.executable, "-m", "cProfile", "-o", str(out), *plan[1:]]
        run = bench.once(command, sim)
        if run.code != 0:
            bench.results.problems.append(f"profile run exited {run.code}: {run.output[-500:]}")
            return None
        return out
    finally:
        sim.stop()


def profile_plan(bench: Bench, personas: int, numbers_each: int, latency: float = 0.0) -> None:
    """Where the CPU time of `plan` (1% drift) goes, self time by function: into the results."""
    results = bench.results
    out = sample_plan(bench, personas, numbers_each, latency, idle=False, drift=0.01)
    if out is None:
        return
    if _py_spy() is None:
        results.profile_tool = "cProfile (main thread only; pip install py-spy for all)"
        results.profile = read_cprofile(out)
        return
    results.profile_tool = (
        f"py-spy --gil (all threads, samples of the thread holding the GIL, so Python CPU "
        f"work and not waiting; {RATE} samples/s; self time by function)"
    )
    results.profile = read_py_spy(out)


# The steps of `plan` on its main thread, each known by a function on the stack; the innermost
# one found names the step, so the steps do not overlap.
STEPS = {
    "load.py:load_config": "reading and checking the config",
    "client.py:BlandClient.list_personas": (
        "listing the personas (waiting for pages, checking them)"
    ),
    "owner_reads.py:read_account": (
        "the rest of reading the account (GET /v1/inbound, GET /v2/agents, reads by number)"
    ),
    "core.py:make_plan": "planning (diff, safety, findings)",
}
OTHER_STEP = "start-up, imports, rendering, the rest"


def profile_steps(bench: Bench, personas: int, numbers_each: int, latency: float) -> None:
    """Where the wall time of a converged `plan` goes, step by step on its main thread."""
    if _py_spy() is None:
        return
    out = sample_plan(bench, personas, numbers_each, latency, idle=True, drift=0.0)
    if out is not None:
        bench.results.steps[latency] = read_steps(out)


def read_steps(path: Path) -> list[tuple[str, float]]:
    """Seconds of main-thread samples per step (py-spy's own overhead included)."""
    seconds: dict[str, float] = dict.fromkeys([*STEPS.values(), OTHER_STEP], 0.0)
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit() or stack.startswith("Thread._bootstrap "):
            continue  # not a sample, or a worker thread's
        frames = [_short(frame) for frame in reversed(stack.split(";"))]
        step = next((STEPS[frame] for frame in frames if frame in STEPS), OTHER_STEP)
        seconds[step] += int(count) / RATE
    return list(seconds.items())


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
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--personas", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.0, help="Seconds per request.")
    parser.add_argument("--idle", action="store_true", help="Wall time by step, not CPU.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reconciler-profile-") as folder:
        bench = Bench(1, Path(folder))
        if args.idle:
            profile_steps(bench, args.personas, 10, args.latency)
        else:
            profile_plan(bench, args.personas, 10, args.latency)
    for problem in bench.results.problems:
        print(problem)
    if args.idle:
        for step, seconds in bench.results.steps[args.latency]:
            print(f"{seconds:6.2f} s  {step}")
        return 0
    print(bench.results.profile_tool)
    for name, share in bench.results.profile:
        print(f"{share:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
