"""Attacks on how a write whose answer was lost (a 5xx, a dropped connection) is reported when
the read-back that checks it, before any resend, fails.

One defect, seen three ways, found as failing tests before its fix. The read-back runs in two
places: before a resend, inside the retry loop, and once more after the retries ran out. Inside
the loop a read-back that fails (a 429, a 5xx until its retries run out, a 404, a malformed
answer, a stop) reported the write as its own last error, "may have taken effect"; after the
loop the same failure escaped as the read-back's `GET /v1/personas/...` error, and a stop during
it reported the write "not sent", which the apply reads as skipped, although it went out. Both
places now report it alike.

What holds: inside the loop every such failure is the write's (its method, path, status, code)
and says it may have taken effect, with no resend; a 401/403 during the read-back is raised as
itself, in both places, and stops the client; a 409 on the resend after a read-back showing the
write not done comes back as itself (the caller's fallback runs); a read's own failures are
raised as they are, never "may have taken effect".
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from reconciler.api import BlandClient
from reconciler.errors import ApiError, AuthError, NotSent
from tests.unit.api.mock_api import make_client
from tests.unit.api.test_transport import Clock

WRITE = "/v1/personas/p1/inbound/attach"
READ = "/v1/personas/p1"
NUMBER = "+14155550100"
MAY_HAVE = "(gave up after retries; it may have taken effect)"
Answer = Callable[[httpx.Request], httpx.Response]


def failed(status: int, code: str, message: str, **headers: str) -> Answer:
    body = {"data": None, "errors": [{"error": code, "message": message}]}
    return lambda request: httpx.Response(status, json=body, headers=headers)


def persona(persona_id: str = "p1", numbers: tuple[str, ...] = ()) -> Answer:
    data = {"id": persona_id, "name": "P", "deleted_at": None, "inbound_numbers": list(numbers)}
    return lambda request: httpx.Response(200, json={"data": data, "errors": None})


def dropped(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadError("connection reset", request=request)


def html(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="<html></html>", headers={"content-type": "text/html"})


NOT_DONE = persona()
DONE = persona(numbers=(NUMBER,))
WRITE_LOST = failed(500, "WRITE_FAILED", "write lost")
# How a read-back can fail (each read-back GET gets the same answer until its retries run out).
READ_FAILURES: dict[str, Answer] = {
    "429 until retries run out": failed(429, "RATE_LIMITED", "slow down", **{"retry-after": "1"}),
    "429 pausing past the deadline": failed(429, "RATE_LIMITED", "wait", **{"retry-after": "600"}),
    "503 until retries run out": failed(503, "READ_DOWN", "read down"),
    "dropped until retries run out": dropped,
    "404": failed(404, "PERSONA_NOT_FOUND", "no such persona"),
    "malformed": lambda request: httpx.Response(200, json={"data": "nonsense", "errors": None}),
    "not JSON": html,
    "another persona": persona("p2"),
}


class Api:
    """Writes and reads answered from two scripts, the last answer of each repeated."""

    def __init__(self, writes: list[Answer], reads: list[Answer]) -> None:
        self.writes, self.reads = list(writes), list(reads)
        self.sent: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(f"{request.method} {request.url.path}")
        script = self.reads if request.method == "GET" else self.writes
        answer = script.pop(0) if len(script) > 1 else script[0]
        return answer(request)

    def count(self, method: str) -> int:
        return sum(line.startswith(f"{method} ") for line in self.sent)


def attach(writes: list[Answer], reads: list[Answer], attempts: int) -> tuple[Api, ApiError]:
    """attach() of NUMBER to p1 over `writes` and `reads` on a fake clock; the error it raises."""
    api, clock = Api(writes, reads), Clock()
    client, _ = make_client(api, attempts=attempts, sleep=clock.sleep, clock=clock)
    with pytest.raises(ApiError) as raised:
        client.attach("p1", [NUMBER])
    return api, raised.value


def assert_the_write_may_have_taken_effect(error: ApiError, status: int | None = 500) -> None:
    assert type(error) is ApiError, repr(error)
    assert (error.method, error.path, error.status) == ("POST", WRITE, status), str(error)
    assert str(error).startswith(f"POST {WRITE}: "), str(error)
    assert str(error).endswith(MAY_HAVE), str(error)
    if status == 500:
        assert error.code == "WRITE_FAILED" and "write lost" in str(error), str(error)


# The read-back inside the retry loop, before the resend: what the change fixed.


@pytest.mark.parametrize("read_failure", READ_FAILURES.values(), ids=READ_FAILURES.keys())
def test_a_failed_read_back_before_a_resend_reports_the_write_as_may_have_taken_effect(
    read_failure: Answer,
) -> None:
    api, error = attach([WRITE_LOST], [read_failure], attempts=5)
    assert_the_write_may_have_taken_effect(error)
    assert api.count("POST") == 1 and api.count("GET") >= 1  # never resent unchecked


def test_a_dropped_write_whose_read_back_fails_may_have_taken_effect_too() -> None:
    api, error = attach([dropped], [READ_FAILURES["404"]], attempts=5)
    assert_the_write_may_have_taken_effect(error, status=None)
    assert "no usable answer (ReadError)" in str(error)
    assert api.count("POST") == 1


def test_a_read_back_showing_the_write_done_ends_it_in_both_places() -> None:
    for attempts in (1, 5):
        api, clock = Api([WRITE_LOST], [DONE]), Clock()
        client, _ = make_client(api, attempts=attempts, sleep=clock.sleep, clock=clock)
        client.attach("p1", [NUMBER])  # no error: the read-back shows it done
        assert (api.count("POST"), api.count("GET")) == (1, 1)


def test_a_409_on_the_resend_after_a_read_back_showing_it_not_done_comes_back_as_itself() -> None:
    in_use = failed(409, "INBOUND_NUMBER_IN_USE", "held by p9")
    api, error = attach([WRITE_LOST, in_use], [NOT_DONE], attempts=5)
    assert (error.method, error.path, error.status, error.code) == (
        "POST",
        WRITE,
        409,
        "INBOUND_NUMBER_IN_USE",
    )
    assert str(error) == f"POST {WRITE}: HTTP 409 INBOUND_NUMBER_IN_USE: held by p9"
    assert api.sent == [f"POST {WRITE}", f"GET {READ}", f"POST {WRITE}"]


@pytest.mark.parametrize("attempts", [1, 5], ids=["after the retries", "before a resend"])
@pytest.mark.parametrize("status", [401, 403])
def test_a_401_or_403_during_the_read_back_is_raised_as_itself_and_stops(
    status: int, attempts: int
) -> None:
    api, clock = Api([WRITE_LOST], [failed(status, "AUTH_FAILURE", "bad key")]), Clock()
    client, _ = make_client(api, attempts=attempts, sleep=clock.sleep, clock=clock)
    with pytest.raises(AuthError) as raised:
        client.attach("p1", [NUMBER])
    assert (raised.value.method, raised.value.path, raised.value.status) == ("GET", READ, status)
    assert client.cancelled
    assert api.sent == [f"POST {WRITE}", f"GET {READ}"]


# The read-back after the retries ran out (the `except RetryableFailure` branch).

AFTER_RETRIES = ["429 until retries run out", "503 until retries run out", "404", "malformed"]


@pytest.mark.parametrize("attempts", [1, 2])
@pytest.mark.parametrize("failure", AFTER_RETRIES)
def test_a_failed_read_back_after_the_retries_reports_the_write_as_may_have_taken_effect(
    failure: str, attempts: int
) -> None:
    # attempts=1: the only read-back is the last one; 2: one read-back (not done), a resend
    # lost again, then the last read-back fails.
    reads = [NOT_DONE, READ_FAILURES[failure]] if attempts == 2 else [READ_FAILURES[failure]]
    api, error = attach([WRITE_LOST], reads, attempts=attempts)
    assert api.count("POST") == attempts
    assert_the_write_may_have_taken_effect(error)


def test_a_failed_read_back_is_reported_alike_before_a_resend_and_after_the_retries() -> None:
    _, before = attach([WRITE_LOST], [READ_FAILURES["404"]], attempts=5)
    _, after = attach([WRITE_LOST], [READ_FAILURES["404"]], attempts=1)
    assert (type(after), after.method, after.status, after.code, str(after)) == (
        type(before),
        before.method,
        before.status,
        before.code,
        str(before),
    )


# A stop during the read-back: an agent's read-back is several GETs, and one sent after the
# stop is refused unsent (NotSent).


def agent_attach(attempts: int) -> tuple[list[str], ApiError]:
    sent: list[str] = []
    client: BlandClient

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(f"{request.method} {request.url.path}")
        if request.method == "POST":
            return WRITE_LOST(request)
        client.cancel()  # as a SIGINT arriving while the twin is read back
        return httpx.Response(200, json={"data": {"agent_id": "a1", "persona_id": "t1"}})

    clock = Clock()
    client, _ = make_client(handler, attempts=attempts, sleep=clock.sleep, clock=clock)
    with pytest.raises(ApiError) as raised:
        client.attach_to_agent("a1", [NUMBER])
    return sent, raised.value


def test_a_stop_during_the_read_back_before_a_resend_may_have_taken_effect() -> None:
    sent, error = agent_attach(attempts=5)
    assert sent == ["POST /v2/agents/a1/inbound/attach", "GET /v2/agents/a1/inbound"]
    assert type(error) is ApiError and (error.method, error.status) == ("POST", 500)
    assert str(error).endswith("(interrupted before a retry; it may have taken effect)")


def test_a_stop_during_the_read_back_after_the_retries_is_not_reported_not_sent() -> None:
    sent, error = agent_attach(attempts=1)
    assert sent == ["POST /v2/agents/a1/inbound/attach", "GET /v2/agents/a1/inbound"]
    assert not isinstance(error, NotSent), repr(error)
    assert (error.method, error.status) == ("POST", 500), str(error)
    assert str(error).endswith("(interrupted before a retry; it may have taken effect)")


# A read's own failures are its own, never "may have taken effect".


def test_a_read_whose_attempts_fail_is_raised_as_itself() -> None:
    cases: list[tuple[Answer, int | None, str]] = [
        (READ_FAILURES["503 until retries run out"], 503, "(gave up after retries)"),
        (READ_FAILURES["dropped until retries run out"], None, "(gave up after retries)"),
        (READ_FAILURES["404"], 404, "no such persona"),
        (READ_FAILURES["malformed"], None, "`data` is a string"),
    ]
    for answer, status, ending in cases:
        api, clock = Api([WRITE_LOST], [answer]), Clock()
        client, _ = make_client(api, sleep=clock.sleep, clock=clock)
        with pytest.raises(ApiError) as raised:
            client.get_persona("p1")
        error = raised.value
        assert type(error) is ApiError and (error.method, error.path) == ("GET", READ)
        assert error.status == status and "may have taken effect" not in str(error)
        assert str(error).endswith(ending) or ending in str(error), str(error)
        assert api.count("POST") == 0


def test_a_read_after_a_stop_is_not_sent_and_a_401_is_itself() -> None:
    api, clock = Api([WRITE_LOST], [failed(401, "AUTH_FAILURE", "bad key")]), Clock()
    client, _ = make_client(api, sleep=clock.sleep, clock=clock)
    with pytest.raises(AuthError) as raised:
        client.get_persona("p1")
    assert (raised.value.method, raised.value.status) == ("GET", 401)
    with pytest.raises(NotSent, match="not sent: the run stopped on an authorisation error"):
        client.get_persona("p1")
    assert api.sent == [f"GET {READ}"]
