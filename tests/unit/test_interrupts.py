"""The signal handlers of a run, tested in-process with signals the test raises itself."""

from __future__ import annotations

import signal
from typing import NoReturn

import pytest

from reconciler.interrupts import GracefulStop, stop_at_once


class Stopped(Exception):
    """What the test's `stop` raises instead of ending the process."""


def stop(signum: int) -> NoReturn:
    raise Stopped(signum)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stop_at_once_hands_the_signal_over_then_puts_the_handlers_back(signum: int) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(Stopped) as stopped, stop_at_once(stop):
        signal.raise_signal(signum)
    assert stopped.value.args == (signum,)
    assert {s: signal.getsignal(s) for s in before} == before


def test_a_second_signal_in_a_graceful_stop_goes_to_the_stop_at_once() -> None:
    asked: list[int] = []
    second: list[int] = []
    with stop_at_once(stop), GracefulStop(asked.append, second.append) as graceful:
        signal.raise_signal(signal.SIGTERM)
        assert graceful.event.is_set() and asked == [signal.SIGTERM] and second == []
        with pytest.raises(Stopped) as stopped:
            signal.raise_signal(signal.SIGINT)
    assert second == [signal.SIGINT]
    assert stopped.value.args == (signal.SIGINT,)
    assert graceful.signal_name == "SIGTERM"
