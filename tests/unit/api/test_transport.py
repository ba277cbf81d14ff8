"""One request against httpx.MockTransport: error answers, retries, deadline, 429 pauses, cancel;
and the write limit, halved by a 429 and grown back by a run of successes."""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

import httpx
import pytest

from reconciler.api import BlandClient
from reconciler.api.transport import GROW_AFTER, ClientStats, InFlight, RetryableFailure
from reconciler.errors import ApiError, AuthError, NotSent
from tests.unit.api.mock_api import make_client, persona_json

ERROR_SHAPES = {
    "envelope array": (
        400,
        {"data": None, "errors": [{"error": "INVALID_INBOUND_NUMBERS", "message": "not yours"}]},
        "INVALID_INBOUND_NUMBERS",
        "not yours",
    ),
    "envelope string": (
        404,
        {"data": None, "errors": "PERSONA_NOT_FOUND: Persona not found"},
        "PERSONA_NOT_FOUND",
        "Persona not found",
    ),
    "legacy status": (400, {"status": "error", "message": "Bad things"}, None, "Bad things"),
    "bare error": (404, {"error": "Phone number not found"}, None, "Phone number not found"),
}


@pytest.mark.parametrize(
    "status, body, code, message", ERROR_SHAPES.values(), ids=ERROR_SHAPES.keys()
)
def test_every_error_shape_becomes_an_api_error(
    status: int, body: Any, code: str | None, message: str
) -> None:
    client, _ = make_client(lambda request: httpx.Response(status, json=body))
    with pytest.raises(ApiError) as raised:
        client.get_persona("p1")
    assert raised.value.status == status
    assert raised.value.code == code
    assert raised.value.api_message == message
    assert message in str(raised.value)


def test_errors_in_a_2xx_envelope_are_errors() -> None:
    body = {"data": None, "errors": [{"error": "SOMETHING", "message": "went wrong"}]}
    client, _ = make_client(lambda request: httpx.Response(200, json=body))
    with pytest.raises(ApiError, match="SOMETHING"):
        client.get_persona("p1")


def test_html_error_body() -> None:
    html = "<html><body><h1>418</h1></body></html>"
    client, _ = make_client(
        lambda request: httpx.Response(418, text=html, headers={"content-type": "text/html"})
    )
    with pytest.raises(ApiError, match=r"HTTP 418: non-JSON body \(text/html\)"):
        client.get_persona("p1")


def test_401_is_an_auth_error_and_is_not_retried() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        body = {"data": None, "errors": [{"error": "AUTH_FAILURE", "message": "bad key"}]}
        return httpx.Response(401, json=body)

    client, slept = make_client(handler)
    with pytest.raises(AuthError, match="check BLAND_API_KEY") as raised:
        client.list_account_numbers()
    assert "secret-key" not in str(raised.value)
    assert calls == ["/v1/inbound"]
    assert slept == []


def test_transient_statuses_are_retried_with_retry_after() -> None:
    statuses = [429, 503, 200]

    def handler(request: httpx.Request) -> httpx.Response:
        status = statuses.pop(0)
        if status == 429:
            return httpx.Response(
                429, json={"status": "error", "message": "Rate limit"}, headers={"retry-after": "3"}
            )
        if status == 503:
            return httpx.Response(503, json={"data": None, "errors": [{"error": "DOWN"}]})
        return httpx.Response(200, json={"data": persona_json(1), "errors": None})

    client, slept = make_client(handler)
    assert client.get_persona("p00001").id == "p00001"
    assert 3.0 in slept
    assert client.stats.retries == 2


def test_gives_up_after_the_attempt_limit() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(502, text="bad gateway")

    client, slept = make_client(handler, attempts=5)
    with pytest.raises(ApiError, match="gave up"):
        client.get_persona("p1")
    assert len(calls) == 5
    assert len(slept) == 4
    assert all(0 <= seconds <= 10 for seconds in slept)


def test_a_retry_after_longer_than_the_deadline_fails_fast() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(429, headers={"retry-after": "3600"}, json={"status": "error"})

    client, slept = make_client(handler, timeout=30)
    with pytest.raises(ApiError):
        client.get_persona("p1")
    assert calls == [1]
    assert slept == []


def test_a_429_pause_longer_than_the_deadline_fails_other_requests_at_once() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(429, headers={"retry-after": "600"}, json={"status": "error"})

    client, slept = make_client(handler, timeout=30)
    with pytest.raises(ApiError):
        client.get_persona("p1")
    # Another request of the same client does not sit out the 10 minutes either.
    with pytest.raises(ApiError, match="asked to wait 600s"):
        client.get_persona("p2")
    assert calls == ["/v1/personas/p1"]
    assert slept == []


def test_a_request_gives_up_within_four_times_the_timeout() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    def handler(request: httpx.Request) -> httpx.Response:
        now[0] += 1.0  # each attempt takes one second
        return httpx.Response(503, text="down")

    client = BlandClient(
        "https://api.example.test",
        "secret-key",
        timeout=2.0,
        attempts=100,
        transport=httpx.MockTransport(handler),
        sleep=sleep,
        clock=lambda: now[0],
    )
    with pytest.raises(ApiError, match="gave up"):
        client.get_persona("p1")
    assert now[0] <= 4 * 2.0


def test_cancel_stops_retrying_and_says_so() -> None:
    client: BlandClient

    def handler(request: httpx.Request) -> httpx.Response:
        client.cancel()  # as a SIGTERM arriving while this write is on the wire
        return httpx.Response(503, text="down")

    client, slept = make_client(handler)
    with pytest.raises(ApiError, match="interrupted before a retry; it may have taken effect"):
        client.attach("p1", ["+14155550100"])
    assert slept == []
    with pytest.raises(NotSent, match="not sent: the run was interrupted"):
        client.get_persona("p1")


def test_waits_side_by_side_count_once_in_the_time_waited() -> None:
    stats = ClientStats()
    for _ in range(16):  # sixteen reads held by one 5 s Retry-After
        stats.add(rate_limited=1, held=(100.0, 5.0))
    stats.add(held=(103.0, 4.0))  # a later wait, half inside that one
    stats.add(retries=1, held=(110.0, 1.5))  # and one after it
    assert (stats.rate_limited, stats.retries) == (16, 1)
    assert stats.waited == pytest.approx(5.0 + 2.0 + 1.5)


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


def test_a_429_pause_holds_every_request_of_the_client() -> None:
    clock = Clock()
    statuses = [429, 200, 200]

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"retry-after": "3"} if statuses[0] == 429 else {}
        return httpx.Response(statuses.pop(0), json={"data": persona_json(1)}, headers=headers)

    client, _ = make_client(handler, sleep=clock.sleep, clock=clock, attempts=1)
    with pytest.raises(ApiError, match="HTTP 429"):
        client.get_persona("p00001")
    client.get_persona("p00001")  # another request waits out the pause the 429 set
    client.get_persona("p00001")
    assert clock.slept == [3.0]
    assert (client.stats.waited, client.stats.rate_limited) == (3.0, 1)


def test_a_429_without_retry_after_on_a_read_halves_the_reads_in_flight() -> None:
    statuses = [429, 429, 200]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(statuses.pop(0), json={"data": persona_json(1)})

    client, _ = make_client(handler, sleep=lambda seconds: None)
    client.get_persona("p00001")  # two 429s, then the answer
    assert (client.read_limit.limit, client.read_limit.lowest) == (4, 4)  # 16, 8, 4
    assert client.write_limit.lowest == client.write_limit.ceiling  # writes are not held back


def test_the_wait_for_a_paced_turn_does_not_count_against_the_deadline() -> None:
    clock = Clock()
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        return httpx.Response(200, json={"data": persona_json(1)})

    # One request per 1,000 s: the second's turn comes long after 4 x 30 s; it waits, then goes.
    client, _ = make_client(handler, sleep=clock.sleep, clock=clock, max_rps=0.001)
    client.get_persona("p00001")
    client.get_persona("p00001")
    assert sent == ["GET", "GET"] and clock.slept == [1000.0]


def test_max_rps_spaces_request_starts() -> None:
    clock = Clock()
    client, _ = make_client(
        lambda request: httpx.Response(200, json={"data": persona_json(1)}),
        sleep=clock.sleep,
        clock=clock,
        max_rps=4,
    )
    for _ in range(4):
        client.get_persona("p00001")
    assert clock.slept == [0.25, 0.25, 0.25]
    clock.now += 10  # idle time is not saved up into a burst
    for _ in range(2):
        client.get_persona("p00001")
    assert clock.slept == [0.25] * 4


def finish(limit: InFlight, outcome: str) -> None:
    """One write through the limit: a success, a 429, or another failure ("other")."""
    with contextlib.suppress(RetryableFailure), limit.slot():
        if outcome != "ok":
            status = 429 if outcome == "rate_limited" else 503
            raise RetryableFailure(ApiError("failed", status=status), ambiguous=False)


def test_a_429_halves_the_limit_and_successes_grow_it_back_by_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.client")
    limit = InFlight(8, "writes")
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
    notes = caplog.messages
    assert notes[0] == "rate limited: concurrent writes lowered to 4"
    assert notes[-1].endswith("concurrent writes raised to 3")


def test_the_limit_never_grows_past_the_ceiling_nor_falls_below_one() -> None:
    limit = InFlight(2, "writes")
    for _ in range(3 * GROW_AFTER):
        finish(limit, "ok")
    assert limit.limit == 2
    for _ in range(5):
        finish(limit, "rate_limited")
    assert limit.limit == 1


def test_429s_of_writes_sent_together_halve_the_limit_once() -> None:
    limit = InFlight(8, "writes")
    with contextlib.suppress(RetryableFailure), limit.slot(), limit.slot(), limit.slot():
        raise RetryableFailure(ApiError("slow down", status=429), ambiguous=False)
    assert limit.limit == 4


def test_no_more_writes_in_flight_than_the_limit() -> None:
    limit = InFlight(4, "writes")
    finish(limit, "rate_limited")  # limit 2
    entered = threading.Semaphore(0)
    release = threading.Event()
    in_flight: list[int] = []
    peak: list[int] = []
    lock = threading.Lock()

    def writer() -> None:
        with limit.slot():
            with lock:
                in_flight.append(1)
                peak.append(len(in_flight))
            entered.release()
            release.wait()
            with lock:
                in_flight.pop()

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
