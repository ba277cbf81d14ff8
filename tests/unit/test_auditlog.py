"""The --log-file audit trail: its lines, and the mode of the file."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import threading
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import pytest

from reconciler import auditlog
from reconciler.apply.result import Write
from reconciler.auditlog import AuditLog
from reconciler.errors import InputError, LogFailed, NotSent
from reconciler.secrets import REDACTOR

KEY = "sk-secret-0123456789"
NOW = datetime(2026, 11, 27, 3, 0, 1, 123456, tzinfo=UTC)


class _Stopped(datetime):
    """A clock that stays at NOW."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _Stopped:
        return cls.fromtimestamp(NOW.timestamp(), tz)


def test_a_write_gets_a_sent_line_then_its_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.log"
    monkeypatch.setattr(auditlog, "datetime", _Stopped)
    REDACTOR.add(KEY)  # hidden without the caller's help
    audit = AuditLog(str(path), threading.Event())
    audit.record(Write("p1", f"Sales {KEY}", "attach", ("+14155550110",), outcome="sent"))
    audit.record(Write("p1", f"Sales {KEY}", "attach", ("+14155550110",)))
    audit.record(Write("p2", "IVR", "detach", ("+14155550102",)).skipped_because("stopped"))
    audit.close()
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {
            "time": "2026-11-27T03:00:01.123Z",
            "persona_id": "p1",
            "persona_name": "Sales ***",
            "action": "attach",
            "numbers": ["+14155550110"],
            "outcome": "sent",
        },
        {
            "time": "2026-11-27T03:00:01.123Z",
            "persona_id": "p1",
            "persona_name": "Sales ***",
            "action": "attach",
            "numbers": ["+14155550110"],
            "outcome": "done",
        },
        {
            "time": "2026-11-27T03:00:01.123Z",
            "persona_id": "p2",
            "persona_name": "IVR",
            "action": "detach",
            "numbers": ["+14155550102"],
            "outcome": "skipped",
            "reason": "stopped",
        },
    ]


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_a_new_log_file_is_readable_by_its_owner_only(umask: int, tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    old = os.umask(umask)
    try:
        audit = AuditLog(str(path), threading.Event())
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert audit.warning is None
    audit.close()
    assert not path.exists()  # created and never written to: removed


def test_a_new_log_file_with_a_line_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    audit = AuditLog(str(path), threading.Event())
    audit.record(Write("p-1", "Sales", "attach", ("+14155550100",), outcome="sent"))
    audit.close()
    assert path.read_text().count("\n") == 1


def test_an_existing_log_file_keeps_its_mode_and_content(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    path.write_text('{"earlier": true}\n')
    path.chmod(0o604)
    audit = AuditLog(str(path), threading.Event())
    audit.record(Write("p1", "Sales", "attach", ("+14155550110",), outcome="sent"))
    audit.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o604
    assert path.read_text().startswith('{"earlier": true}\n{"time"')
    assert audit.warning == (
        f"warning: the log file {path} can be read by group or others (mode 0604): "
        f"run chmod 600 {path}"
    )


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_a_line_that_cannot_be_written_fails_every_later_one_and_close_still_closes() -> None:
    audit = AuditLog("/dev/full", threading.Event())
    sent = Write("p1", "Sales", "attach", ("+14155550110",), outcome="sent")
    for write in (sent, Write("p1", "Sales", "attach", ("+14155550110",))):
        with pytest.raises(LogFailed, match=r"^/dev/full: cannot write the log file \(No space"):
            audit.record(write)
    audit.close()


def test_a_fifo_no_one_reads_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "log"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="cannot open the log file"):
        AuditLog(str(fifo), threading.Event())  # before: waited for a reader for ever


def test_a_fifo_with_a_reader_takes_the_lines(tmp_path: Path) -> None:
    fifo = tmp_path / "log"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        log = AuditLog(str(fifo), threading.Event())
        log.record(Write("p1", "P1", "attach", ("+14155550101",), outcome="sent"))
        log.close()
        assert json.loads(os.read(reader, 65536))["outcome"] == "sent"
    finally:
        os.close(reader)


@pytest.mark.skipif(not hasattr(fcntl, "F_SETPIPE_SZ"), reason="needs F_SETPIPE_SZ")
def test_a_line_waits_for_room_in_a_pipe_until_the_run_is_stopped(tmp_path: Path) -> None:
    fifo = tmp_path / "log"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    fcntl.fcntl(reader, fcntl.F_SETPIPE_SZ, 4096)
    stop = threading.Event()
    log = AuditLog(str(fifo), stop)
    line = Write("p1", "P1", "attach", ("+14155550101",), outcome="sent")
    written: list[int] = []
    dropped: list[NotSent] = []

    def record_until_dropped() -> None:
        try:
            while True:
                log.record(line)
                written.append(1)
        except NotSent as error:
            dropped.append(error)

    try:
        waiting = threading.Thread(target=record_until_dropped)
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive() and not dropped  # the pipe is full: a line waits for room
        before = len(written)
        os.read(reader, 65536)
        waiting.join(0.5)
        assert len(written) > before  # room again: the lines go on
        stop.set()  # stopped: the line waiting for room is dropped
        waiting.join(5)
        assert not waiting.is_alive()
        assert str(dropped[0]) == "not sent: the run was interrupted before it was sent"
    finally:
        stop.set()
        log.close()
        os.close(reader)
