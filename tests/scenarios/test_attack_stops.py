"""Attacks on the latest fixes: a --log-file pipe that waits for room until the run is stopped,
doctor naming the 401/403 after which a read was not sent, and a config file whose read fails.

Most were defects, each found as a failing test before its fix; the rest hold and no other test
drives them.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler import auditlog
from reconciler.simulator import RequestRecord
from reconciler.simulator.api import Reply, error_reply
from tests.conftest import CONFIG, ROOT, TEST_KEY, RunCli, write_config
from tests.scenarios import agent_account
from tests.scenarios.conftest import StartSim
from tests.scenarios.test_broken_pipe import free_numbers, one_each
from tests.simulated import Simulator

pytestmark = pytest.mark.skipif(
    not hasattr(fcntl, "F_SETPIPE_SZ"), reason="needs Linux pipes (F_SETPIPE_SZ)"
)

DEADLINE = 60.0  # seconds any poll below waits for its condition before failing


def cli_environment(sim: Simulator) -> dict[str, str]:
    env = {**os.environ, "BLAND_API_KEY": TEST_KEY, "NO_COLOR": "1", "BLAND_API_URL": sim.url}
    env.pop("BLAND_API_KEY_FILE", None)
    return env


def apply_logging_to(
    sim: Simulator, config: Path, log: Path, *options: str
) -> subprocess.Popen[str]:
    """`reconciler apply CONFIG --auto-approve --log-file LOG OPTIONS` in a process of its own,
    its output read as text."""
    command = [sys.executable, "-m", "reconciler", "apply", str(config), "--auto-approve"]
    return subprocess.Popen(
        [*command, "--log-file", str(log), *options], env=cli_environment(sim), cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for(condition: Callable[[], bool], what: str) -> None:
    give_up = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < give_up, f"never happened: {what}"
        threading.Event().wait(0.01)


def pending(descriptor: int) -> int:
    """How many bytes wait in a pipe, read from its read end."""
    buffer = bytearray(4)
    fcntl.ioctl(descriptor, termios.FIONREAD, buffer)
    return int.from_bytes(buffer, sys.byteorder)


def drain(descriptor: int) -> bytes:
    """All a pipe holds now (its read end non-blocking)."""
    chunks = []
    while True:
        try:
            chunk = os.read(descriptor, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def log_fifo(tmp_path: Path) -> tuple[Path, int]:
    """A FIFO of one page (4096 bytes) opened for reading, no byte read yet."""
    fifo = tmp_path / "audit.pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    fcntl.fcntl(reader, fcntl.F_SETPIPE_SZ, 4096)
    return fifo, reader


def many_on_one(tmp_path: Path, count: int) -> tuple[dict[str, Any], Path]:
    """One persona with no number and `count` free numbers; a config giving it all of them: one
    attach whose log line is longer than the pipe's 4096 bytes."""
    numbers = [f"+1415555{i:04d}" for i in range(count)]
    state = {
        "numbers": [{"phone_number": number} for number in numbers],
        "personas": [{"id": "p-many", "name": "Many"}],
    }
    return state, write_config(tmp_path / "personas.yaml", [{"id": "p-many", "numbers": numbers}])


def log_lines(data: bytes) -> list[dict[str, Any]]:
    """The log's lines as JSON: each whole (ended by a newline) or the assertion says which not."""
    text = data.decode()
    assert text.endswith("\n"), f"the log ends in a cut line: ...{text[-80:]!r}"
    return [json.loads(line) for line in text.splitlines()]


# -- --log-file: a pipe ----------------------------------------------------------------------------


def test_a_line_the_signal_cuts_in_the_log_pipe_is_said_and_nothing_is_glued_to_it(
    tmp_path: Path,
) -> None:
    # `--log-file >(reader)` whose reader has stopped reading; the attach's `sent` line (300
    # numbers, some 5,000 bytes) finds room for its first 4,096 bytes only. Ctrl-C.
    state, config = many_on_one(tmp_path, 300)
    fifo, reader = log_fifo(tmp_path)
    with Simulator(state, api_key=TEST_KEY) as sim:
        process = apply_logging_to(sim, config, fifo)
        try:
            wait_for(lambda: pending(reader) > 0 or process.poll() is not None, "a log line")
            assert process.poll() is None, process.communicate()
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=DEADLINE)
            assert sim.writes() == [], out + err  # its `sent` line did not go out whole
        finally:
            process.kill()
            process.wait()
        log = drain(reader)
        os.close(reader)

    # A line longer than the room a pipe has is written in pieces: one the signal cuts short
    # stays cut (nothing can finish it), the run says so, and no line is written after it.
    assert process.returncode == 130, err
    whole, _, cut = log.rpartition(b"\n")
    assert cut and not whole, log[:200]
    assert f"warning: the log file {fifo} had no room when the run stopped" in err, err


def test_long_lines_to_a_slow_reader_arrive_whole_in_order_and_none_lost(tmp_path: Path) -> None:
    # Four personas of 300 numbers each: every line is longer than the pipe's 4096 bytes and
    # goes out in pieces, to a reader taking 1,000 bytes at a time.
    count, each = 4, 300
    numbers = [f"+1415555{i:04d}" for i in range(count * each)]
    state = {
        "numbers": [{"phone_number": number} for number in numbers],
        "personas": [{"id": f"p{i:02d}", "name": f"Persona {i:02d}"} for i in range(count)],
    }
    entries = [
        {"id": f"p{i:02d}", "numbers": numbers[i * each : (i + 1) * each]} for i in range(count)
    ]
    config = write_config(tmp_path / "personas.yaml", entries)
    fifo, reader = log_fifo(tmp_path)
    os.set_blocking(reader, True)
    keeper = os.open(fifo, os.O_WRONLY)  # the reader sees the end only once this is closed too
    received: list[bytes] = []

    def read_slowly() -> None:
        while chunk := os.read(reader, 1000):
            received.append(chunk)
            threading.Event().wait(0.001)

    slow = threading.Thread(target=read_slowly)
    with Simulator(state, api_key=TEST_KEY) as sim:
        command = [sys.executable, "-m", "reconciler", "apply", str(config), "--auto-approve"]
        slow.start()
        try:
            done = subprocess.run(
                [*command, "--log-file", str(fifo), "--parallelism", "4"],
                env=cli_environment(sim), cwd=ROOT, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True,
                timeout=120, check=False,
            )  # fmt: skip
        finally:
            os.close(keeper)
            slow.join(timeout=DEADLINE)
            os.close(reader)

    assert done.returncode == 0, done.stderr
    lines = log_lines(b"".join(received))
    assert len(lines) == 2 * count
    for persona in (f"p{i:02d}" for i in range(count)):
        own = [line["outcome"] for line in lines if line["persona_id"] == persona]
        assert own == ["sent", "done"], own
        assert len(next(line for line in lines if line["persona_id"] == persona)["numbers"]) == each


def test_a_write_waiting_on_the_log_pipe_is_not_sent_after_the_signal(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first write's `sent` line waits for room in the log's pipe; Ctrl-C comes while it
    # waits (the run's stop event is set), and then the reader makes room: the line goes out.
    sim = start_sim(free_numbers(2))
    config = one_each(tmp_path / "personas.yaml", 2)
    fifo, reader = log_fifo(tmp_path)
    stops: list[threading.Event] = []
    made = auditlog.AuditLog.__init__
    write_line = auditlog.AuditLog._write

    def opened(self: auditlog.AuditLog, path: str, stop: threading.Event) -> None:
        stops.append(stop)
        made(self, path, stop)

    waited: list[int] = []

    def write_after_the_signal(self: auditlog.AuditLog, data: bytes) -> None:
        if not waited:
            waited.append(1)
            os.kill(os.getpid(), signal.SIGINT)
            assert stops[0].wait(DEADLINE), "the signal never reached the run"
        write_line(self, data)

    monkeypatch.setattr(auditlog.AuditLog, "__init__", opened)
    monkeypatch.setattr(auditlog.AuditLog, "_write", write_after_the_signal)
    try:
        result = run_cli(
            "apply", config, "--auto-approve", "--parallelism", "1", "--log-file", fifo
        )
        log = log_lines(drain(reader))
    finally:
        os.close(reader)

    assert waited, result.out + result.err  # the `sent` line did wait
    assert result.code == 130, result.out + result.err
    assert sim.writes() == [], result.out  # the write waiting when the signal came: not sent
    outcomes = [(line["persona_id"], line["outcome"]) for line in log]
    assert outcomes == [("p00", "sent"), ("p00", "skipped"), ("p01", "skipped")], log


def test_a_full_log_pipe_on_a_high_descriptor_waits_then_ends_with_the_report(
    tmp_path: Path,
) -> None:
    # Started by a program that leaves many descriptors open (a supervisor, a CI runner):
    # the log file is opened past 1023. Its reader stops reading; Ctrl-C.
    count = 40
    state = free_numbers(count)
    config = one_each(tmp_path / "personas.yaml", count)
    fifo, reader = log_fifo(tmp_path)
    # Descriptors 3 to 1099 held open (on /dev/null) across the exec, as such a parent leaves them.
    holder = (
        "import os, sys; held = os.open(os.devnull, os.O_RDONLY); "
        "[os.dup2(held, n, inheritable=True) for n in range(3, 1100) if n != held]; "
        "os.set_inheritable(held, True); os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
    )
    with Simulator(state, api_key=TEST_KEY) as sim:
        command = [sys.executable, "-c", holder, "-m", "reconciler", "apply", str(config)]
        process = subprocess.Popen(
            [*command, "--auto-approve", "--log-file", str(fifo), "--parallelism", "1"],
            env=cli_environment(sim), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            wait_for(
                lambda: pending(reader) >= 3500 or process.poll() is not None, "a full log pipe"
            )
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=DEADLINE)
        finally:
            process.kill()
            process.wait()
            os.close(reader)

    assert "Traceback" not in err and "unexpected" not in err, err[-600:]
    assert process.returncode == 130, err[-600:]
    assert "Apply interrupted by SIGINT" in out + err, out + err


def test_an_outcome_line_dropped_at_the_signal_is_said(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reader is slow: the write's `sent` line goes out, its `done` line finds the pipe full
    # (EAGAIN, made here for that line alone); Ctrl-C while it waits for room.
    sim = start_sim(free_numbers(1))
    config = one_each(tmp_path / "personas.yaml", 1)
    log = tmp_path / "audit.jsonl"
    stops: list[threading.Event] = []
    made = auditlog.AuditLog.__init__

    def opened(self: auditlog.AuditLog, path: str, stop: threading.Event) -> None:
        stops.append(stop)
        made(self, path, stop)

    class Os:
        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        @staticmethod
        def write(descriptor: int, data: bytes) -> int:
            if b'"outcome": "done"' in data:  # no room for it, and Ctrl-C while it waits
                if not stops[0].is_set():
                    os.kill(os.getpid(), signal.SIGINT)
                    assert stops[0].wait(DEADLINE), "the signal never reached the run"
                raise BlockingIOError
            return os.write(descriptor, data)

    monkeypatch.setattr(auditlog.AuditLog, "__init__", opened)
    monkeypatch.setattr(auditlog, "os", Os())

    result = run_cli("apply", config, "--auto-approve", "--log-file", log)

    assert len(sim.writes()) == 1, result.out  # the write went out and was answered
    assert result.code == 130, result.out + result.err
    outcomes = [line["outcome"] for line in log_lines(log.read_bytes())]
    assert outcomes == ["sent", "done"] or str(log) in result.err, (outcomes, result.err)


def test_a_log_reader_that_goes_away_stops_the_run_in_one_line(tmp_path: Path) -> None:
    # `--log-file >(head -c 1)`: the reader reads a little and exits; the next line meets a
    # pipe with no reader (EPIPE, or SIGPIPE were it not ignored).
    count = 20
    state = free_numbers(count)
    config = one_each(tmp_path / "personas.yaml", count)
    fifo, reader = log_fifo(tmp_path)
    with Simulator(state, api_key=TEST_KEY) as sim:
        process = apply_logging_to(sim, config, fifo, "--parallelism", "1")
        try:
            wait_for(lambda: pending(reader) > 0 or process.poll() is not None, "a log line")
            os.close(reader)
            out, err = process.communicate(timeout=DEADLINE)
        finally:
            process.kill()
            process.wait()
        sent = len(sim.writes())

    assert process.returncode == 1, err
    assert "Traceback" not in err, err
    assert f"error: {fifo}: cannot write the log file (Broken pipe): the run stopped\n" in err, err
    assert sent < count, out  # the writes after the line that failed were not sent


# -- doctor after a 401/403 ------------------------------------------------------------------------


def refuse_once(sim: Simulator, path: str, status: int) -> None:
    own = sim.intercept
    assert own is not None
    code = "AUTH_FAILURE" if status == 401 else "FORBIDDEN"

    def intercept(record: RequestRecord, serve: Callable[[RequestRecord], Reply]) -> Reply:
        if record.method == "GET" and record.path.rstrip("/") == path:
            return error_reply(status, code, "Refused")
        return own(record, serve)

    sim.intercept = intercept


@pytest.mark.parametrize("status", [401, 403])
def test_doctor_never_says_ok_of_a_number_read_a_401_or_403_stopped(
    start_sim: StartSim, run_cli: RunCli, status: int
) -> None:
    sim = start_sim(agent_account.state(), legacy_inbound_includes_persona=True)
    refuse_once(sim, "/v1/inbound", status)

    result = run_cli("doctor", "--format", "json")

    checks = {check["name"]: check for check in json.loads(result.out)["checks"]}
    assert result.code == 1
    assert checks["personas_listing"]["status"] == "ok"  # numbers were listed on personas
    number = checks["inbound_number"]
    assert number["status"] != "ok" and str(status) in number["detail"], number


# -- a config file whose read fails (EIO) ----------------------------------------------------------

UNREADABLE = "/proc/self/mem"  # a regular file whose first read fails (EIO)


@pytest.mark.skipif(not os.path.exists(UNREADABLE), reason="needs /proc/self/mem")
@pytest.mark.parametrize(
    "args",
    [
        ["validate", str(CONFIG), UNREADABLE],
        ["plan", str(CONFIG), UNREADABLE, "--out", "saved.plan"],
        ["apply", str(CONFIG), UNREADABLE, "--format", "json"],  # asks is_plan_file first
        ["apply", UNREADABLE, str(CONFIG), "--auto-approve", "--log-file", "audit.jsonl"],
    ],
    ids=["validate", "plan --out", "apply json", "apply --log-file"],
)
def test_a_config_file_whose_read_fails_among_others_is_one_line_and_nothing_is_written(
    sim: Simulator, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    args: list[str],
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)

    result = run_cli(*args)

    assert result.code == 1
    assert result.err == f"error: {UNREADABLE}: cannot read the file (input/output error)\n"
    assert sim.writes() == []
    assert list(tmp_path.iterdir()) == []  # no plan file, no log file
