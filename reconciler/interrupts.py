"""SIGINT and SIGTERM: `handled_by` hands them to a function while it is active. The run's ends
the process at once; within an apply's writes a GracefulStop makes the first ask the run to stop
after the writes on the wire (so that the user knows what was done) and a second one stop at once,
as Terraform does. Handlers are installed from the main thread only: elsewhere both run without."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def handled_by(handler: Callable[[int], object]) -> Iterator[None]:
    """While active, SIGINT and SIGTERM call `handler` with the signal; then the handlers it
    replaced are back."""
    signums = STOP_SIGNALS if threading.current_thread() is threading.main_thread() else ()
    previous = {signum: signal.signal(signum, lambda s, _: handler(s)) for signum in signums}
    try:
        yield
    finally:
        for signum, replaced in previous.items():
            signal.signal(signum, replaced)


class GracefulStop:
    """A handler: the first SIGINT/SIGTERM sets `event` and calls `on_stop`; a second one calls
    `on_second`, which ends the run at once."""

    def __init__(self, on_stop: Callable[[int], None], on_second: Callable[[int], object]) -> None:
        self.event = threading.Event()
        self.signal_number: int | None = None
        self._on_stop = on_stop
        self._on_second = on_second

    @property
    def signal_name(self) -> str:
        """SIGINT or SIGTERM."""
        return signal.Signals(self.signal_number).name if self.signal_number else ""

    def __call__(self, signum: int) -> None:
        if self.event.is_set():
            self._on_second(signum)
            return
        self.signal_number = signum
        self.event.set()
        self._on_stop(signum)
