"""The signal handlers of a run, tested in-process with signals the test raises itself."""

from __future__ import annotations

import signal
from typing import NoReturn

import pytest

from reconciler.interrupts import GracefulStop, handled_by


class Stopped(Exception):
    """What the test's `stop` raises instead of ending the process."""


def stop(signum: int) -> NoReturn:
    raise Stopped(signum)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_handled_by_hands_the_signal_over_then_puts_the_handlers_back(signum: int) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(Stopped) as stopped, handled_by(stop):
        signal.raise_signal(signum)
    assert stopped.value.args == (signum,)
    assert {s: signal.getsignal(s) for s in before} == before


def test_a_second_signal_in_a_graceful_stop_goes_to_on_second() -> None:
    asked: list[int] = []
    graceful = GracefulStop(asked.append, stop)
    with handled_by(stop), handled_by(graceful):
        signal.raise_signal(signal.SIGTERM)
        assert graceful.event.is_set() and asked == [signal.SIGTERM]
        with pytest.raises(Stopped) as stopped:
            signal.raise_signal(signal.SIGINT)
    assert stopped.value.args == (signal.SIGINT,)
    assert asked == [signal.SIGTERM]
    assert graceful.signal_name == "SIGTERM"
