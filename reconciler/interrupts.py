"""SIGINT and SIGTERM: at once outside an apply's writes, after the writes on the wire within.

Outside the writes (reading the config or the account, writing a plan file) nothing is lost by
stopping at once, and waiting for a hung request to time out would keep the user waiting for
nothing: StopAtOnce covers the whole run. During an apply's writes, killing the process
mid-write would leave the user not knowing what was done: GracefulStop makes the first signal
only ask the run to stop; a second one falls back to StopAtOnce, as Terraform does.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any, NoReturn, Self

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _SignalScope:
    """Handles SIGINT and SIGTERM with `_handle` while active; the previous handlers come back on
    exit. Signal handlers can only be installed from the main thread: elsewhere it runs without.
    """

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        raise NotImplementedError

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._restore()


class StopAtOnce(_SignalScope):
    """While active, SIGINT and SIGTERM call `stop` (which ends the process) with the signal."""

    def __init__(self, stop: Callable[[int], NoReturn]) -> None:
        super().__init__()
        self._stop = stop

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self._stop(signum)


class GracefulStop(_SignalScope):
    """While active, the first SIGINT/SIGTERM sets `event` and calls `on_stop` once.

    A second one calls `on_second`, then is handled as it would have been without this one.
    """

    def __init__(
        self, on_stop: Callable[[int], None], on_second: Callable[[int], None] = lambda _: None
    ) -> None:
        super().__init__()
        self.event = threading.Event()
        self.signal_number: int | None = None
        self._on_stop = on_stop
        self._on_second = on_second

    @property
    def signal_name(self) -> str:
        """SIGINT or SIGTERM."""
        return signal.Signals(self.signal_number).name if self.signal_number else ""

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            self._on_second(signum)
            self._restore()
            signal.raise_signal(signum)
            return
        self.signal_number = signum
        self.event.set()
        self._on_stop(signum)
