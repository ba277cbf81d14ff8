"""The client against httpx.MockTransport: paging, error shapes, retries, lost write answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from reconciler.api.client import BlandClient, check_base_url, parse_retry_after
from reconciler.errors import ApiError, AuthError, InputError, NotSent

Handler = Callable[[httpx.Request], httpx.Response]


def make_client(handler: Handler, **options: Any) -> tuple[BlandClient, list[float]]:
    slept: list[float] = []
    options.setdefault("attempts", 5)
    client = BlandClient(
        "https://api.example.test",
        "secret-key",
        transport=httpx.MockTransport(handler),
        sleep=slept.append,
        **options,
    )
    return client, slept


def persona_json(index: int, numbers: list[Any] | None = None) -> dict[str, Any]:
    return {
        "id": f"p{index:05d}",
        "name": f"Persona {index}",
        "deleted_at": None,
        "inbound_numbers": numbers or [],
    }


def paged(total: int, calls: list[int]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "secret-key"
        page, limit = int(request.url.params["page"]), int(request.url.params["limit"])
        calls.append(page)
        items = [persona_json(i) for i in range((page - 1) * limit, min(total, page * limit))]
        return httpx.Response(200, json={"data": items, "errors": None})

    return handler


@pytest.mark.parametrize("total, pages", [(0, 1), (99, 1), (100, 2), (101, 2), (250, 3)])
def test_pagination_reads_until_a_short_page(total: int, pages: int) -> None:
    calls: list[int] = []
    client, _ = make_client(paged(total, calls), page_window=1)
    personas, read = client.list_personas()
    assert len(personas) == total
    assert sorted(calls) == list(range(1, pages + 1))
    assert read == pages


def test_pages_are_read_ahead_and_not_past_the_end_by_more_than_the_window() -> None:
    calls: list[int] = []
    client, _ = make_client(paged(1050, calls), page_window=4)
    personas, _ = client.list_personas()
    assert len(personas) == 1050
    assert set(range(1, 12)) <= set(calls)
    assert max(calls) <= 11 + 3


def test_a_server_that_ignores_page_stops_on_the_repeated_page() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(int(request.url.params["page"]))
        return httpx.Response(200, json={"data": [persona_json(i) for i in range(100)]})

    client, _ = make_client(handler, page_window=1)
    personas, _ = client.list_personas()
    assert len(personas) == 100
    assert calls == [1, 2]


def test_deleted_personas_are_flagged_and_number_shapes_tolerated() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        items = [
            persona_json(1, [{"phone_number": "+14155550100", "label": None}]),
            persona_json(2, ["+14155550101"]),
            {**persona_json(3), "deleted_at": "2026-01-01T00:00:00Z"},
        ]
        return httpx.Response(200, json={"data": items, "errors": None})

    client, _ = make_client(handler)
    personas, _ = client.list_personas()
    assert personas["p00001"].numbers == {"+14155550100"}
    assert personas["p00002"].numbers == {"+14155550101"}
    assert personas["p00003"].deleted


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


def test_legacy_inbound_list() -> None:
    body = {"inbound_numbers": [{"phone_number": "+14155550100"}, {"phone_number": "+14155550101"}]}
    client, _ = make_client(lambda request: httpx.Response(200, json=body))
    assert client.list_account_numbers() == {"+14155550100", "+14155550101"}


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


def test_a_lost_write_answer_is_not_sent_again_when_it_took_effect() -> None:
    writes: list[Any] = []
    state: set[str] = set()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            writes.append(json.loads(request.content))
            state.update(json.loads(request.content)["inbound_numbers"])
            raise httpx.RemoteProtocolError("connection dropped", request=request)
        numbers = [{"phone_number": n} for n in sorted(state)]
        return httpx.Response(200, json={"data": persona_json(1, numbers), "errors": None})

    client, _ = make_client(handler)
    result = client.attach("p00001", ["+14155550100"])
    assert result.numbers == {"+14155550100"}
    assert len(writes) == 1


def test_a_refused_connection_is_retried_without_a_read_back() -> None:
    methods: list[str] = []
    fail = [True]

    def handler(request: httpx.Request) -> httpx.Response:
        methods.append(request.method)
        if fail.pop(0) if fail else False:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"data": persona_json(1, ["+14155550100"])})

    client, _ = make_client(handler)
    client.attach("p00001", ["+14155550100"])
    assert methods == ["POST", "POST"]


def test_parse_retry_after_in_both_forms() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://api.bland.ai", True),
        ("http://127.0.0.1:8765", True),
        ("http://127.5.0.1:8765", True),
        ("http://localhost:8765/", True),
        ("http://[::1]:8765", True),
        ("http://api.bland.ai", False),
        ("http://10.0.0.1", False),
        ("ftp://api.bland.ai", False),
    ],
)
def test_base_url_must_be_https_unless_loopback(url: str, ok: bool) -> None:
    if ok:
        assert check_base_url(url) == url.rstrip("/")
    else:
        with pytest.raises(InputError):
            check_base_url(url)


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


@pytest.mark.parametrize("total, hint", [(1050, 11), (1050, 14), (1050, 3), (99, 1)])
def test_a_relist_with_a_pages_hint_asks_for_no_more_than_the_hint(total: int, hint: int) -> None:
    calls: list[int] = []
    client, _ = make_client(paged(total, calls), page_window=4)
    personas, read = client.list_personas(pages_hint=hint)
    assert len(personas) == total
    assert sorted(calls) == sorted(set(calls))
    needed = total // 100 + 1
    assert read == needed
    # Never more than the hint when the hint covers the listing; read ahead past it otherwise.
    assert len(calls) <= max(hint, needed + 3)
    assert set(range(1, needed + 1)) <= set(calls)
    if hint >= needed:
        assert len(calls) == hint


def test_a_listing_that_never_ends_is_an_error_not_a_partial_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reconciler.api import client as client_module

    monkeypatch.setattr(client_module, "MAX_PAGES", 5)

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        items = [persona_json(page * 1000 + i) for i in range(100)]
        return httpx.Response(200, json={"data": items, "errors": None})

    client, _ = make_client(handler, page_window=2)
    with pytest.raises(ApiError, match="refusing to plan on a partial list"):
        client.list_personas()


def test_a_server_that_ignores_limit_is_refused_not_read_as_one_short_page() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])  # limit=100 asked, 20 a page sent
        items = [persona_json(i) for i in range((page - 1) * 20, min(45, page * 20))]
        return httpx.Response(200, json={"data": items, "errors": None})

    client, _ = make_client(handler, page_window=1)
    with pytest.raises(ApiError, match="the server ignores `limit`"):
        client.list_personas()


def test_an_account_of_exactly_twenty_personas_costs_one_more_read() -> None:
    calls: list[int] = []
    client, _ = make_client(paged(20, calls), page_window=1)
    personas, _ = client.list_personas()
    assert len(personas) == 20
    assert calls == [1, 2]
