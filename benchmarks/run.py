"""Measure validate, plan and apply at scale against the simulator, and write docs/benchmarks.md.

    make bench                      # the full run (a few minutes)
    .venv/bin/python benchmarks/run.py --quick     # sizes / 10, one repetition, no profile

Each account is generated (benchmarks/accounts.py) and served by `reconciler simulator` in its
own process, so it never shares the client's interpreter or GIL. On a machine with two or more
cores the CLI is pinned to core 0 and the simulator to core 1. The CLI runs as a subprocess:
wall time around it, CPU time and peak RSS from os.wait4's rusage, reads and writes from the
simulator's request log (GET /_sim/log), the simulator's own CPU time from /proc/PID/stat.
Every measurement is repeated (--repeat, default 5) and the median run is reported: this VM's
CPU speed varies between runs, and five runs give a steadier median than three.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accounts

ROOT = Path(__file__).resolve().parent.parent
NAIVE = Path(__file__).resolve().parent / "naive.py"
NOTES = Path(__file__).resolve().parent / "NOTES.md"
PAGE_LIMIT = 100
TWO_CORES = len(os.sched_getaffinity(0)) >= 2
CLI_CORE, SIM_CORE = 0, 1


def _pin(core: int) -> Callable[[], None] | None:
    if not TWO_CORES:
        return None
    cores = sorted(os.sched_getaffinity(0))
    return lambda: os.sched_setaffinity(0, {cores[core]})


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class SimulatorProcess:
    """`reconciler simulator` in a child process, driven through its /_sim control endpoints."""

    def __init__(self, state_path: Path, key: str, workdir: Path) -> None:
        ready = workdir / f"ready-{secrets.token_hex(4)}"
        self.log_file = (workdir / "simulator.log").open("ab")
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "reconciler", "simulator", "--state", str(state_path)),
                *("--port", "0", "--ready-file", str(ready)),
            ],
            env={**os.environ, "BLAND_API_KEY": key},
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=_pin(SIM_CORE),
        )
        deadline = time.monotonic() + 60
        while not (ready.exists() and ready.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not start (see {workdir}/simulator.log)")
            time.sleep(0.05)
        self.url = ready.read_text().strip()
        self.control = httpx.Client(base_url=self.url, headers={"authorization": key}, timeout=120)

    def cpu(self) -> float:
        return _proc_cpu(self.process.pid)

    def post(self, path: str, body: Any) -> Any:
        response = self.control.post(path, content=json.dumps(body))
        response.raise_for_status()
        return response.json()

    def load(self, state: dict[str, Any]) -> None:
        self.post("/_sim/state", state)

    def latency(self, seconds: float) -> None:
        self.post("/_sim/faults", {"latency": seconds})

    def clear_log(self) -> None:
        self.post("/_sim/log/clear", {})

    def requests(self) -> list[dict[str, Any]]:
        response = self.control.get("/_sim/log")
        response.raise_for_status()
        requests: list[dict[str, Any]] = response.json()["requests"]
        return requests

    def stop(self) -> None:
        self.control.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log_file.close()


@dataclass
class Measured:
    """One subprocess run and the requests it made."""

    wall: float
    cpu: float
    rss_mb: float
    code: int
    sim_cpu: float
    requests: list[dict[str, Any]]
    output: str

    @property
    def reads(self) -> int:
        return sum(r["kind"] == "read" for r in self.requests)

    @property
    def writes(self) -> int:
        return sum(r["kind"] == "write" for r in self.requests)

    def pages(self, requests: list[dict[str, Any]] | None = None) -> list[int]:
        """The page numbers of GET /v1/personas in these requests (all by default)."""
        return [
            int(r["query"].get("page", 1))
            for r in (self.requests if requests is None else requests)
            if r["method"] == "GET" and r["path"] == "/v1/personas"
        ]

    def split_at_first_write(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Requests before the first write (the plan) and from it on (writes, verification)."""
        for index, request in enumerate(self.requests):
            if request["kind"] == "write":
                return self.requests[:index], self.requests[index:]
        return self.requests, []

    @property
    def errors(self) -> int:
        return sum(not 200 <= r["status"] < 300 for r in self.requests)


def measure(command: Sequence[str], env: dict[str, str], sim: SimulatorProcess | None) -> Measured:
    """Run a command to its end; wall time, rusage of that one child, and the simulator's log."""
    if sim is not None:
        sim.clear_log()
        sim_before = sim.cpu()
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, preexec_fn=_pin(CLI_CORE)
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    sim_cpu = sim.cpu() - sim_before if sim is not None else 0.0
    return Measured(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        code=process.returncode,
        sim_cpu=sim_cpu,
        requests=sim.requests() if sim is not None else [],
        output=text,
    )


def median_run(runs: list[Measured]) -> Measured:
    ordered = sorted(runs, key=lambda run: run.wall)
    return ordered[len(ordered) // 2]


@dataclass
class Row:
    """One line of a results table."""

    scenario: str
    size: str
    run: Measured
    extra: dict[str, str] = field(default_factory=dict)
    walls: list[float] = field(default_factory=list)


@dataclass
class Check:
    """One target of the issue and whether it held."""

    target: str
    measured: str
    met: bool


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.key = "bench-" + secrets.token_hex(8)
        self.rows: list[Row] = []
        self.checks: list[Check] = []
        self.problems: list[str] = []
        self.profile: list[tuple[str, float]] = []
        self.profile_tool = ""
        self.calibration = ""
        self.cli = [sys.executable, "-m", "reconciler"]
        self.ratios: dict[int, float] = {}  # personas -> naive wall / our wall
        self.plan_checks: list[bool] = []
        self.plan_overshoot: list[int] = []  # pages requested past the last one needed
        self.apply_checks: list[tuple[str, str, bool]] = []
        # (size, personas, plan reads, verify reads) of the 15% drift apply of the largest size.
        self.whole_apply: tuple[str, int, int, int] | None = None
        self.last_runs: list[Measured] = []  # every repetition of the last repeat()
        self.skew_checks: list[tuple[str, bool]] = []

    # -- plumbing -------------------------------------------------------------------------

    def env(self, sim: SimulatorProcess | None) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if name not in ("BLAND_API_KEY_FILE", "BLAND_TIMEOUT", "BLAND_API_URL")
        }
        env["BLAND_API_KEY"] = self.key
        env["NO_COLOR"] = "1"
        if sim is not None:
            env["BLAND_API_URL"] = sim.url
        return env

    def repeat(
        self,
        command: Sequence[str],
        sim: SimulatorProcess | None,
        before: Callable[[], None] | None = None,
        expect: Sequence[int] = (0,),
    ) -> tuple[Measured, list[float]]:
        runs = []
        for _ in range(self.args.repeat):
            if before is not None:
                before()
            run = measure(command, self.env(sim), sim)
            if run.code not in expect:
                raise RuntimeError(f"{' '.join(command)} exited {run.code}:\n{run.output[-2000:]}")
            runs.append(run)
        self.last_runs = runs
        return median_run(runs), [run.wall for run in runs]

    def account(
        self, personas: int, numbers_each: int, drift: float, stem: str
    ) -> tuple[accounts.Account, Path, Path]:
        account = accounts.build(personas, numbers_each, drift)
        state_path, config_path = accounts.write(account, self.workdir, stem)
        return account, state_path, config_path

    def note(self, text: str) -> None:
        print(text, flush=True)

    # -- scenarios ------------------------------------------------------------------------

    def local(self, sizes: list[int], numbers_each: int) -> None:
        """Zero latency: validate, plan (converged and 1% drift), apply of the 1% drift."""
        for personas in sizes:
            size = f"{personas:,} x {numbers_each}"
            account, state_path, config_path = self.account(personas, numbers_each, 0.0, "local")
            drifted, _, _ = self.account(personas, numbers_each, 0.01, "local-drift")
            sim = SimulatorProcess(state_path, self.key, self.workdir)
            try:
                run, walls = self.repeat([*self.cli, "validate", str(config_path)], None)
                self.rows.append(Row("validate", size, run, walls=walls))
                self.note(f"validate {size}: {run.wall:.2f}s")

                sim.load(account.state)
                run, walls = self.repeat([*self.cli, "plan", str(config_path)], sim)
                self.check_plan_reads(run, personas + 1, f"plan converged {size}")
                self.rows.append(Row("plan, converged", size, run, self.page_extra(run), walls))
                self.note(f"plan converged {size}: {run.wall:.2f}s")

                sim.load(drifted.state)
                run, walls = self.repeat([*self.cli, "plan", str(config_path)], sim)
                self.check_plan_reads(run, personas + 1, f"plan 1% drift {size}")
                self.rows.append(Row("plan, 1% drift", size, run, self.page_extra(run), walls))
                self.note(f"plan 1% drift {size}: {run.wall:.2f}s")

                run, walls = self.repeat(
                    [*self.cli, "apply", "--auto-approve", str(config_path)],
                    sim,
                    before=partial(sim.load, drifted.state),
                )
                self.check_apply(run, drifted, f"apply 1% drift {size}")
                self.rows.append(Row("apply, 1% drift", size, run, self.apply_extra(run), walls))
                self.note(f"apply 1% drift {size}: {run.wall:.2f}s")

                again = measure(
                    [*self.cli, "apply", "--auto-approve", str(config_path)], self.env(sim), sim
                )
                self.check(
                    f"a second apply ({size}) makes zero writes",
                    f"{again.writes} writes, {again.reads} reads",
                    again.code == 0 and again.writes == 0,
                )
            finally:
                sim.stop()

    def latency_plan(self, sizes: list[int], numbers_each: int, latency: float) -> None:
        for personas in sizes:
            size = f"{personas:,} x {numbers_each}"
            _, state_path, config_path = self.account(personas, numbers_each, 0.0, "lat")
            sim = SimulatorProcess(state_path, self.key, self.workdir)
            try:
                sim.latency(latency)
                run, walls = self.repeat([*self.cli, "plan", str(config_path)], sim)
                self.check_plan_reads(run, personas + 1, f"plan at {latency * 1000:.0f} ms {size}")
                extra = self.page_extra(run)
                extra["serial time"] = f"{(run.reads * latency):.1f}s"
                self.rows.append(
                    Row(f"plan, {latency * 1000:.0f} ms latency", size, run, extra, walls)
                )
                self.note(f"plan {latency * 1000:.0f} ms {size}: {run.wall:.2f}s")
            finally:
                sim.stop()

    def versus_naive(self, sizes: list[int], numbers_each: int, latency: float) -> None:
        for personas in sizes:
            size = f"{personas:,} x {numbers_each}"
            account, state_path, config_path = self.account(personas, numbers_each, 0.15, "vs")
            sim = SimulatorProcess(state_path, self.key, self.workdir)
            try:
                sim.latency(latency)
                reset = partial(sim.load, account.state)
                ours, our_walls = self.repeat(
                    [*self.cli, "apply", "--auto-approve", str(config_path)], sim, before=reset
                )
                our_runs = self.last_runs
                self.check_apply(
                    ours, account, f"apply 15% drift at {latency * 1000:.0f} ms {size}"
                )
                naive, naive_walls = self.repeat(
                    [sys.executable, str(NAIVE), str(config_path)], sim, before=reset
                )
                ratio = naive.wall / ours.wall
                label = f"apply, 15% drift, {latency * 1000:.0f} ms"
                extra = self.apply_extra(ours)
                extra["naive / ours"] = f"{ratio:.1f}x"
                self.rows.append(Row(label, size, ours, extra, our_walls))
                self.rows.append(
                    Row(
                        f"naive peer, {latency * 1000:.0f} ms",
                        size,
                        naive,
                        {"calls": f"{naive.writes} attach"},
                        naive_walls,
                    )
                )
                self.note(f"apply vs naive {size}: {ours.wall:.2f}s vs {naive.wall:.2f}s")
                self.ratios[personas] = ratio
                if personas == sizes[-1]:
                    # Read-ahead depends on timing: the bound must hold in every repetition.
                    phases = [self.split_phase(run) for run in our_runs]
                    plan_reads, verify_reads = max(
                        (
                            (
                                sum(r["kind"] == "read" for r in plan_phase),
                                sum(r["kind"] == "read" for r in verify_phase),
                            )
                            for plan_phase, verify_phase in phases
                        ),
                        key=sum,
                    )
                    self.whole_apply = (size, personas, plan_reads, verify_reads)
                    self.skewed_apply(sim, account, config_path, size)
                    # The write phase is bound by --parallelism (default 4, kept low because
                    # the API publishes no rate limit): show what doubling it buys.
                    wider, wider_walls = self.repeat(
                        [
                            *self.cli,
                            "apply",
                            "--auto-approve",
                            "--parallelism",
                            "8",
                            str(config_path),
                        ],
                        sim,
                        before=reset,
                    )
                    self.check_apply(wider, account, f"apply --parallelism 8 {size}")
                    extra = self.apply_extra(wider)
                    extra["naive / ours"] = f"{naive.wall / wider.wall:.1f}x"
                    self.rows.append(
                        Row(f"{label}, --parallelism 8", size, wider, extra, wider_walls)
                    )
            finally:
                sim.stop()

    def skewed_apply(
        self, sim: SimulatorProcess, account: accounts.Account, config_path: Path, size: str
    ) -> None:
        """The same apply while a declared number moves from a page-1 persona to the last page's
        pool between two page reads: the list shows it on both, and the two are read by id."""
        moved = account.state["personas"][1]["numbers"][0]  # on page 1, declared there

        def reset_and_skew() -> None:
            sim.load(account.state)
            move = {"number": moved, "to_persona": accounts.UNMANAGED_ID, "after_page": 1}
            sim.post("/_sim/faults", {"move_during_listing": move})

        run, walls = self.repeat(
            [*self.cli, "apply", "--auto-approve", str(config_path)], sim, before=reset_and_skew
        )
        plan, _ = self.split_phase(run)
        by_id = [r for r in plan if r["method"] == "GET" and r["path"].startswith("/v1/personas/")]
        extra = self.apply_extra(run)
        extra["reads by id"] = str(len(by_id))
        self.rows.append(
            Row("apply, 15% drift, 10 ms, a move between page reads", size, run, extra, walls)
        )
        ok = (
            run.code == 0
            and "Apply complete" in run.output
            and f"{moved} was listed on" in run.output
            and len(by_id) == 2
        )
        self.skew_checks.append(
            (
                f"{size}: {len(by_id)} reads by id; plan pass {extra['plan reads']}, verification "
                f"{extra['verify reads']}",
                ok,
            )
        )
        if not ok:
            self.problems.append(f"skewed apply {size}:\n{run.output[-1500:]}")

    # -- request-count checks -------------------------------------------------------------

    @staticmethod
    def pages_needed(personas: int) -> int:
        # The listing ends at the first short page; a multiple of the limit needs an empty one.
        return personas // PAGE_LIMIT + 1

    def page_extra(self, run: Measured) -> dict[str, str]:
        pages = run.pages()
        return {"pages": f"{len(pages)}", "inbound": f"{self.inbound(run.requests)}"}

    @staticmethod
    def inbound(requests: list[dict[str, Any]]) -> int:
        return sum(r["path"] == "/v1/inbound" for r in requests)

    def check_plan_reads(self, run: Measured, personas: int, what: str) -> None:
        pages = run.pages()
        needed = self.pages_needed(personas)
        ok = (
            run.reads == len(pages) + 1
            and self.inbound(run.requests) == 1
            and len(set(pages)) == len(pages)
            and set(range(1, needed + 1)) <= set(pages)
            and run.errors == 0
        )
        self.plan_overshoot.append(len(pages) - needed)
        if not ok:
            self.problems.append(f"{what}: {run.reads} reads, pages {sorted(pages)}")
        self.plan_checks.append(ok)

    def apply_extra(self, run: Measured) -> dict[str, str]:
        plan, after = self.split_phase(run)
        return {
            "plan reads": str(sum(r["kind"] == "read" for r in plan)),
            "verify reads": str(sum(r["kind"] == "read" for r in after)),
        }

    @staticmethod
    def split_phase(run: Measured) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return run.split_at_first_write()

    def check_apply(self, run: Measured, account: accounts.Account, what: str) -> None:
        plan, after = self.split_phase(run)
        plan_reads = sum(r["kind"] == "read" for r in plan)
        verify_reads = sum(r["kind"] == "read" for r in after)
        attaches = sum(r["path"].endswith("/attach") for r in after)
        detaches = sum(r["path"].endswith("/detach") for r in after)
        ok = (
            run.code == 0
            and run.errors == 0
            and attaches == account.gaining
            and detaches == account.losing
            and verify_reads <= plan_reads
            and "Apply complete" in run.output
        )
        self.apply_checks.append(
            (
                what,
                f"{attaches}+{detaches} writes for {account.gaining}+{account.losing} "
                f"personas; verify {verify_reads} <= plan {plan_reads} reads",
                ok,
            )
        )
        if not ok:
            self.problems.append(f"{what}: {self.apply_checks[-1][1]}\n{run.output[-1500:]}")

    def check(self, target: str, measured: str, met: bool) -> None:
        self.checks.append(Check(target, measured, met))

    # -- the simulator's own limit --------------------------------------------------------

    def calibrate(self, personas: int, numbers_each: int) -> None:
        """Requests per second the simulator serves for list pages, with 16 connections."""
        _, state_path, _ = self.account(personas, numbers_each, 0.0, "calibrate")
        sim = SimulatorProcess(state_path, self.key, self.workdir)
        try:
            script = (
                "import httpx, os, sys, time\n"
                "from concurrent.futures import ThreadPoolExecutor\n"
                "url, key, pages = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
                "c = httpx.Client(base_url=url, headers={'authorization': key},\n"
                "    limits=httpx.Limits(max_connections=16))\n"
                "get = lambda p: c.get('/v1/personas', params={'page': p, 'limit': 100})\n"
                "with ThreadPoolExecutor(16) as pool:\n"
                "    list(pool.map(get, [1 + i % pages for i in range(400)]))\n"
            )
            pages = max(1, personas // PAGE_LIMIT)
            before = sim.cpu()
            run = measure(
                [sys.executable, "-c", script, sim.url, self.key, str(pages)], self.env(sim), sim
            )
            busy = sim.cpu() - before
            served = len(run.requests)
            self.calibration = (
                f"Calibration: 16 concurrent connections fetching full pages of 100 personas "
                f"x {numbers_each} numbers got {served} pages in {run.wall:.2f} s "
                f"({served / run.wall:.0f} pages/s); the simulator used {busy:.2f} s of CPU, "
                f"{busy / served * 1000:.1f} ms per page."
            )
        finally:
            sim.stop()

    # -- profile --------------------------------------------------------------------------

    def profile_plan(self, personas: int, numbers_each: int) -> None:
        """Sample every thread of `plan` on the largest account with py-spy, else cProfile."""
        _, state_path, config_path = self.account(personas, numbers_each, 0.01, "profile")
        sim = SimulatorProcess(state_path, self.key, self.workdir)
        try:
            py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which(
                "py-spy"
            )
            out = self.workdir / "profile.txt"
            if py_spy:
                command = [
                    py_spy,
                    "record",
                    "--gil",
                    "--format",
                    "raw",
                    "-r",
                    "500",
                    "-o",
                    str(out),
                    "--",
                    *self.cli,
                    "plan",
                    str(config_path),
                ]
                self.profile_tool = (
                    "py-spy --gil (all threads, samples of the thread holding the GIL, so "
                    "Python CPU work and not waiting; 500 samples/s; self time by function)"
                )
            else:
                command = [
                    sys.executable,
                    "-m",
                    "cProfile",
                    "-o",
                    str(out),
                    "-m",
                    "reconciler",
                    "plan",
                    str(config_path),
                ]
                self.profile_tool = "cProfile (main thread only; pip install py-spy for all)"
            run = measure(command, self.env(sim), sim)
            if run.code != 0:
                self.problems.append(f"profile run exited {run.code}: {run.output[-500:]}")
                return
            self.profile = _read_py_spy(out) if py_spy else _read_cprofile(out)
        finally:
            sim.stop()


def _short(frame: str) -> str:
    """`func (path/to/module.py:12)` -> `module.py:func`."""
    name, _, where = frame.rpartition(" (")
    file = where.split(":")[0].rsplit("/", 1)[-1]
    return f"{file}:{name}"


def _read_py_spy(path: Path) -> list[tuple[str, float]]:
    self_samples: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        total += int(count)
        self_samples[_short(frames[-1])] += int(count)
    return [(name, 100 * count / total) for name, count in self_samples.most_common(15)]


def _read_cprofile(path: Path) -> list[tuple[str, float]]:
    import pstats

    stats = pstats.Stats(str(path))
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(value[2] for value in entries.values()) or 1.0
    ranked = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:15]
    return [
        (f"{Path(file).name}:{name}", 100 * value[2] / total) for (file, _, name), value in ranked
    ]


# -- the report ------------------------------------------------------------------------------


def machine() -> list[str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = "unknown"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return [
        f"- CPU: {cpu}, {os.cpu_count()} logical cores (`nproc`: {len(os.sched_getaffinity(0))})",
        f"- Memory: {memory}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.platform()}",
        f"- httpx {httpx.__version__}",
    ]


def _fmt_row(row: Row, show_sim: bool = True) -> str:
    run = row.run
    spread = f"{min(row.walls):.2f}-{max(row.walls):.2f}" if len(row.walls) > 1 else ""
    extra = ", ".join(f"{key} {value}" for key, value in row.extra.items())
    sim = f"{run.sim_cpu:.2f}" if show_sim and run.requests else "-"
    return (
        f"| {row.scenario} | {row.size} | {run.wall:.2f} | {spread} | {run.cpu:.2f} | "
        f"{run.rss_mb:.0f} | {run.reads} | {run.writes} | {sim} | {extra} |"
    )


def report(
    bench: Bench,
    args: argparse.Namespace,
    started: datetime,
    load: tuple[float, ...],
    elapsed: float,
) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`benchmarks/run.py"
        + (" --quick" if args.quick else "")
        + "`); do not edit by hand: edit "
        "`benchmarks/NOTES.md` or the script and run it again.",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, {elapsed:.0f} s, {args.repeat} repetition(s) per "
        f"measurement (the median by wall time is shown, the range of wall times beside it). "
        f"Load average before the run: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} "
        f"(1 / 5 / 15 min); after: "
        + " / ".join(f"{value:.2f}" for value in os.getloadavg())
        + ". Numbers taken on a busy machine are noisy: compare runs only on a quiet one.",
        "",
        "## Machine",
        "",
        *machine(),
        "",
        "## How the numbers are taken",
        "",
        "- Accounts are synthetic (`benchmarks/accounts.py`): P managed personas with K numbers "
        "each, one unmanaged persona and spare numbers. A drifted persona lacks its last number "
        "(attach), has it held by the unmanaged persona (move), or holds a spare number "
        "(detach), the three kinds in turn.",
        "- The simulator runs in its own process (`reconciler simulator`), latency is set with "
        "`POST /_sim/faults`, the account is reset with `POST /_sim/state` before every apply.",
        "- The CLI runs as a subprocess (`python -m reconciler ...`), so every time includes "
        "interpreter start-up and imports (about 0.2-0.3 s). "
        + (
            "The CLI is pinned to one core and the simulator to another (`sched_setaffinity`)."
            if TWO_CORES
            else "This machine has one core: CLI and simulator share it."
        ),
        "- wall: elapsed time of the subprocess; CPU: its user + system time and peak RSS "
        "(`os.wait4` rusage); reads / writes: requests in the simulator's log; sim CPU: the "
        "simulator process's CPU time during the run (`/proc/PID/stat`).",
        "- The naive peer (`benchmarks/naive.py`) attaches every persona's numbers in one call "
        "per persona, in sequence, with a keep-alive connection; it never detaches.",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "| --- | --- | --- |",
        *[f"| {c.target} | {c.measured} | {'yes' if c.met else '**no**'} |" for c in bench.checks],
        "",
        "## Results",
        "",
        "| scenario | size (personas x numbers) | wall s | wall range s | CPU s | peak RSS MB "
        "| reads | writes | sim CPU s | notes |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |",
        *[_fmt_row(row) for row in bench.rows],
        "",
        "## Growth",
        "",
        "Wall time of each size divided by the one before it (sizes double, so a linear cost "
        "gives about 2; fixed start-up cost pulls it below 2).",
        "",
        "| scenario | ratios |",
        "| --- | --- |",
        *growth_lines(bench.rows),
        "",
        "## Is the simulator the bottleneck?",
        "",
        "No, when the sim CPU column stays well below the wall time: the simulator is a separate "
        "process on its own core, so it limits a run only when it is busy for most of it. "
        + bench.calibration,
        "",
    ]
    if bench.profile:
        lines += [
            "## Profile of the largest plan (1% drift)",
            "",
            f"Tool: {bench.profile_tool}.",
            "",
            "| function | share of samples |",
            "| --- | ---: |",
            *[f"| `{name}` | {share:.1f}% |" for name, share in bench.profile],
            "",
        ]
    if NOTES.exists():
        lines += [NOTES.read_text().strip(), ""]
    if bench.problems:
        lines += ["## Problems found in this run", "", *[f"- {p}" for p in bench.problems], ""]
    return "\n".join(lines)


def growth_lines(rows: list[Row]) -> list[str]:
    by_scenario: dict[str, list[Row]] = {}
    for row in rows:
        by_scenario.setdefault(row.scenario, []).append(row)
    lines = []
    for scenario, group in by_scenario.items():
        if len(group) < 2:
            continue
        ratios = [
            f"{later.size}: {later.run.wall / earlier.run.wall:.2f}"
            for earlier, later in pairwise(group)
        ]
        lines.append(f"| {scenario} | {'; '.join(ratios)} |")
    return lines


def targets(bench: Bench, big: str, local_personas: int, quick: bool) -> None:
    """Turn the measurements into the issue's targets (scaled down under --quick)."""
    rows = {(row.scenario, row.size): row for row in bench.rows}
    scale = " (quick run: sizes / 10, times not comparable)" if quick else ""

    def wall(scenario: str) -> Measured | None:
        row = rows.get((scenario, big))
        return row.run if row else None

    overshoot = bench.plan_overshoot
    bench.check(
        "plan reads = list pages + 1 (GET /v1/inbound), no page twice",
        f"{sum(bench.plan_checks)}/{len(bench.plan_checks)} plans; pages read ahead past the "
        f"end: {min(overshoot, default=0)} to {max(overshoot, default=0)}",
        all(bench.plan_checks),
    )
    bench.check(
        "apply writes = personas gaining + personas losing; verification reads <= plan reads",
        "; ".join(f"{what}: {text}" for what, text, _ in bench.apply_checks),
        all(ok for _, _, ok in bench.apply_checks),
    )

    if bench.whole_apply is not None:
        size, personas, plan_reads, verify_reads = bench.whole_apply
        pages = max(1, personas // PAGE_LIMIT)
        bench.check(
            f"a whole apply of {size} ({pages} page{'s' if pages > 1 else ''} of personas, "
            f"15% drift) reads at most "
            f"{3 * pages} times: plan pass + verification{scale}",
            f"at most {plan_reads + verify_reads} reads in {bench.args.repeat} runs: plan pass "
            f"{plan_reads} (pages and GET /v1/inbound), verification {verify_reads}",
            plan_reads + verify_reads <= 3 * pages,
        )
    if bench.skew_checks:
        bench.check(
            "a number the list shows on two personas (moved between page reads) costs one read "
            "by id per persona, and the apply converges",
            "; ".join(text for text, _ in bench.skew_checks),
            all(ok for _, ok in bench.skew_checks),
        )

    def timed(limit: float, seconds: float) -> str:
        missed = f" (over by {seconds - limit:.2f} s, {seconds / limit - 1:.0%})"
        return f"{seconds:.2f} s" + (missed if seconds > limit else "")

    for scenario, target, limit in (
        ("plan, 50 ms latency", "at 50 ms latency within 3 s", 3.0),
        ("plan, converged", "converged, zero latency: within 3 s and 300 MB", 3.0),
        ("plan, 1% drift", "with 1% drift, zero latency: within 3.5 s", 3.5),
        ("validate", "validate: within 2 s", 2.0),
    ):
        run = wall(scenario)
        if run is None:
            continue
        what = f"{big}, {target}" if scenario == "validate" else f"plan of {big} {target}"
        measured = timed(limit, run.wall)
        ok = run.wall <= limit
        if scenario == "plan, converged":
            measured += f", peak {run.rss_mb:.0f} MB"
            ok = ok and run.rss_mb <= 300
        bench.check(what + scale, measured, ok)
    if bench.ratios:
        personas = max(bench.ratios)
        ratio = bench.ratios[personas]
        short = "" if ratio >= 10 else f" (short by {1 - ratio / 10:.0%}: see the notes below)"
        bench.check(
            f"apply of {personas:,} x 10, 15% drift, 10 ms: >= 10x faster than naive{scale}",
            f"{ratio:.1f}x{short}",
            ratio >= 10,
        )
    growth = [
        later.run.wall / earlier.run.wall
        for scenario in ("plan, converged", "plan, 1% drift", "validate")
        for earlier, later in pairwise([r for r in bench.rows if r.scenario == scenario])
    ]
    if growth:
        bench.check(
            "doubling the account roughly doubles the time (no quadratic step)",
            f"largest 2x-size time ratio {max(growth):.2f}",
            max(growth) < 2.6,
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Sizes / 10, one repetition.")
    parser.add_argument("--repeat", type=int, default=None, help="Runs per measurement.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-profile", action="store_true", help="Skip the profile.")
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 5
    divisor = 10 if args.quick else 1
    local = [2_500 // divisor, 5_000 // divisor, 10_000 // divisor]
    vs_naive = [250 // divisor, 500 // divisor, 1_000 // divisor]
    started = datetime.now(UTC)
    load = os.getloadavg()
    clock = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as folder:
        bench = Bench(args, Path(folder))
        bench.calibrate(local[-1], 10)
        bench.local(local, 10)
        bench.latency_plan(local, 10, 0.050)
        bench.versus_naive(vs_naive, 10, 0.010)
        if not args.quick and not args.no_profile:
            bench.profile_plan(local[-1], 10)
        targets(bench, f"{local[-1]:,} x 10", local[-1], args.quick)
        text = report(bench, args, started, load, time.perf_counter() - clock)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    for check in bench.checks:
        print(f"{'ok  ' if check.met else 'MISS'} {check.target}: {check.measured}")
    return 1 if bench.problems else 0


if __name__ == "__main__":
    sys.exit(main())
