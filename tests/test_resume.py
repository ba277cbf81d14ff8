"""An apply killed after k of n persona writes (SIGKILL, SIGTERM, SIGINT) leaves an account from
which the next apply makes exactly the remaining writes. The killed apply runs as a subprocess
against an in-process simulator whose writes hang after the k-th one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.simulator import Simulator
from tests.conftest import ROOT, TEST_KEY, RunCli, point_cli_at, write_config, writes

PERSONAS = 6
Write = tuple[str, str, list[str]]


def account() -> dict[str, object]:
    """Six personas; each must lose the number it has and gain a free one: 12 writes."""
    numbers = [{"phone_number": f"+1415555{i:04d}"} for i in range(2 * PERSONAS)]
    personas = [
        {"id": f"p{i}", "name": f"Persona {i}", "numbers": [f"+1415555{2 * i:04d}"]}
        for i in range(PERSONAS)
    ]
    return {"numbers": numbers, "personas": personas}


def all_writes() -> list[Write]:
    attaches = [(f"p{i}", "attach", [f"+1415555{2 * i + 1:04d}"]) for i in range(PERSONAS)]
    detaches = [(f"p{i}", "detach", [f"+1415555{2 * i:04d}"]) for i in range(PERSONAS)]
    return sorted(attaches + detaches)


@pytest.fixture
def resume_sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    with Simulator(account(), api_key=TEST_KEY) as simulator:
        yield point_cli_at(simulator, monkeypatch)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    entries = [{"id": f"p{i}", "numbers": [f"+1415555{2 * i + 1:04d}"]} for i in range(PERSONAS)]
    # Every persona swaps its number: a deliberate rotation, so the mass-detach valve is opened.
    return write_config(tmp_path / "personas.yaml", entries, safety={"max_detach_percent": 100})


def start_apply(
    sim: Simulator, config: Path, *global_options: str, log_file: Path | None = None
) -> subprocess.Popen[str]:
    env = {**os.environ, "BLAND_API_URL": sim.url, "BLAND_API_KEY": TEST_KEY, "NO_COLOR": "1"}
    env.pop("BLAND_API_KEY_FILE", None)
    command = [sys.executable, "-m", "reconciler", *global_options, "apply", str(config)]
    command.append("--auto-approve")
    if log_file is not None:
        command.extend(["--log-file", str(log_file)])
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_hung(sim: Simulator, process: subprocess.Popen[str], served: int) -> None:
    """Block until `served` writes were answered and the next one is held by the simulator."""
    woken = threading.Event()
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up:
        records = sim.writes()
        if sum(r.status == 200 for r in records) == served and any(r.status == 0 for r in records):
            return
        assert process.poll() is None, process.communicate()
        woken.wait(0.01)  # polling the simulator's log for an event, not waiting for time
    process.kill()
    raise AssertionError(f"the apply never reached write {served + 1}: {process.communicate()}")


def resume_and_check(sim: Simulator, run_cli: RunCli, config: Path, served: int) -> None:
    first = writes(sim)
    assert len(first) == served
    sim.faults.hang_writes_after = None
    sim.clear_log()
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 0, result.out + result.err
    second = writes(sim)
    assert len(second) == len(all_writes()) - served
    assert sorted(first + second) == all_writes()
    assert run_cli("plan", config, "--detailed-exitcode").code == 0
    for i in range(PERSONAS):
        assert sim.persona_numbers(f"p{i}") == [f"+1415555{2 * i + 1:04d}"]


@pytest.mark.parametrize("served", [0, 1, 4, 6, 7, 11])
def test_sigkill_after_k_writes_then_a_rerun_makes_exactly_the_rest(
    resume_sim: Simulator, run_cli: RunCli, config: Path, served: int
) -> None:
    resume_sim.faults.hang_writes_after = served
    process = start_apply(resume_sim, config)
    wait_until_hung(resume_sim, process, served)
    process.kill()
    process.communicate()
    # Make before break: no persona lost a number before its attach had gone through.
    done = {(pid, action) for pid, action, _ in writes(resume_sim)}
    assert all((pid, "attach") in done for pid, action in done if action == "detach")
    resume_and_check(resume_sim, run_cli, config, served)


@pytest.mark.parametrize(
    "signum, code, name", [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")]
)
def test_sigterm_and_sigint_finish_the_write_in_flight_report_and_exit(
    resume_sim: Simulator,
    run_cli: RunCli,
    config: Path,
    tmp_path: Path,
    signum: int,
    code: int,
    name: str,
) -> None:
    served = 3
    resume_sim.faults.hang_writes_after = served
    log_file = tmp_path / "audit.jsonl"
    # The write in flight hangs; the short timeout ends it, then the run stops and reports.
    process = start_apply(resume_sim, config, "--timeout", "0.5", log_file=log_file)
    wait_until_hung(resume_sim, process, served)
    process.send_signal(signum)
    out, err = process.communicate(timeout=30)
    assert process.returncode == code, out + err
    assert f"Received {name}: finishing the writes in flight" in err
    assert f"Apply interrupted by {name}: {served} writes ({served} attach, 0 detach)" in out
    assert "skipped: the run was interrupted before it was sent" in out
    assert "Traceback" not in out + err
    outcomes = [json.loads(line)["outcome"] for line in log_file.read_text().splitlines()]
    assert outcomes.count("done") == served
    # Every write the simulator got has its "sent" line, and every planned write its outcome.
    assert outcomes.count("sent") == len(resume_sim.writes())
    assert len(outcomes) - outcomes.count("sent") == len(all_writes())
    assert TEST_KEY not in log_file.read_text()
    resume_and_check(resume_sim, run_cli, config, served)
