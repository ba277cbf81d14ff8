"""Attacks on the --log-file pipe's wait for room (a line waits until the run is stopped, then it
and every later line are dropped, with a warning naming the file) and on doctor after a 401/403.

Most were defects, each found as a failing test before its fix; the rest hold and no other test
drives them. A pipe with no room is either a real FIFO no one reads, or auditlog's `os`
answering EAGAIN for the lines a test picks (the first such line sends SIGINT to this process and
waits for the run's stop event, so the signal always lands while the line waits).
"""

from __future__ import annotations

import json
import os
import pty
import signal
import termios
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler import auditlog
from reconciler.simulator import RequestRecord
from reconciler.simulator.api import Reply, error_reply
from tests.conftest import CONFIG, EXAMPLES, TEST_KEY, RunCli, write_config
from tests.forked_cli import ForkedCli
from tests.scenarios import agent_account
from tests.scenarios.conftest import StartSim
from tests.scenarios.test_attack_stops import (
    apply_logging_to,
    drain,
    log_fifo,
    pending,
    wait_for,
)
from tests.scenarios.test_broken_pipe import free_numbers, one_each
from tests.scenarios.test_signals import ended, hung, start, wait_until_blocked
from tests.simulated import Simulator
from tests.simulator_faults import with_test_faults

DEADLINE = 60.0  # seconds any wait below gives its condition before failing
N1 = "+14155550101"
# A log path a careless (or hostile) script may pass: a line break, a fake line, a carriage
# return, a bell and an ANSI sequence.
ODD_NAME = "audit\nerror: every write was logged\r\x07\x1b[2K.jsonl"
Line = dict[str, Any]


class FullPipe:
    """auditlog's `os`: `write` finds no room (EAGAIN) for the lines `full` picks. The first such
    line sends SIGINT to this process and waits for the run's stop before saying so."""

    def __init__(self, full: Callable[[Line], bool]) -> None:
        self.full = full
        self.stops: list[threading.Event] = []
        self.waited: list[Line] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def write(self, descriptor: int, data: bytes) -> int:
        line = json.loads(data)
        if self.full(line):
            self.waited.append(line)
            if not self.stops[0].is_set():
                os.kill(os.getpid(), signal.SIGINT)
                assert self.stops[0].wait(DEADLINE), "the signal never reached the run"
            raise BlockingIOError
        return os.write(descriptor, data)


@pytest.fixture
def full_pipe(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[Line], bool]], FullPipe]:
    def install(full: Callable[[Line], bool]) -> FullPipe:
        pipe = FullPipe(full)
        made = auditlog.AuditLog.__init__

        def opened(self: auditlog.AuditLog, path: str, stop: threading.Event) -> None:
            pipe.stops.append(stop)
            made(self, path, stop)

        monkeypatch.setattr(auditlog.AuditLog, "__init__", opened)
        monkeypatch.setattr(auditlog, "os", pipe)
        return pipe

    return install


FullPipeFixture = Callable[[Callable[[Line], bool]], FullPipe]


def log_lines(data: bytes) -> list[Line]:
    return [json.loads(line) for line in data.decode().splitlines()]


def step(line: Line) -> tuple[str, str, str]:
    return line["persona_id"], line["action"], line["outcome"]


# -- the refusal's fallback ------------------------------------------------------------------------

MOVE_STATE: dict[str, Any] = {
    "numbers": [{"phone_number": N1, "label": None}],
    "personas": [
        {"id": "p-new", "name": "New", "numbers": []},
        {"id": "p-old", "name": "Old", "numbers": [N1]},
    ],
}


@pytest.mark.parametrize(
    "waits",
    [("p-new", "attach", "sent"), ("p-old", "detach", "done")],
    ids=["the attach's sent line", "the detach's done line"],
)
def test_a_number_freed_for_a_refused_attach_is_not_left_on_no_persona_by_a_full_log_pipe(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, full_pipe: FullPipeFixture,
    waits: tuple[str, str, str],
) -> None:  # fmt: skip
    # The API refuses to move N1 (409 in use): it is detached from Old, then attached to New.
    # After the detach, a line finds the log's pipe full; Ctrl-C while it waits.
    sim = start_sim(MOVE_STATE, attach_mode="refuse")
    config = write_config(tmp_path / "personas.yaml", [{"id": "p-new", "numbers": [N1]}])
    seen: list[tuple[str, str, str]] = []

    def full(line: Line) -> bool:
        seen.append(step(line))
        return ("p-old", "detach", "sent") in seen[:-1] and step(line) == waits

    pipe = full_pipe(full)
    log = tmp_path / "audit.jsonl"

    result = run_cli("apply", config, "--auto-approve", "--force", "--log-file", log)

    assert pipe.waited, result.out  # the line did wait, after the detach went out
    assert ("POST", "/v1/personas/p-old/inbound/detach", 200) in [
        (r.method, r.path, r.status) for r in sim.writes()
    ]
    assert result.code == 130, result.out + result.err
    # Freed, the number reaches New or goes back to Old: it is never left answered by no one.
    assert sim.owners()[N1] != [], result.out


def test_a_number_freed_for_a_refused_attach_is_not_left_on_no_persona_by_a_log_reader_gone(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `--log-file >(head -c 600)`: the reader exits after the detach's `done` line.
    sim = start_sim(MOVE_STATE, attach_mode="refuse")
    config = write_config(tmp_path / "personas.yaml", [{"id": "p-new", "numbers": [N1]}])
    seen: list[tuple[str, str, str]] = []

    class Os:
        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        @staticmethod
        def write(descriptor: int, data: bytes) -> int:
            if ("p-old", "detach", "done") in seen:
                raise BrokenPipeError(32, "Broken pipe")
            seen.append(step(json.loads(data)))
            return os.write(descriptor, data)

    monkeypatch.setattr(auditlog, "os", Os())
    log = tmp_path / "audit.jsonl"

    result = run_cli("apply", config, "--auto-approve", "--force", "--log-file", log)

    assert seen[-1] == ("p-old", "detach", "done"), seen
    assert result.code == 1, result.out + result.err
    assert "cannot write the log file (Broken pipe)" in result.err
    # Freed, the number reaches New or goes back to Old: it is never left answered by no one.
    assert sim.owners()[N1] != [], result.out


# -- the warning, and the second signal's line, name the log file safely --------------------------


def test_the_dropped_log_warning_names_an_odd_log_path_on_one_safe_line(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, full_pipe: FullPipeFixture
) -> None:
    start_sim(free_numbers(2))
    config = one_each(tmp_path / "personas.yaml", 2)
    log = tmp_path / ODD_NAME
    full_pipe(lambda line: True)

    result = run_cli("apply", config, "--auto-approve", "--log-file", log)

    assert result.code == 130, result.out + result.err
    assert "had no room when the run stopped" in result.err, result.err
    assert not {"\r", "\x07", "\x1b"} & set(result.err), result.err
    # One line for the warning, escaped as the key file's path is (text.printable).
    lines = result.err.splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["warning:", "Apply"], lines
    assert "error: every write was logged" in lines[0] and "had no room" in lines[0], lines


def test_the_second_signal_names_an_odd_log_path_on_one_safe_line(
    forked: ForkedCli, example_state: dict[str, Any], tmp_path: Path
) -> None:
    with with_test_faults(Simulator(example_state, api_key=TEST_KEY)) as sim:
        sim.faults.hang_writes_after = 0  # every write hangs
        log = tmp_path / ODD_NAME
        process = start(forked, sim, "apply", CONFIG, "--auto-approve", "--log-file", log)
        wait_for(hung(sim, "write", 2), "the attaches sent")
        wait_until_blocked(process, "futex")
        process.send_signal(signal.SIGINT)
        assert process.stderr is not None
        first = process.stderr.readline()
        assert first.startswith("Received SIGINT: finishing the writes in flight"), first
        wait_until_blocked(process, "futex")
        process.send_signal(signal.SIGINT)
        code, _, err = ended(process)

    assert code == 130, err
    assert "Stopping at once" in err, err
    assert not {"\r", "\x07", "\x1b"} & set(err), repr(err)
    lines = err.splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["Stopping", "Stopped"], lines
    assert "every write was logged" in lines[0] and "lists each write sent" in lines[0], lines


# -- what holds ------------------------------------------------------------------------------------


def test_sigterm_with_eight_writes_on_a_full_log_fifo_ends_143_and_sends_none_unlogged(
    tmp_path: Path,
) -> None:
    # `--log-file >(reader)` whose reader stopped reading, eight writes at a time: the pipe
    # (one page) fills, every worker waits on the log; SIGTERM.
    count = 40
    config = one_each(tmp_path / "personas.yaml", count)
    fifo, reader = log_fifo(tmp_path)
    with Simulator(free_numbers(count), api_key=TEST_KEY) as sim:
        process = apply_logging_to(sim, config, fifo, "--parallelism", "8")
        try:
            wait_for(
                lambda: pending(reader) >= 3500 or process.poll() is not None, "a full log pipe"
            )
            assert process.poll() is None, process.communicate()
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=DEADLINE)
        finally:
            process.kill()
            process.wait()
        sent = {str(r.path).split("/")[3] for r in sim.writes()}
        log = drain(reader)
        os.close(reader)

    assert process.returncode == 143, err[-800:]
    assert "Traceback" not in err, err[-800:]
    assert "Apply interrupted by SIGTERM" in out, out[-800:]
    assert f"warning: the log file {fifo} had no room when the run stopped" in err, err
    # Whole lines, then at most one cut short: nothing glued after it.
    whole, _, cut = log.rpartition(b"\n")
    assert b"\n" not in cut
    lines = log_lines(whole)
    logged = {line["persona_id"] for line in lines if line["outcome"] == "sent"}
    assert sent <= logged, sorted(sent - logged)  # no write went out without its `sent` line
    assert len(sent) < count
    assert TEST_KEY not in out + err and TEST_KEY.encode() not in log


def test_eight_writes_waiting_on_the_log_end_in_one_json_report_and_none_is_sent(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, full_pipe: FullPipeFixture
) -> None:
    sim = start_sim(free_numbers(8))
    config = one_each(tmp_path / "personas.yaml", 8)
    log = tmp_path / "audit.jsonl"
    pipe = full_pipe(lambda line: True)  # not even the first line finds room

    result = run_cli(
        "apply", config, "--auto-approve", "--parallelism", "8", "--log-file", log,
        "--format", "json",
    )  # fmt: skip

    assert pipe.waited, result.err
    assert result.code == 130, result.err
    report = json.loads(result.out)
    assert report["exit_status"] == 130 and not report["converged"]
    assert [w["outcome"] for w in report["writes"]] == ["skipped"] * 8
    assert sim.writes() == []
    assert log.read_bytes() == b""
    assert f"warning: the log file {log} had no room when the run stopped" in result.err


def test_a_saved_plan_applied_to_a_full_log_pipe_stops_at_the_waiting_line(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, full_pipe: FullPipeFixture
) -> None:
    sim = start_sim(free_numbers(3))
    saved = tmp_path / "saved.plan"
    assert run_cli("plan", one_each(tmp_path / "personas.yaml", 3), "--out", saved).code == 0
    log = tmp_path / "audit.jsonl"
    full_pipe(lambda line: line["persona_id"] == "p01")  # the second write's `sent` line waits

    result = run_cli("apply", saved, "--parallelism", "1", "--log-file", log)

    assert result.code == 130, result.out + result.err
    assert [r.path for r in sim.writes()] == ["/v1/personas/p00/inbound/attach"]
    assert [step(line) for line in log_lines(log.read_bytes())] == [
        ("p00", "attach", "sent"),
        ("p00", "attach", "done"),
    ]
    assert "Apply interrupted by SIGINT" in result.out
    assert str(log) in result.err


def test_a_log_on_a_terminal_whose_output_is_stopped_waits_then_ends_with_the_report(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `--log-file /dev/pts/N` of a terminal where Ctrl-S stopped the output: a write finds no
    # room (EAGAIN) at once. Ctrl-C once the first line waits.
    sim = start_sim(free_numbers(2))
    controller, terminal = pty.openpty()
    termios.tcflow(terminal, termios.TCOOFF)
    waiting = threading.Event()

    class Os:
        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        @staticmethod
        def write(descriptor: int, data: bytes) -> int:
            try:
                return os.write(descriptor, data)
            except BlockingIOError:
                waiting.set()
                raise

    def interrupt() -> None:
        if waiting.wait(DEADLINE):
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(auditlog, "os", Os())
    signaller = threading.Thread(target=interrupt)
    signaller.start()
    try:
        result = run_cli("apply", one_each(tmp_path / "personas.yaml", 2), "--auto-approve",
                         "--log-file", os.ttyname(terminal))  # fmt: skip
    finally:
        waiting.set()
        signaller.join(DEADLINE)
        termios.tcflow(terminal, termios.TCOON)
        os.close(terminal)
        os.close(controller)

    assert result.code == 130, result.out + result.err
    assert sim.writes() == []
    assert "Apply interrupted by SIGINT" in result.out
    assert "had no room when the run stopped" in result.err


def test_a_401_while_another_writes_sent_line_waits_sends_nothing_more_and_exits_on_it(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    full_pipe: FullPipeFixture,
) -> None:  # fmt: skip
    # The first write goes out; a second write's `sent` line finds no room; the first is answered
    # 401 while it waits; then Ctrl-C.
    sim = start_sim(free_numbers(3))
    own = sim.intercept
    assert own is not None
    answered: list[RequestRecord] = []  # the write refused 401
    after: list[RequestRecord] = []  # writes that reached the API after it
    sent: list[Line] = []
    recorded: list[str] = []
    stuck = threading.Event()

    def intercept(record: RequestRecord, serve: Callable[[RequestRecord], Reply]) -> Reply:
        if record.kind == "write":
            if answered:
                after.append(record)
                return own(record, serve)
            answered.append(record)
            assert stuck.wait(DEADLINE), "no second line waited"
            return error_reply(401, "AUTH_FAILURE", "The key was revoked")
        return own(record, serve)

    sim.intercept = intercept
    record = auditlog.AuditLog.record

    def recording(self: auditlog.AuditLog, write: Any) -> None:
        recorded.append(write.outcome)
        record(self, write)

    monkeypatch.setattr(auditlog.AuditLog, "record", recording)

    def full(line: Line) -> bool:
        if line["outcome"] != "sent":
            return False
        sent.append(line)
        if len(sent) < 2:
            return False
        stuck.set()  # and the run is stopped once the 401's `failed` line waits behind this one
        wait_for(lambda: "failed" in recorded, "the 401's failed line")
        return True

    full_pipe(full)
    log = tmp_path / "audit.jsonl"

    result = run_cli("apply", one_each(tmp_path / "personas.yaml", 3), "--auto-approve",
                     "--parallelism", "3", "--log-file", log)  # fmt: skip

    assert after == [], result.out
    assert result.code == 1, result.out + result.err  # the 401 ends the run, as without a log
    assert "HTTP 401 AUTH_FAILURE" in result.err
    assert [step(line) for line in log_lines(log.read_bytes())] == [
        (answered[0].path.split("/")[3], "attach", "sent")
    ]


# -- doctor after a 401/403 ------------------------------------------------------------------------


def refuse_reads(sim: Simulator, path: str, status: int) -> Iterator[RequestRecord]:
    own = sim.intercept
    assert own is not None
    code = "AUTH_FAILURE" if status == 401 else "FORBIDDEN"
    refused: list[RequestRecord] = []

    def intercept(record: RequestRecord, serve: Callable[[RequestRecord], Reply]) -> Reply:
        if not refused and record.method == "GET" and record.path.rstrip("/") == path:
            refused.append(record)
            return error_reply(status, code, "Refused")
        return own(record, serve)

    sim.intercept = intercept
    return iter(refused)


def doctor_checks(result: Any, output_format: str) -> dict[str, tuple[str, str]]:
    if output_format == "json":
        return {c["name"]: (c["status"], c["detail"]) for c in json.loads(result.out)["checks"]}
    names = ("credentials", "personas_listing", "inbound_listing", "response_shapes",
             "consistency", "agents_listing", "agent_twins", "inbound_number")  # fmt: skip
    checks = {}
    for line in result.out.splitlines():
        status, _, rest = line.partition("  ")
        name, _, detail = rest.strip().partition("  ")
        if name in names:
            checks[name] = (status.strip(), detail.strip())
    assert set(checks) == set(names), result.out
    return checks


@pytest.mark.parametrize("output_format", ["json", "text"])
@pytest.mark.parametrize("status", [401, 403])
def test_doctor_names_the_refused_agent_listing_in_every_check_it_left_unsure(
    start_sim: StartSim, run_cli: RunCli, status: int, output_format: str
) -> None:
    # A key without the rights to v2 (403), or revoked between two reads (401).
    sim = start_sim(agent_account.state(), legacy_inbound_includes_persona=True)
    refused = refuse_reads(sim, "/v2/agents", status)

    result = run_cli("doctor", "--format", output_format)

    assert next(refused, None) is not None
    assert result.code == 1
    checks = doctor_checks(result, output_format)
    assert checks["agents_listing"][0] == "fail"
    unsure = {name: detail for name, (state, detail) in checks.items() if state != "ok"}
    assert str(status) in unsure.get("consistency", str(status)), unsure["consistency"]
    assert all(str(status) in detail for detail in unsure.values()), unsure


@pytest.mark.parametrize("output_format", ["json", "text"])
@pytest.mark.parametrize("status", [401, 403])
def test_doctor_with_page_2_of_the_listing_refused_reads_nothing_more_and_says_so(
    start_sim: StartSim, run_cli: RunCli, status: int, output_format: str
) -> None:
    example = json.loads((EXAMPLES / "account.json").read_text())
    sim = start_sim(example, limit_cap=1)  # one persona a page: page 2 holds one
    own = sim.intercept
    assert own is not None
    after: list[RequestRecord] = []

    def intercept(record: RequestRecord, serve: Callable[[RequestRecord], Reply]) -> Reply:
        if after or (record.path.rstrip("/") == "/v1/personas" and record.query.get("page") == "2"):
            after.append(record)
            if len(after) == 1:
                return error_reply(status, "AUTH_FAILURE" if status == 401 else "FORBIDDEN", "No")
        return own(record, serve)

    sim.intercept = intercept

    result = run_cli("doctor", "--format", output_format)

    assert result.code == 1
    # Nothing read after the refusal but listing pages already asked for alongside page 2.
    assert {(r.path, r.query.get("limit")) for r in after} == {("/v1/personas", "100")}, after
    checks = doctor_checks(result, output_format)
    assert checks["credentials"][0] == "fail" and str(status) in checks["credentials"][1]
    assert all(state == "fail" for state, _ in checks.values()), checks
    assert TEST_KEY not in result.out + result.err
