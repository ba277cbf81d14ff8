"""The simulator's HTTP server: keep-alive and framing."""

from __future__ import annotations

import threading

import httpx
import pytest

from reconciler.simulator.httpd import SimulatorHTTPServer
from reconciler.simulator.replies import Reply


def test_keep_alive_and_content_length(client: httpx.Client) -> None:
    first = client.get("/v1/personas")
    second = client.get("/v1/inbound")
    for response in (first, second):
        assert response.headers["content-length"] == str(len(response.content))
        assert response.headers["content-type"].startswith("application/json")
    assert first.http_version == "HTTP/1.1"


def test_wake_ends_the_accept_loop_and_a_woken_server_serves_no_more() -> None:
    """stop() wakes the loop instead of waiting for a poll: the loop ends on the wake alone."""
    server = SimulatorHTTPServer(("127.0.0.1", 0), lambda *request: Reply(204), threading.Event())
    loop = threading.Thread(target=server.serve_until_stopped)
    loop.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    assert httpx.get(url).status_code == 204
    server.wake()
    loop.join(10)  # a bound for a broken loop, never reached by a working one
    assert not loop.is_alive()
    server.server_close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)
