"""How fast one client may talk to the API: 429 pauses, an optional fixed rate, adaptive writes.

Bland publishes no rate limit, so nothing is guessed: a 429 holds every request of the client
for its Retry-After and halves how many writes may be in flight; a run of successful writes adds
one back (additive increase, multiplicative decrease, as TCP does). `--max-rps` is a fixed cap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

# Successful writes in a row after which one more write may run concurrently.
GROW_AFTER = 5


@dataclass
class WriteTicket:
    """One write's place in the limit; `epoch` says which limit it was sent under. An "other"
    outcome is an error that says nothing of load: it neither lowers nor grows the limit."""

    epoch: int
    outcome: Literal["ok", "rate_limited", "other"] = "other"


class AdaptiveWriteLimit:
    """At most `limit` writes in flight; a 429 halves the limit, a run of successes adds one."""

    def __init__(self, ceiling: int, *, notify: Callable[[str], None]) -> None:
        self._notify = notify
        self._in_flight = 0
        self._epoch = 0
        self._condition = threading.Condition()
        self.set_ceiling(ceiling)

    def set_ceiling(self, ceiling: int) -> None:
        """Start over with a new maximum (the --parallelism of the run)."""
        with self._condition:
            self.ceiling = self.limit = self.lowest = max(1, ceiling)
            self._successes = 0
            self._condition.notify_all()

    @contextmanager
    def slot(self) -> Iterator[WriteTicket]:
        """Hold one of the write slots while the write is on the wire."""
        with self._condition:
            self._condition.wait_for(lambda: self._in_flight < self.limit)
            self._in_flight += 1
            ticket = WriteTicket(self._epoch)
        try:
            yield ticket
        finally:
            with self._condition:
                self._in_flight -= 1
                self._adapt(ticket)
                self._condition.notify_all()

    def _adapt(self, ticket: WriteTicket) -> None:
        """Change the limit after a write ended, and say how it changed, if it did."""
        if ticket.outcome == "other":
            return
        self._successes = self._successes + 1 if ticket.outcome == "ok" else 0
        # Writes sent under the old limit all see the same overload: halve once per epoch.
        if ticket.outcome == "rate_limited" and ticket.epoch == self._epoch and self.limit > 1:
            self.limit //= 2
            self.lowest = min(self.lowest, self.limit)
            self._notify(f"rate limited: concurrent writes lowered to {self.limit}")
        elif self._successes >= GROW_AFTER and self.limit < self.ceiling:
            self.limit += 1
            self._successes = 0
            self._notify(
                f"{GROW_AFTER} writes in a row succeeded: concurrent writes raised to {self.limit}"
            )
        else:
            return
        self._epoch += 1


class Pacer:
    """When the next request may start: after any 429 pause and at most `max_rps` per second."""

    def __init__(
        self, *, max_rps: float | None, sleep: Callable[[float], None], clock: Callable[[], float]
    ) -> None:
        if max_rps is not None and max_rps <= 0:
            raise ValueError("max_rps must be more than 0")
        self.max_rps = max_rps
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._pause_until = 0.0
        self._next_start = 0.0

    def pause(self, seconds: float) -> None:
        """Hold every request until `seconds` from now (after a 429 with Retry-After)."""
        with self._lock:
            self._pause_until = max(self._pause_until, self._clock() + seconds)

    def pause_remaining(self) -> float:
        """Seconds left of the current 429 pause (0 when there is none)."""
        with self._lock:
            return max(0.0, self._pause_until - self._clock())

    def wait_turn(self) -> tuple[float, float]:
        """Wait for the pause and the rate cap; returns (seconds paused, seconds paced)."""
        with self._lock:
            now = self._clock()
            paused = max(0.0, self._pause_until - now)
            start = max(now + paused, self._next_start)
            if self.max_rps is not None:
                self._next_start = start + 1.0 / self.max_rps
        if start > now:
            self._sleep(start - now)
        return paused, start - now - paused
