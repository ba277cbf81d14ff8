"""The --log-file audit trail: a JSON line, redacted and flushed, as each write goes out (`sent`)
and as it ends (or only `skipped`). A run killed half-way (even by SIGKILL) leaves every write it
sent on record; a `sent` line with no outcome marks one that may or may not have happened."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from datetime import UTC, datetime
from typing import Any

from reconciler.apply.result import Write
from reconciler.errors import INTERRUPTED, InputError, LogFailed, NotSent
from reconciler.files import readable_by_others
from reconciler.secrets import REDACTOR


class AuditLog:
    """An append-only JSON Lines file of writes: time, persona, action, numbers, outcome."""

    def __init__(self, path: str, stop: threading.Event) -> None:
        # O_NONBLOCK: a FIFO no one reads fails to open (ENXIO) instead of waiting for ever, and
        # a line waits for room in a pipe only until `stop` is set (a signal: see _write).
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK
        try:
            # Created 0600 as plan files are: it lists phone numbers and the personas they are on.
            try:
                descriptor, self._created = os.open(path, flags | os.O_EXCL, 0o600), True
            except FileExistsError:
                descriptor, self._created = os.open(path, flags, 0o600), False
        except OSError as error:
            raise InputError(f"{path}: cannot open the log file ({error.strerror})") from None
        self.path, self._descriptor, self._stop = path, descriptor, stop
        self._written = False
        # An existing file keeps its mode (it may be shared on purpose), with a word about it.
        self.warning = readable_by_others("log file", path)
        self._lock = threading.Lock()
        self.failed: LogFailed | NotSent | None = None

    def record(self, write: Write) -> None:
        """Append the line of a write going out (`sent`), ended or skipped. Once a line cannot be
        written, it and every later one raise: LogFailed (a full disk), or NotSent (a full pipe
        when the run stopped: dropped, so that none is glued to a line cut short)."""
        entry: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "persona_id": write.persona_id,
            "persona_name": write.persona_name,
            "action": write.action,
            "numbers": list(write.numbers),
            "outcome": write.outcome,
        }
        if write.action in ("settings", "label") and write.outcome != "sent":
            entry[write.action] = write.value  # what was (or was to be) written
        if write.outcome in ("failed", "refused"):
            entry["error"] = {"status": write.status, "code": write.code, "message": write.message}
        elif write.outcome == "skipped":
            entry["reason"] = write.error
        line = REDACTOR.clean(json.dumps(entry, ensure_ascii=False))
        with self._lock:
            if self.failed is None:
                try:
                    self._written = True
                    self._write(f"{line}\n".encode())
                except OSError as error:
                    reason = f"cannot write the log file ({error.strerror}): the run stopped"
                    self.failed = LogFailed(f"{self.path}: {reason}")
                except NotSent as error:
                    self.failed = error
            if self.failed is not None:
                raise self.failed

    def _write(self, data: bytes) -> None:
        """All of `data`, as it goes out; while a pipe has no room, until the run is stopped."""
        while data:
            try:
                data = data[os.write(self._descriptor, data) :]
            except BlockingIOError:  # polled: a descriptor may be past select()'s 1023
                if self._stop.wait(0.05):  # dropped: the write, if not yet sent, is not
                    raise NotSent(INTERRUPTED) from None

    def close(self) -> None:
        """Close the file (what a failed line left unwritten is dropped). One this run created
        and wrote nothing to (an apply refused, declined or with nothing to do) is removed."""
        with contextlib.suppress(OSError):
            os.close(self._descriptor)
            if self._created and not self._written:
                os.unlink(self.path)
