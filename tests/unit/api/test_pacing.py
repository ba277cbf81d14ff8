"""Adaptive write concurrency: halved by a 429, grown back by a run of successes."""

from __future__ import annotations

import threading

from reconciler.api.pacing import GROW_AFTER, AdaptiveWriteLimit


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
