"""The measurement harness: the simulator in its own process, a command timed to its end.

On a machine with two or more cores the CLI is pinned to core 0 and the simulator to core 1.
The CLI runs as a subprocess: wall time around it, CPU time and peak RSS from os.wait4's
rusage, reads and writes from the simulator's request log (GET /_sim/log), the simulator's own
CPU time from /proc/PID/stat.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

TWO_CORES = len(os.sched_getaffinity(0)) >= 2
ROOT = Path(__file__).resolve().parent.parent
CLI_CORE, SIM_CORE = 0, 1

Request = dict[str, Any]  # one entry of the simulator's request log


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
    """The simulator in a child process, driven through its /_sim control endpoints; the tests'
    faults are in front of it (tests/simulator_process.py), for the listing move."""

    def __init__(self, state_path: Path, key: str, workdir: Path) -> None:
        ready = workdir / f"ready-{secrets.token_hex(4)}"
        self.log_file = (workdir / "simulator.log").open("ab")
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "tests.simulator_process", "--state", str(state_path)),
                *("--port", "0", "--ready-file", str(ready)),
            ],
            cwd=ROOT,
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

    def requests(self) -> list[Request]:
        response = self.control.get("/_sim/log")
        response.raise_for_status()
        requests: list[Request] = response.json()["requests"]
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
    requests: list[Request]
    output: str

    @property
    def reads(self) -> int:
        return sum(r["kind"] == "read" for r in self.requests)

    @property
    def writes(self) -> int:
        return sum(r["kind"] == "write" for r in self.requests)

    def split_at_first_write(self) -> tuple[list[Request], list[Request]]:
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


def reads(requests: list[Request]) -> int:
    return sum(r["kind"] == "read" for r in requests)


class Runner:
    """Runs commands as the bench's client: its own key and environment, --repeat times over."""

    def __init__(self, repetitions: int) -> None:
        self.key = "bench-" + secrets.token_hex(8)
        self.repetitions = repetitions
        self.cli = [sys.executable, "-m", "reconciler"]
        self.last_runs: list[Measured] = []  # every repetition of the last repeat()

    def env(self, sim: SimulatorProcess | None) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if name not in ("BLAND_API_KEY_FILE", "BLAND_TIMEOUT", "BLAND_API_URL")
        }
        env["BLAND_API_KEY"] = self.key
        env["NO_COLOR"] = "1"
        # An installed tool runs from compiled bytecode: without the cache each run would
        # compile the whole package again (about 0.15 s), which no user pays twice.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if sim is not None:
            env["BLAND_API_URL"] = sim.url
        return env

    def once(self, command: Sequence[str], sim: SimulatorProcess | None) -> Measured:
        return measure(command, self.env(sim), sim)

    def repeat(
        self,
        command: Sequence[str],
        sim: SimulatorProcess | None,
        before: Callable[[], None] | None = None,
        expect: Sequence[int] = (0,),
    ) -> tuple[Measured, list[float]]:
        """The median run by wall time, and the wall time of every run."""
        runs = []
        for _ in range(self.repetitions):
            if before is not None:
                before()
            run = self.once(command, sim)
            if run.code not in expect:
                raise RuntimeError(f"{' '.join(command)} exited {run.code}:\n{run.output[-2000:]}")
            runs.append(run)
        self.last_runs = runs
        return median_run(runs), [run.wall for run in runs]
