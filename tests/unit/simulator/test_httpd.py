"""The simulator's HTTP server: keep-alive, framing, and a stop that ends the accept loop."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.simulated import Simulator
from tests.unit.simulator.conftest import KEY, base_state


def test_keep_alive_and_content_length(client: httpx.Client) -> None:
    first = client.get("/v1/personas")
    second = client.get("/v1/inbound")
    for response in (first, second):
        assert response.headers["content-length"] == str(len(response.content))
        assert response.headers["content-type"].startswith("application/json")
    assert first.http_version == "HTTP/1.1"


def test_stop_ends_the_accept_loop_and_a_stopped_simulator_serves_no_more() -> None:
    """stop() wakes the loop instead of waiting for a poll: the loop ends on the wake alone."""
    sim = Simulator(base_state(), api_key=KEY).start()
    url, loop = sim.url, f"simulator-{sim.port}"
    assert httpx.get(f"{url}/v1/personas", headers={"authorization": KEY}).status_code == 200
    sim.stop()
    assert loop not in [thread.name for thread in threading.enumerate()]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/v1/personas")
