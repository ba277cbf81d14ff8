"""How many writes one client may have in flight: fewer after a 429, more after successes.

Bland publishes no rate limit, so nothing is guessed: a 429 halves how many writes may be in
flight (and holds every request for its Retry-After, `transport`); a run of successful writes adds
one back (additive increase, multiplicative decrease, as TCP does).
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
