"""The simulator's log of API requests, shared by every request thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

RequestKind = Literal["read", "write"]


@dataclass(frozen=True)
class RequestRecord:
    """One API request as the simulator saw it.

    ``status`` is the HTTP status the simulator decided on; 0 while the request is in flight
    and for requests that hung. ``dropped`` marks writes that were applied but whose
    connection was closed before any response was sent.
    """

    method: str
    path: str
    query: dict[str, str]
    status: int
    body: Any
    kind: RequestKind
    persona_id: str | None
    dropped: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The record as served by GET /_sim/log."""
        return {
            "method": self.method,
            "path": self.path,
            "query": dict(self.query),
            "status": self.status,
            "kind": self.kind,
            "persona_id": self.persona_id,
            "body": self.body,
            "dropped": self.dropped,
        }


# Where an arrived request's record sits, so it can be replaced once the request is answered.
LogSlot = tuple[list[RequestRecord], int]


class RequestLog:
    """Records in arrival order; a record is logged on arrival and replaced when answered."""

    def __init__(self) -> None:
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()

    def records(self) -> list[RequestRecord]:
        """A copy of the records, in arrival order."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records = []

    def arrived(self, record: RequestRecord) -> LogSlot:
        """Log a request that has just arrived; returns its slot for :meth:`answered`."""
        with self._lock:
            self._records.append(record)
            return self._records, len(self._records) - 1

    def answered(self, slot: LogSlot, record: RequestRecord) -> None:
        """Replace the record in ``slot`` with its answered form."""
        with self._lock:
            entries, index = slot
            # After clear() the slot belongs to a discarded list; writing it is harmless.
            entries[index] = record
