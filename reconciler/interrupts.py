"""SIGINT and SIGTERM during apply: finish the writes on the wire, report, exit 130 or 143.

Killing the process mid-write would leave the user not knowing what was done. The first signal
only asks the run to stop; a second one falls back to the usual behaviour (SIGINT raises
KeyboardInterrupt, SIGTERM ends the process), as Terraform does.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulStop:
    """While active, the first SIGINT/SIGTERM sets `event` and calls `on_stop` once."""

    def __init__(self, on_stop: Callable[[int], None]) -> None:
        self.event = threading.Event()
        self.signal_number: int | None = None
        self._on_stop = on_stop
        self._previous: dict[int, Any] = {}

    @property
    def signal_name(self) -> str:
        """SIGINT or SIGTERM."""
        return signal.Signals(self.signal_number).name if self.signal_number else ""

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            self._restore()
            signal.raise_signal(signum)
            return
        self.signal_number = signum
        self.event.set()
        self._on_stop(signum)

    def __enter__(self) -> GracefulStop:
        # Signal handlers can only be installed from the main thread; elsewhere run without.
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._restore()
