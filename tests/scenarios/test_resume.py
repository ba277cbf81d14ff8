"""An apply killed after k of n persona writes (SIGKILL, SIGTERM) leaves an account from
which the next apply makes exactly the remaining writes. The killed apply runs in a process of
its own (forked from one that imported the CLI: tests/forked_cli.py) against an in-process
simulator whose writes hang after the k-th one.

With the listing skew on, the account spans two pages of personas and, while the killed apply
reads them, a number declared on a page-1 persona moves to a page-2 persona: the listing shows
it on both, and the run must take it back with a move, never detach it from where it is.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, TEST_KEY, RunCli, point_cli_at, write_config, writes
from tests.forked_cli import ForkedCli, ForkedRun
from tests.simulated import Simulator, persona_of
from tests.simulator_faults import with_test_faults

PERSONAS = 6
Write = tuple[str, str, list[str]]
# With the skew: "Steady" (page 1) declares STEADY_NUMBER, which moves to p5 (page 2) while the
# killed apply reads the list; fillers without numbers push p3 to p5 onto page 2.
STEADY, STEADY_NUMBER, FILLERS = "steady", "+14155559999", 100


@pytest.fixture
def skew() -> bool:
    """Whether the listing is skewed by a move between its page reads (parametrised per test)."""
    return False


def account(skew: bool) -> dict[str, object]:
    """Six personas; each must lose the number it has and gain a free one: 12 writes."""
    numbers = [{"phone_number": f"+1415555{i:04d}"} for i in range(2 * PERSONAS)]
    personas = [
        {"id": f"p{i}", "name": f"Persona {i}", "numbers": [f"+1415555{2 * i:04d}"]}
        for i in range(PERSONAS)
    ]
    if skew:
        fillers = [{"id": f"filler{i:03d}", "name": f"Filler {i:03d}"} for i in range(FILLERS)]
        steady = {"id": STEADY, "name": "Steady", "numbers": [STEADY_NUMBER]}
        personas = [steady, *personas[:3], *fillers, *personas[3:]]
        numbers.append({"phone_number": STEADY_NUMBER})
    return {"numbers": numbers, "personas": personas}


def all_writes(skew: bool) -> list[Write]:
    attaches = [(f"p{i}", "attach", [f"+1415555{2 * i + 1:04d}"]) for i in range(PERSONAS)]
    detaches = [(f"p{i}", "detach", [f"+1415555{2 * i:04d}"]) for i in range(PERSONAS)]
    if skew:
        attaches.append((STEADY, "attach", [STEADY_NUMBER]))  # the move back from p5
    return sorted(attaches + detaches)


@pytest.fixture
def resume_sim(monkeypatch: pytest.MonkeyPatch, skew: bool) -> Iterator[Simulator]:
    with with_test_faults(Simulator(account(skew), api_key=TEST_KEY)) as simulator:
        if skew:
            simulator.faults.move_during_listing = {
                "number": STEADY_NUMBER,
                "to_persona": "p5",
                "after_page": 1,
            }
        yield point_cli_at(simulator, monkeypatch)


@pytest.fixture
def config(tmp_path: Path, skew: bool) -> Path:
    entries = [{"id": f"p{i}", "numbers": [f"+1415555{2 * i + 1:04d}"]} for i in range(PERSONAS)]
    if skew:
        entries.append({"id": STEADY, "numbers": [STEADY_NUMBER]})
    # Every persona swaps its number: a deliberate rotation, so the mass-detach valve is opened.
    return write_config(tmp_path / "personas.yaml", entries, safety={"max_detach_percent": 100})


def start_apply(
    forked: ForkedCli,
    sim: Simulator,
    config: Path,
    *global_options: str,
    log_file: Path | None = None,
    parallelism: int = 4,
) -> ForkedRun:
    """The apply to stop, in a process forked from one that imported the CLI: the process is
    what is killed or signalled here, not its start (test_signals.py signals a starting one)."""
    env = {**os.environ, "BLAND_API_URL": sim.url, "BLAND_API_KEY": TEST_KEY, "NO_COLOR": "1"}
    env.pop("BLAND_API_KEY_FILE", None)
    command = [*global_options, "apply", str(config)]
    command.extend(["--auto-approve", "--parallelism", str(parallelism)])
    if log_file is not None:
        command.extend(["--log-file", str(log_file)])
    return forked.start(*command, env=env, cwd=ROOT)


def wait_until_hung(sim: Simulator, process: ForkedRun, served: int) -> None:
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


def resume_and_check(
    sim: Simulator, run_cli: RunCli, config: Path, served: int, skew: bool = False
) -> None:
    first = writes(sim)
    assert len(first) == served
    sim.faults.hang_writes_after = None
    sim.requests.clear()
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 0, result.out + result.err
    second = writes(sim)
    assert len(second) == len(all_writes(skew)) - served
    assert sorted(first + second) == all_writes(skew)
    assert run_cli("plan", config, "--detailed-exitcode").code == 0
    for i in range(PERSONAS):
        assert sim.persona_numbers(f"p{i}") == [f"+1415555{2 * i + 1:04d}"]
    if skew:
        assert sim.persona_numbers(STEADY) == [STEADY_NUMBER]


@pytest.mark.parametrize(
    "skew, served",
    # Killed before the first write, inside the attaches, after the last attach, inside the
    # detaches, and before the last write: of 12 writes, or of 13 with the skew.
    [
        pytest.param(False, served, id=f"consistent-listing-{served}")
        for served in (0, 1, 4, 6, 7, 11)
    ]
    + [pytest.param(True, served, id=f"skewed-listing-{served}") for served in (0, 1, 4, 7, 8, 12)],
)
def test_sigkill_after_k_writes_then_a_rerun_makes_exactly_the_rest(
    forked: ForkedCli,
    resume_sim: Simulator,
    run_cli: RunCli,
    config: Path,
    served: int,
    skew: bool,
) -> None:
    resume_sim.faults.hang_writes_after = served
    # One write at a time: the held write is the only one sent, so none still on its way to the
    # simulator when the process dies can land after the fault is cleared, during the rerun.
    process = start_apply(forked, resume_sim, config, parallelism=1)
    wait_until_hung(resume_sim, process, served)
    process.kill()
    process.communicate()
    if skew:
        assert resume_sim.faults.move_during_listing is None  # the move happened mid-listing
    # Make before break: no persona lost a number before its attach had gone through.
    done = {(pid, action) for pid, action, _ in writes(resume_sim)}
    assert all((pid, "attach") in done for pid, action in done if action == "detach")
    resume_and_check(resume_sim, run_cli, config, served, skew)


# SIGTERM, as a CI system cancelling the job sends it. SIGINT takes the same way (both are
# handled alike: tests/unit/test_settings.py), and test_signals.py stops an apply's writes
# with it.
@pytest.mark.parametrize("signum, code, name", [(signal.SIGTERM, 143, "SIGTERM")])
def test_sigterm_finishes_the_write_in_flight_reports_and_exits(
    forked: ForkedCli,
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
    process = start_apply(forked, resume_sim, config, "--timeout", "0.5", log_file=log_file)
    wait_until_hung(resume_sim, process, served)
    process.send_signal(signum)
    out, err = process.communicate(timeout=30)
    assert process.returncode == code, out + err
    assert f"Received {name}: finishing the writes in flight" in err
    assert (
        f"Apply interrupted by {name}: {served} attached, 0 moved, 0 detached; "
        f"{served} API writes, " in out
    )
    assert "skipped: the run was interrupted before it was sent" in out
    assert "Traceback" not in out + err
    outcomes = [json.loads(line)["outcome"] for line in log_file.read_text().splitlines()]
    assert outcomes.count("done") == served
    # Every write the simulator got has its "sent" line, and every planned write its outcome. On
    # a slow machine a write may pass the 0.5 s timeout: it is read back and sent again, one
    # write on record however many times it went out.
    entries = [json.loads(line) for line in log_file.read_text().splitlines()]
    sent = [e for e in entries if e["outcome"] == "sent"]
    logged = {(e["persona_id"], e["action"], tuple(sorted(e["numbers"]))) for e in sent}
    received = {
        (persona_of(r.path), r.path.rsplit("/", 1)[-1], tuple(sorted(r.body["inbound_numbers"])))
        for r in resume_sim.writes()
    }
    assert received == logged
    assert len(sent) == len(received)
    assert len(outcomes) - outcomes.count("sent") == len(all_writes(False))
    assert TEST_KEY not in log_file.read_text()
    resume_and_check(resume_sim, run_cli, config, served)
