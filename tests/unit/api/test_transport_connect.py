"""A request that cannot connect says where it tried: host and port, and why, in one line."""

from __future__ import annotations

import httpx
import pytest

from reconciler.api import BlandClient
from reconciler.errors import ApiError


def failing_client(base_url: str, error: Exception) -> BlandClient:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    return BlandClient(
        base_url,
        "secret-key",
        transport=httpx.MockTransport(handler),
        sleep=lambda _seconds: None,
        attempts=2,
    )


@pytest.mark.parametrize(
    ("base_url", "error", "expected"),
    [
        (
            "http://127.0.0.1:1",
            httpx.ConnectError("[Errno 111] Connection refused"),
            "cannot connect to 127.0.0.1:1: connection refused",
        ),
        (
            "https://api.bland.ai",
            httpx.ConnectError("[Errno -2] Name or service not known"),
            "cannot connect to api.bland.ai:443: name or service not known",
        ),
        (
            "http://localhost",
            httpx.ConnectError("[Errno 111] Connection refused"),
            "cannot connect to localhost:80: connection refused",
        ),
        ("http://[::1]:8765", httpx.ConnectTimeout(""), "cannot connect to [::1]:8765: timed out"),
        (
            "https://user:pw@api.example.test:8443/base",
            httpx.ConnectError("Multi\nline   reason"),
            "cannot connect to api.example.test:8443: multi line reason",
        ),
    ],
)
def test_a_failed_connection_names_host_port_and_reason(
    base_url: str, error: Exception, expected: str
) -> None:
    with failing_client(base_url, error) as client, pytest.raises(ApiError) as raised:
        client.get_persona("p1")
    message = str(raised.value)
    assert message == f"GET /v1/personas/p1: {expected} (gave up after retries)"
    assert "pw" not in message and "user" not in message
    assert "\n" not in message


def test_other_transport_failures_still_say_there_was_no_usable_answer() -> None:
    error = httpx.ReadTimeout("timed out")
    with failing_client("https://api.bland.ai", error) as client, pytest.raises(ApiError) as raised:
        client.get_persona("p1")
    assert "no usable answer (ReadTimeout)" in str(raised.value)
