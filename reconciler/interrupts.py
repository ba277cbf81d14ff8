"""SIGINT and SIGTERM: at once outside an apply's writes, after the writes on the wire within.

Within the writes, so that the user knows what was done, GracefulStop makes the first signal ask
the run to stop and a second one stop at once, as Terraform does. Handlers are installed from the
main thread only: elsewhere both run without.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, NoReturn, Self

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _install(handler: Callable[[int, FrameType | None], Any]) -> dict[int, Any]:
    """Handle the stop signals with `handler`; the handlers it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}


def _restore(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    previous.clear()


@contextmanager
def stop_at_once(stop: Callable[[int], NoReturn]) -> Iterator[None]:
    """While active, SIGINT and SIGTERM call `stop` (which ends the process) with the signal."""
    previous = _install(lambda signum, _frame: stop(signum))
    try:
        yield
    finally:
        _restore(previous)


class GracefulStop:
    """While active, the first SIGINT/SIGTERM sets `event` and calls `on_stop`; a second one
    calls `on_second`, then is handled as it would have been without this one."""

    def __init__(self, on_stop: Callable[[int], None], on_second: Callable[[int], None]) -> None:
        self.event = threading.Event()
        self.signal_number: int | None = None
        self._on_stop = on_stop
        self._on_second = on_second
        self._previous: dict[int, Any] = {}

    @property
    def signal_name(self) -> str:
        """SIGINT or SIGTERM."""
        return signal.Signals(self.signal_number).name if self.signal_number else ""

    def __enter__(self) -> Self:
        self._previous = _install(self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _restore(self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            self._on_second(signum)
            _restore(self._previous)
            signal.raise_signal(signum)
            return
        self.signal_number = signum
        self.event.set()
        self._on_stop(signum)
