"""The simulator's HTTP server: keep-alive and framing."""

from __future__ import annotations

import httpx


def test_keep_alive_and_content_length(client: httpx.Client) -> None:
    first = client.get("/v1/personas")
    second = client.get("/v1/inbound")
    for response in (first, second):
        assert response.headers["content-length"] == str(len(response.content))
        assert response.headers["content-type"].startswith("application/json")
    assert first.http_version == "HTTP/1.1"
