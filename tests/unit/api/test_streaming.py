"""Answers read within bounds, over httpx.MockTransport: the size limit and the deadline."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from reconciler.api import BlandClient
from reconciler.api.bodies import BodyBudget
from reconciler.errors import ApiError

PIECE = 64 * 1024
LIMIT = 1024**2


class Pieces(httpx.SyncByteStream):
    """A body sent in pieces, counting how many the client asked for; `each` runs per piece."""

    def __init__(self, pieces: Iterator[bytes], each: list[float] | None = None) -> None:
        self._pieces = pieces
        self.pulled = 0
        self._clock = each

    def __iter__(self) -> Iterator[bytes]:
        for piece in self._pieces:
            self.pulled += 1
            if self._clock is not None:
                self._clock[0] += 1.0  # each piece takes a second to arrive
            yield piece


def endless() -> Iterator[bytes]:
    yield b'{"data":['
    while True:
        yield b" " * PIECE


def answering(handler: Callable[[httpx.Request], httpx.Response]) -> BlandClient:
    """A client whose every request `handler` answers, within the 1 MiB limit."""
    return BlandClient(
        "https://api.example.test",
        "secret-key",
        transport=httpx.MockTransport(handler),
        sleep=lambda seconds: None,
        max_response_bytes=LIMIT,
    )


def client_for(
    body: Pieces | bytes, now: list[float] | None = None, headers: dict[str, str] | None = None
) -> BlandClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(200, content=body, headers=headers)
        return httpx.Response(200, stream=body, headers=headers)

    clock = now if now is not None else [0.0]
    return BlandClient(
        "https://api.example.test",
        "secret-key",
        timeout=2.0,
        transport=httpx.MockTransport(handler),
        sleep=lambda seconds: None,
        clock=lambda: clock[0],
        max_response_bytes=LIMIT,
    )


def test_a_body_that_grows_past_the_limit_is_refused_before_it_is_read_whole() -> None:
    body = Pieces(endless())
    with pytest.raises(ApiError) as raised:
        client_for(body).list_inbound()
    assert str(raised.value).startswith(
        "GET /v1/inbound: the answer is over the 1 MiB limit (1,048,585 bytes had come); "
        "refused without reading it whole (raise --max-response-size or BLAND_MAX_RESPONSE_SIZE"
    )
    # Never more than the limit and one piece held: the 17th piece of 64 KiB passes 1 MiB.
    assert body.pulled == 1 + LIMIT // PIECE


def test_a_body_that_says_it_is_too_large_is_refused_unread() -> None:
    body = Pieces(endless())
    with pytest.raises(ApiError, match=r"1 MiB limit \(it says 1,048,577 bytes\)"):
        client_for(body, headers={"content-length": str(LIMIT + 1)}).list_inbound()
    assert body.pulled == 0


def test_a_body_at_the_limit_is_read() -> None:
    payload = json.dumps({"inbound_numbers": ["+14155550100"]}).encode()
    body = payload + b" " * (LIMIT - len(payload))
    assert client_for(body).list_inbound() == {"+14155550100": None}


def test_an_error_body_over_the_limit_is_refused_too() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, stream=Pieces(endless()))

    client = answering(handler)
    with pytest.raises(ApiError, match="over the 1 MiB limit"):
        client.get_persona("p1")


def test_a_write_whose_answer_is_too_large_may_have_taken_effect() -> None:
    with pytest.raises(ApiError) as raised:
        client_for(Pieces(endless())).attach("p1", ["+14155550100"])
    assert str(raised.value).startswith("POST /v1/personas/p1/inbound/attach: the answer is over")
    assert str(raised.value).endswith("; the write may have taken effect")


def test_a_trickling_body_ends_at_the_deadline() -> None:
    now = [0.0]
    body = Pieces((bytes([byte]) for byte in b'{"data": []}' + b" " * 10_000), each=now)
    with pytest.raises(ApiError) as raised:
        client_for(body, now).list_personas()
    assert str(raised.value) == (
        "GET /v1/personas: the request's deadline (8s, 4 x --timeout) passed while its answer "
        "was still arriving; stopped reading it"
    )
    # --timeout 2 gives 8 seconds; a piece a second: the 9th is the first one past them.
    assert body.pulled == 9
    assert now[0] == 9.0


def test_a_body_that_arrives_within_the_deadline_is_read() -> None:
    now = [0.0]
    body = Pieces(iter([b'{"inbound_numbers": ', b'["+14155550100"]', b"}"]), each=now)
    assert client_for(body, now).list_inbound() == {"+14155550100": None}


def streamed(body: bytes, **headers: str) -> httpx.Response:
    request = httpx.Request("GET", "https://api.example.test/v1/inbound")
    pieces = Pieces(iter([body[:PIECE], body[PIECE:]]))
    return httpx.Response(200, stream=pieces, headers=headers, request=request)


def no() -> bool:
    return False


def test_answers_read_at_once_share_the_limit() -> None:
    budget = BodyBudget(LIMIT, 30.0)
    other = LIMIT - PIECE  # another answer, still being read, holds all but 64 KiB
    budget.held = other
    with pytest.raises(ApiError) as raised, budget.hold(streamed(b" " * (2 * PIECE)), "/x", no):
        pass
    assert "(with the answers read alongside it; 131,072 bytes of it had come)" in str(raised.value)
    assert budget.held == other  # what the refused answer held is given back
    budget.held = 0
    with budget.hold(streamed(b" " * (2 * PIECE)), "/v1/inbound", no) as body:
        assert len(body) == budget.held == 2 * PIECE
    assert budget.held == 0 and body == b""


def test_an_answer_cut_short_gives_its_bytes_back() -> None:
    budget = BodyBudget(LIMIT, 30.0)
    late = budget.hold(streamed(b" " * (2 * PIECE)), "/v1/inbound", lambda: True)
    with pytest.raises(ApiError, match="GET /v1/inbound: the request's deadline"), late:
        pass
    assert budget.held == 0


def test_a_client_holds_no_answer_once_read() -> None:
    bodies = [Pieces(iter([b'{"inbound_numbers": ["+14155550100"]}'])), Pieces(endless())]
    client = answering(lambda request: httpx.Response(200, stream=bodies.pop(0)))
    assert client.list_inbound() == {"+14155550100": None}
    with pytest.raises(ApiError, match="over the 1 MiB limit"):
        client.list_inbound()
    assert client._bodies.held == 0


def test_a_compressed_body_counts_as_it_decompresses() -> None:
    seen: list[str] = []
    bomb = gzip.compress(b'{"inbound_numbers": [' + b" " * (64 * LIMIT))  # 64 MiB in 64 KiB

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["accept-encoding"])
        return httpx.Response(200, content=bomb, headers={"content-encoding": "gzip"})

    client = answering(handler)
    assert len(bomb) < 100 * 1024
    with pytest.raises(ApiError, match=r"over the 1 MiB limit \(\S+ bytes had come\)"):
        client.list_inbound()
    # Only decoders whose output is bounded: not whatever else happens to be installed.
    assert seen == ["gzip, deflate"]


def test_a_body_that_is_not_the_encoding_it_claims_is_refused_in_one_line() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = Pieces(iter([b"not gzip at all"]))  # streamed: decoded as it is read
        return httpx.Response(200, stream=body, headers={"content-encoding": "gzip"})

    client = answering(handler)
    with pytest.raises(ApiError) as raised:
        client.list_inbound()
    message = str(raised.value)
    assert message.startswith("GET /v1/inbound: its answer could not be decoded (")
    assert "\n" not in message
    with pytest.raises(
        ApiError, match=r"could not be decoded .*; the write may have taken effect$"
    ):
        client.attach("p1", ["+14155550100"])
    assert client._bodies.held == 0
