"""Attacks on the order in which a request takes its turn: its slot first (the writes' or the
reads' limit), then the 429 pause and the --max-rps pacing, slept holding the slot; the time it
waits does not count against its deadline.

Three were defects, each found as a failing test before its fix. The pacing a run asks for
counted against each request's own deadline, so a low --max-rps ran out the requests the run
itself queued: plan, doctor and export failed outright. A request asleep for its pacing turn did
not look again at a 429 pause set meanwhile: it went out in the middle of it. A write whose
answer was lost, whose read-back a pause then refused, was reported as a write the API refused
(HTTP 429), not as one that may have taken effect.

What holds: writes that wait past their deadline for their turn are each sent once and the run
ends converged (exit 0); SIGINT or a 401 while writes sleep for their turn sends nothing more;
odd Retry-After values end cleanly.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.api import transport
from reconciler.settings import Settings
from reconciler.simulator import RequestRecord
from reconciler.simulator.api import Reply, error_reply, json_reply
from tests.conftest import RunCli, write_config
from tests.scenarios.conftest import StartSim
from tests.simulated import Simulator

SCALE = 500.0  # fake seconds per real second: --max-rps 0.05 spaces requests 40 ms apart
LATE = "deadline"  # no request refused, or cut short, for its deadline


class Fast:
    """The CLI's clock and sleep: time runs SCALE times faster; a sleep ends at cancel()."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.ahead = 0.0  # fake seconds the clock was moved on
        self.cancelled = threading.Event()

    def clock(self) -> float:
        return self.start + (time.monotonic() - self.start) * SCALE + self.ahead

    def sleep(self, seconds: float) -> None:
        self.cancelled.wait(max(0.0, seconds) / SCALE)


@pytest.fixture
def fast(seams: Settings, monkeypatch: pytest.MonkeyPatch) -> Fast:
    clock = Fast()
    seams.sleep, seams.clock = clock.sleep, clock.clock
    cancel = transport.Transport.cancel

    def cancelled(self: transport.Transport) -> None:
        clock.cancelled.set()
        cancel(self)

    monkeypatch.setattr(transport.Transport, "cancel", cancelled)
    return clock


def numbers(count: int) -> list[str]:
    return [f"+1415555{i:04d}" for i in range(count)]


def account(count: int, *, held: bool = False) -> dict[str, Any]:
    """`count` personas P0..; each holds its own number if `held`, else the numbers are free."""
    return {
        "numbers": [{"phone_number": n, "label": None} for n in numbers(count)],
        "personas": [
            {"id": f"p-{i}", "name": f"P{i}", "numbers": [n] if held else []}
            for i, n in enumerate(numbers(count))
        ],
    }


def one_each(tmp_path: Path, count: int, *, empty: bool = False) -> Path:
    """P<i> gets number i (or none, if `empty`)."""
    entries = [
        {"id": f"p-{i}", "numbers": [] if empty else [n]} for i, n in enumerate(numbers(count))
    ]
    return write_config(tmp_path / "personas.yaml", entries)


def log_lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def outcomes(log: Path) -> dict[str, list[str]]:
    """Per persona, the outcomes of its log lines in order."""
    seen: dict[str, list[str]] = {}
    for line in log_lines(log):
        seen.setdefault(line["persona_id"], []).append(line["outcome"])
    return seen


def served_writes(sim: Simulator) -> Counter[str]:
    return Counter(r.path for r in sim.writes() if r.status == 200)


def intercepting(
    sim: Simulator, answer: Callable[[RequestRecord, Callable[[], Reply]], Reply]
) -> None:
    """Put `answer(record, own)` in front of the simulator's writes; `own()` is its own answer."""
    own = sim.intercept
    assert own is not None

    def intercept(record: RequestRecord, serve: Callable[[RequestRecord], Reply]) -> Reply:
        if record.kind != "write":
            return own(record, serve)
        return answer(record, lambda: own(record, serve))

    sim.intercept = intercept


# -- defects ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["plan", "doctor", "export"])
def test_a_slow_pace_with_a_short_timeout_does_not_refuse_the_runs_own_requests(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, command: str, fast: Fast
) -> None:
    # One request every 50 s, each allowed 10 s a try (a deadline of 40 s): the second
    # request's turn comes 50 s after the first, later than 40 s after it was asked for.
    start_sim(account(2, held=True))
    args = [command, one_each(tmp_path, 2)] if command == "plan" else [command]

    result = run_cli("--max-rps", "0.02", "--timeout", "10", *args)

    assert LATE not in result.out + result.err, result.out + result.err
    assert result.code != 1, result.out + result.err


def test_plan_under_a_low_max_rps_waits_for_its_reads_instead_of_refusing_them(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, fast: Fast
) -> None:
    start_sim(account(16))

    result = run_cli("--max-rps", "0.05", "plan", one_each(tmp_path, 16))

    assert LATE not in result.err, result.err
    assert result.code == 0 and "Plan: 16 to attach" in result.out, result.out + result.err


def test_a_write_waiting_for_its_turn_holds_for_a_pause_set_while_it_waited(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, fast: Fast, seams: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # Two writes, turns 20 s apart: the first goes at once and is answered 429 "Retry-After: 60"
    # while the second sleeps towards its turn at 20 s, holding its slot. Nothing should reach
    # the API before 60 s. (--timeout 100: a deadline of 400 s, which the pause leaves room for.)
    sim = start_sim(account(2), write_statuses=[429], retry_after="60")
    arrivals: list[float] = []
    answered = threading.Event()  # the 429 went back
    waiting = threading.Event()  # the second write sleeps towards its turn
    writing = threading.Event()
    ask = transport.Transport._request

    def asked(self: transport.Transport, method: str, *args: Any, **kwargs: Any) -> Any:
        if method != "GET" and not writing.is_set():
            writing.set()
            fast.ahead += 20  # the first write's turn has come: it sleeps for none
        return ask(self, method, *args, **kwargs)

    def sleep(seconds: float) -> None:
        if writing.is_set() and not answered.is_set():  # the second write, asleep for its turn
            waiting.set()
            answered.wait(2)
            time.sleep(0.05)  # for the client to read the 429
        fast.sleep(seconds)

    monkeypatch.setattr(transport.Transport, "_request", asked)
    seams.sleep = sleep

    def timed(record: RequestRecord, own: Callable[[], Reply]) -> Reply:
        arrivals.append(fast.clock())
        reply = own()
        if reply.status == 429:
            waiting.wait(2)
            answered.set()
        return reply

    intercepting(sim, timed)

    result = run_cli(
        "--max-rps", "0.05", "--timeout", "100", "apply", one_each(tmp_path, 2), "--auto-approve",
        "--parallelism", "2",
    )  # fmt: skip

    assert sim.writes()[0].status == 429, sim.writes()
    later = [round(t - arrivals[0]) for t in arrivals[1:]]
    assert later and all(t >= 55 for t in later), (later, result.out + result.err)


def test_a_lost_write_whose_read_back_a_pause_refuses_is_not_reported_refused(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    # The first write to arrive is performed but answered 500, once the second has been answered
    # 429 "Retry-After: 100" (longer than what is left of any request's 120 s).
    sim = start_sim(account(2))
    arrived: list[str] = []
    paused = threading.Event()

    def answer(record: RequestRecord, own: Callable[[], Reply]) -> Reply:
        arrived.append(record.path)
        if len(arrived) == 1:
            own()  # performed: its answer is lost
            paused.wait(5)
            time.sleep(0.1)  # the client has read the 429 and set its pause
            return error_reply(500, "INTERNAL_SERVER_ERROR", "An internal server error occurred")
        if len(arrived) == 2:
            paused.set()
            return json_reply(429, {"message": "Rate limit exceeded"}, {"Retry-After": "100"})
        return own()

    intercepting(sim, answer)
    log = tmp_path / "audit.jsonl"

    result = run_cli(
        "apply", one_each(tmp_path, 2), "--auto-approve", "--parallelism", "2", "--log-file", log
    )

    lost = arrived[0].split("/")[3]  # /v1/personas/<id>/inbound/attach
    assert sim.owners()[numbers(2)[int(lost[2:])]] == [lost]  # it took effect
    final = [line for line in log_lines(log) if line["persona_id"] == lost][-1]
    assert final["outcome"] == "done" or "may have taken effect" in final["error"]["message"], (
        final,
        result.out,
    )
    assert result.code != 0


# -- what holds ------------------------------------------------------------------------------------


def test_writes_waiting_past_their_deadline_for_their_turn_are_each_sent_once(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, fast: Fast
) -> None:
    # Eight detaches at once under --max-rps 0.05: turns at 0, 20, ... 140 s; those at or past
    # 120 s (4 x the default timeout) wait their turn, which their deadline does not count.
    sim = start_sim(account(8, held=True))
    log = tmp_path / "audit.jsonl"

    result = run_cli(
        "--max-rps", "0.05", "apply", one_each(tmp_path, 8, empty=True), "--auto-approve",
        "--force", "--allow-emptying", "--parallelism", "8", "--log-file", log, "--format", "json",
    )  # fmt: skip

    assert result.code == 0, result.out + result.err
    report = json.loads(result.out)
    assert report["exit_status"] == 0 and report["converged"], report
    assert [w["outcome"] for w in report["writes"]] == ["done"] * 8, report["writes"]
    assert all(n == 1 for n in served_writes(sim).values()), sim.writes()
    assert len(served_writes(sim)) == 8 and len(sim.writes()) == 8, sim.writes()
    for persona, seen in outcomes(log).items():
        assert seen == ["sent", "done"], (persona, seen)


def test_sigint_while_writes_sleep_for_their_turn_sends_nothing_more(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, fast: Fast
) -> None:
    sim = start_sim(account(4))

    def interrupt(simulator: Simulator, record: RequestRecord) -> None:
        simulator.on_write = None
        threading.Timer(0.01, os.kill, (os.getpid(), signal.SIGINT)).start()

    sim.on_write = interrupt
    log = tmp_path / "audit.jsonl"
    began = time.monotonic()

    result = run_cli(
        "--max-rps", "0.05", "--timeout", "300", "apply", one_each(tmp_path, 4), "--auto-approve",
        "--parallelism", "4", "--log-file", log, "--format", "json",
    )  # fmt: skip

    assert time.monotonic() - began < 3, "the run did not end at the signal"
    assert result.code == 130, result.out + result.err
    assert len(sim.writes()) == 1, sim.writes()
    report = json.loads(result.out)
    assert report["exit_status"] == 130
    assert [w["outcome"] for w in report["writes"]].count("skipped") == 3, report["writes"]
    assert sorted(outcomes(log).values()) == [["sent", "done"]] + [["skipped"]] * 3


def test_a_401_while_writes_sleep_for_their_turn_sends_nothing_more(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, fast: Fast
) -> None:
    sim = start_sim(account(6), write_statuses=[401])
    log = tmp_path / "audit.jsonl"

    result = run_cli(
        "--max-rps", "0.05", "--timeout", "300", "apply", one_each(tmp_path, 6), "--auto-approve",
        "--parallelism", "3", "--log-file", log,
    )  # fmt: skip

    assert [r.status for r in sim.writes()] == [401], (sim.writes(), result.out + result.err)
    assert result.code == 1, result.out + result.err
    assert "HTTP 401" in result.err, result.err
    assert sorted(outcomes(log).values()) == [["sent", "failed"]] + [["skipped"]] * 5


@pytest.mark.parametrize(
    "retry_after", ["0", "-5", "soon", "Wed, 21 Oct 2015 07:28:00 GMT", "1.5", " 2 "]
)
def test_any_retry_after_on_429s_ends_with_every_write_made_once(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, retry_after: str
) -> None:
    sim = start_sim(account(3), write_statuses=[429, 429, 429], retry_after=retry_after)

    result = run_cli("apply", one_each(tmp_path, 3), "--auto-approve", "--parallelism", "3")

    assert result.code == 0, result.out + result.err
    assert served_writes(sim) == Counter(f"/v1/personas/p-{i}/inbound/attach" for i in range(3))


@pytest.mark.parametrize("retry_after", ["99999999999999999999", "9" * 400])
def test_a_huge_retry_after_ends_the_run_at_once_without_resending(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, retry_after: str
) -> None:
    # The second write goes out once, or is refused unsent once the first's pause is known.
    sim = start_sim(account(2), write_statuses=[429, 429], retry_after=retry_after)

    result = run_cli("apply", one_each(tmp_path, 2), "--auto-approve")

    assert result.code == 4, result.out + result.err
    assert {r.status for r in sim.writes()} == {429}, sim.writes()
    assert all(n == 1 for n in Counter(r.path for r in sim.writes()).values()), sim.writes()
    assert "Traceback" not in result.err
