"""The pacing of one client: adaptive write concurrency, 429 pauses and the fixed rate cap."""

from __future__ import annotations

import threading

from reconciler.api.pacing import GROW_AFTER, AdaptiveWriteLimit, Pacer


class Clock:
    """A clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def finish(limit: AdaptiveWriteLimit, outcome: str) -> None:
    with limit.slot() as ticket:
        ticket.outcome = outcome


def test_a_429_halves_the_limit_and_successes_grow_it_back_by_one() -> None:
    notes: list[str] = []
    limit = AdaptiveWriteLimit(8, notify=notes.append)
    finish(limit, "rate_limited")
    assert limit.limit == 4
    finish(limit, "rate_limited")
    assert limit.limit == 2
    for _ in range(GROW_AFTER - 1):
        finish(limit, "ok")
    assert limit.limit == 2
    finish(limit, "ok")
    assert limit.limit == 3
    finish(limit, "other")  # an error that says nothing about load changes nothing
    assert limit.limit == 3
    assert limit.lowest == 2
    assert notes[0] == "rate limited: concurrent writes lowered to 4"
    assert notes[-1].endswith("concurrent writes raised to 3")


def test_the_limit_never_grows_past_the_ceiling_nor_falls_below_one() -> None:
    limit = AdaptiveWriteLimit(2, notify=lambda _: None)
    for _ in range(3 * GROW_AFTER):
        finish(limit, "ok")
    assert limit.limit == 2
    for _ in range(5):
        finish(limit, "rate_limited")
    assert limit.limit == 1


def test_429s_of_writes_sent_together_halve_the_limit_once() -> None:
    limit = AdaptiveWriteLimit(8, notify=lambda _: None)
    with limit.slot() as first, limit.slot() as second, limit.slot() as third:
        first.outcome = second.outcome = third.outcome = "rate_limited"
    assert limit.limit == 4


def test_no_more_writes_in_flight_than_the_limit() -> None:
    limit = AdaptiveWriteLimit(4, notify=lambda _: None)
    finish(limit, "rate_limited")  # limit 2
    entered = threading.Semaphore(0)
    release = threading.Event()
    in_flight: list[int] = []
    peak: list[int] = []
    lock = threading.Lock()

    def writer() -> None:
        with limit.slot() as ticket:
            with lock:
                in_flight.append(1)
                peak.append(len(in_flight))
            entered.release()
            release.wait()
            with lock:
                in_flight.pop()
            ticket.outcome = "ok"

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for thread in threads:
        thread.start()
    entered.acquire()
    entered.acquire()
    # Two writers are inside; the other four are blocked on the limit, not on time.
    assert not entered.acquire(blocking=False)
    release.set()
    for thread in threads:
        thread.join()
    assert max(peak) == 2
    assert len(peak) == 6


def test_a_pause_holds_the_next_request() -> None:
    clock = Clock()
    pacer = Pacer(max_rps=None, sleep=clock.sleep, clock=clock)
    pacer.pause(3.0)
    assert pacer.pause_remaining() == 3.0
    assert pacer.wait_turn() == (3.0, 0.0)
    assert pacer.wait_turn() == (0.0, 0.0)


def test_max_rps_spaces_request_starts() -> None:
    clock = Clock()
    pacer = Pacer(max_rps=4, sleep=clock.sleep, clock=clock)
    waits = [pacer.wait_turn()[1] for _ in range(4)]
    assert waits == [0.0, 0.25, 0.25, 0.25]
    clock.now += 10  # idle time is not saved up into a burst
    assert [pacer.wait_turn()[1] for _ in range(2)] == [0.0, 0.25]
