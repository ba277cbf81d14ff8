"""WireLog notes each exchange without changing it; envelope_of names an error body's shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.doctor.wire import MAX_ERROR_BODY, WireLog, envelope_of, environment_proxy


def _client(handler: Any) -> tuple[httpx.Client, WireLog]:
    wire = WireLog(httpx.MockTransport(handler), clock=iter(range(100)).__next__)
    return httpx.Client(base_url="https://api.example.test", transport=wire), wire


def test_an_answer_passes_through_with_its_rate_limit_headers_noted() -> None:
    headers = {"X-RateLimit-Remaining": "4", "RateLimit-Reset": "9", "X-Rate-Limit": "5"}
    client, wire = _client(lambda request: httpx.Response(200, json={"a": 1}, headers=headers))
    with client:
        response = client.get("/v1/personas", params={"page": 1})
    assert response.json() == {"a": 1}
    [exchange] = wire.exchanges
    assert (exchange.method, exchange.path, exchange.status) == ("GET", "/v1/personas", 200)
    assert exchange.seconds == 1  # the fake clock ticked once between send and headers
    assert dict(exchange.rate_limit_headers) == {
        "x-ratelimit-remaining": "4",
        "ratelimit-reset": "9",
        "x-rate-limit": "5",
    }
    assert exchange.error_body is None


def test_an_error_body_is_kept_and_still_reaches_the_client() -> None:
    body = {"data": None, "errors": [{"error": "PERSONA_NOT_FOUND", "message": "no"}]}
    client, wire = _client(
        lambda request: httpx.Response(404, json=body, headers={"Retry-After": "3"})
    )
    with client:
        response = client.get("/v1/personas/x")
    assert response.status_code == 404
    assert response.json() == body
    assert wire.exchanges[0].error_body == body
    assert wire.exchanges[0].rate_limit_headers == (("retry-after", "3"),)


def test_an_endless_error_body_is_cut_off() -> None:
    def endless() -> Iterator[bytes]:
        while True:
            yield b" " * 4096

    client, wire = _client(lambda request: httpx.Response(500, content=endless()))
    with client:
        response = client.get("/v1/inbound")
    assert len(response.content) == MAX_ERROR_BODY + 1
    assert wire.exchanges[0].error_body == "a body over 64 KiB"


def test_a_gzipped_error_body_is_read_decoded() -> None:
    import gzip

    raw = gzip.compress(json.dumps({"error": "Phone number not found"}).encode())
    client, wire = _client(
        lambda request: httpx.Response(404, content=raw, headers={"content-encoding": "gzip"})
    )
    with client:
        assert client.get("/x").json() == {"error": "Phone number not found"}
    assert wire.exchanges[0].error_body == {"error": "Phone number not found"}


def test_no_answer_is_noted_and_raised() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client, wire = _client(refuse)
    with client, pytest.raises(httpx.ConnectError):
        client.get("/v1/personas")
    assert [(e.path, e.status) for e in wire.exchanges] == [("/v1/personas", None)]


@pytest.mark.parametrize(
    ("body", "envelope", "coded"),
    [
        (
            {"data": None, "errors": [{"error": "AUTH_FAILURE", "message": "m"}]},
            "errors as a list of {error, message}",
            True,
        ),
        ({"data": None, "errors": ["text"]}, "errors as a list of {error, message}", False),
        ({"data": None, "errors": "AUTH_FAILURE: m"}, 'errors as a "CODE: message" string', True),
        ({"data": None, "errors": "just words"}, 'errors as a "CODE: message" string', False),
        ({"error": "Phone number not found"}, "a bare {error}", False),
        (
            {"status": "error", "message": "Rate limit exceeded"},
            "the legacy {status, message}",
            False,
        ),
        ({"something": 1}, "an object without errors, error or message", False),
        ([1, 2], "JSON that is not an object", False),
        ("not JSON (text/html)", "not JSON (text/html)", False),
    ],
)
def test_envelope_of(body: Any, envelope: str, coded: bool) -> None:
    assert envelope_of(body) == (envelope, coded)


def test_a_streamed_error_body_is_kept_and_passed_on_unchanged() -> None:
    import gzip

    raw = gzip.compress(json.dumps({"errors": "AUTH_FAILURE: no"}).encode())

    def streamed(request: httpx.Request) -> httpx.Response:
        chunks = iter([raw[:10], raw[10:]])
        return httpx.Response(401, content=chunks, headers={"content-encoding": "gzip"})

    client, wire = _client(streamed)
    with client:
        assert client.get("/x").json() == {"errors": "AUTH_FAILURE: no"}
    assert wire.exchanges[0].error_body == {"errors": "AUTH_FAILURE: no"}


def test_a_body_that_does_not_decode_is_noted_and_passed_on() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        headers = {"content-encoding": "gzip", "content-type": "application/json"}
        return httpx.Response(502, content=iter([b"not gzip"]), headers=headers)

    client, wire = _client(broken)
    with client, pytest.raises(httpx.DecodingError):
        client.get("/x")  # as the client would have failed without the wire log
    assert wire.exchanges[0].error_body == "not JSON (application/json)"


@pytest.mark.parametrize(
    ("environment", "url", "proxy"),
    [
        ({}, "https://api.bland.ai", None),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "https://api.bland.ai", "http://proxy:3128"),
        ({"HTTP_PROXY": "http://proxy:3128"}, "https://api.bland.ai", None),
        ({"ALL_PROXY": "http://all:1"}, "https://api.bland.ai", "http://all:1"),
        (
            {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "bland.ai"},
            "https://api.bland.ai",
            None,
        ),
        (
            {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "example.test"},
            "https://api.bland.ai",
            "http://proxy:3128",
        ),
    ],
)
def test_the_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], url: str, proxy: str | None
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert environment_proxy(url) == proxy
