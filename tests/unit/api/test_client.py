"""The client's endpoints against httpx.MockTransport: paging, inbound lists, lost write answers."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from reconciler.errors import ApiError
from tests.unit.api.mock_api import make_client, paged, persona_json


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
