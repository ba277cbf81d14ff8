"""The client's endpoints against httpx.MockTransport: paging, inbound lists, lost write answers."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest

import reconciler.api.client as client_module
from reconciler.errors import ApiError
from reconciler.model import routing_settings
from tests.unit.api.mock_api import make_client, paged, persona_json


@pytest.mark.parametrize(
    "total, pages, asked",
    [
        (0, 1, 1),
        (99, 2, 3),
        (100, 2, 3),
        (101, 3, 5),
        (250, 4, 6),
        (1000, 11, 13),
        (1050, 12, 14),
        (5000, 51, 62),
        (10_000, 101, 116),
    ],
)
def test_a_listing_ends_only_at_an_empty_page(total: int, pages: int, asked: int) -> None:
    calls: list[int] = []
    client, _ = make_client(paged(total, calls))
    personas, read = client.list_personas()
    assert len(personas) == total
    assert read == pages
    # Read ahead by 1, 2, 3 pages, then by a quarter of the pages that held personas, up to 16:
    # the same pages whatever the timing, at most 2 past the end of a listing of 12 pages.
    assert sorted(calls) == list(range(1, asked + 1))
    assert asked - pages <= max(2, min(pages // 4, 15))


@pytest.mark.parametrize("cap", [1, 20, 50, 99])
def test_a_server_that_caps_limit_is_read_to_the_end(cap: int) -> None:
    calls: list[int] = []
    client, _ = make_client(paged(250, calls, cap=cap))
    personas, read = client.list_personas()
    assert len(personas) == 250
    assert read == -(-250 // cap) + 1


@pytest.mark.parametrize("total", [1, 100, 250])
def test_a_server_that_ignores_page_is_refused(total: int) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(int(request.url.params["page"]))
        items = [persona_json(i) for i in range(min(total, 100))]
        return httpx.Response(200, json={"data": items, "errors": None})

    client, _ = make_client(handler)
    with pytest.raises(ApiError) as raised:
        client.list_personas()
    assert str(raised.value).startswith("GET /v1/personas: persona p00000 is listed more than once")
    assert "(pages 1 and 2 both list it): the server ignores `page`" in str(raised.value)
    assert sorted(calls) == [1, 2, 3]


@pytest.mark.parametrize("attempt", range(20))  # each run lets the answers race again
def test_the_pages_asked_for_do_not_depend_on_which_answer_comes_first(attempt: int) -> None:
    # A server that ignores `page`, whose page 2 answers only after page 3 did: the same three
    # pages are asked for as when the answers come in order.
    calls: list[int] = []
    third_answered = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        calls.append(page)
        if page == 2:
            assert third_answered.wait(timeout=30)
        response = httpx.Response(200, json={"data": [persona_json(i) for i in range(100)]})
        if page == 3:
            third_answered.set()
        return response

    client, _ = make_client(handler)
    with pytest.raises(ApiError, match=r"pages 1 and 2 both list it"):
        client.list_personas()
    assert sorted(calls) == [1, 2, 3]


def test_a_persona_listed_twice_on_one_page_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        items = [persona_json(1), persona_json(2), persona_json(1)] if page == 1 else []
        return httpx.Response(200, json={"data": items, "errors": None})

    client, _ = make_client(handler)
    with pytest.raises(ApiError, match=r"persona p00001 is listed more than once \(page 1 lists"):
        client.list_personas()


def test_a_list_with_personas_after_an_empty_page_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        items = [persona_json(page * 1000 + i) for i in range(100)] if page != 2 else []
        return httpx.Response(200, json={"data": items, "errors": None})

    client, _ = make_client(handler)
    with pytest.raises(ApiError, match="page 2 is empty but page 3 lists personas"):
        client.list_personas()


def test_deleted_personas_are_flagged_and_number_shapes_tolerated() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        items = [
            persona_json(1, [{"phone_number": "+14155550100", "label": None}]),
            persona_json(2, ["+14155550101"]),
            {**persona_json(3), "deleted_at": "2026-01-01T00:00:00Z"},
        ]
        page = request.url.params["page"]
        return httpx.Response(200, json={"data": items if page == "1" else [], "errors": None})

    client, _ = make_client(handler)
    personas, _ = client.list_personas()
    assert personas["p00001"].numbers == {"+14155550100"}
    assert personas["p00002"].numbers == {"+14155550101"}
    assert personas["p00003"].deleted


def test_legacy_inbound_list() -> None:
    body = {"inbound_numbers": [{"phone_number": "+14155550100"}, {"phone_number": "+14155550101"}]}
    client, _ = make_client(lambda request: httpx.Response(200, json=body))
    assert client.list_account_numbers() == {"+14155550100", "+14155550101"}


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
    client.attach("p00001", ["+14155550100"])
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


@pytest.mark.parametrize(
    "total, hint, asked",
    [
        (1000, 11, 11),  # the hint a listing of 1,000 returned: nothing wasted
        (1050, 12, 12),
        (1050, 14, 14),  # the account shrank since: the hinted pages are still asked for
        (1050, 3, 14),  # it grew: the hint at once, then read ahead as without one
        (99, 2, 2),
        (0, 1, 1),
    ],
)
def test_a_relist_asks_for_the_hinted_pages_at_once(total: int, hint: int, asked: int) -> None:
    calls: list[int] = []
    client, _ = make_client(paged(total, calls))
    personas, read = client.list_personas(pages_hint=hint)
    assert len(personas) == total
    assert read == -(-total // 100) + 1
    assert sorted(calls) == list(range(1, asked + 1))


def test_a_listing_that_never_ends_is_an_error_not_a_partial_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client_module, "MAX_PAGES", 5)
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        calls.append(page)
        items = [persona_json(page * 1000 + i) for i in range(100)]
        return httpx.Response(200, json={"data": items, "errors": None})

    client, _ = make_client(handler)
    with pytest.raises(ApiError, match="still personas on page 5 and no empty page yet"):
        client.list_personas()
    assert sorted(calls) == [1, 2, 3, 4, 5]


def test_a_failed_page_fails_the_listing() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params["page"] == "2":
            return httpx.Response(400, json={"errors": [{"error": "BAD", "message": "no"}]})
        return httpx.Response(200, json={"data": [persona_json(1)], "errors": None})

    client, _ = make_client(handler)
    with pytest.raises(ApiError, match="HTTP 400 BAD: no"):
        client.list_personas()


def test_reading_the_account_passes_a_hint_on_to_the_listing() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/inbound":
            return httpx.Response(200, json={"inbound_numbers": []})
        return paged(1000, calls)(request)

    client, _ = make_client(handler)
    assert client.read_live(pages_hint=11).pages_read == 11
    assert sorted(calls) == list(range(1, 12))


def test_the_account_s_numbers_are_canonical_whatever_their_spelling() -> None:
    body = {"inbound_numbers": [{"phone_number": "+1 415 5550100"}, "14155550101", "call me"]}
    client, _ = make_client(lambda request: httpx.Response(200, json=body))
    assert client.list_account_numbers() == {"+14155550100", "+14155550101"}


@pytest.mark.parametrize("write", ["attach", "settings", "label"])
def test_a_lost_write_in_the_account_s_spelling_is_seen_done_in_another_spelling(
    write: str,
) -> None:
    sent: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            sent.append(json.loads(request.content))
            raise httpx.RemoteProtocolError("connection dropped", request=request)
        entry = {
            "phone_number": "+1 415 5550100",
            "label": "Main",
            "persona_settings": {"pathway_id": "pw"},
        }
        return httpx.Response(200, json={"data": persona_json(1, [entry]), "errors": None})

    client, _ = make_client(handler)
    if write == "attach":
        client.attach("p00001", ["14155550100"])
    elif write == "settings":
        client.update_settings("p00001", "14155550100", routing_settings({"pathway_id": "pw"}))
    else:
        client.update_label("14155550100", "Main", persona_id="p00001")
    assert len(sent) == 1


@pytest.mark.parametrize(
    ("read", "path", "answer", "about"),
    [
        ("get_persona", "/v1/personas/p00001", persona_json(2), "persona 'p00002'"),
        ("get_agent", "/v2/agents/p00001", {"id": "a002", "name": "Other"}, "agent 'a002'"),
    ],
)
def test_an_answer_about_another_owner_than_the_one_asked_for_is_refused(
    read: str, path: str, answer: dict[str, Any], about: str
) -> None:
    client, _ = make_client(lambda request: httpx.Response(200, json={"data": answer}))
    with pytest.raises(ApiError) as refused:
        getattr(client, read)("p00001")
    assert str(refused.value) == f"GET {path}: the answer is {about}, not the one asked for"
