"""Response bodies the simulator can trickle, pad or never end, read over raw sockets."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest

from reconciler.simulator import Simulator, bodies
from tests.unit.simulator.conftest import KEY, A

NOT_FOUND = b'{"error":"Not found"}'


def request(sim: Simulator, path: str) -> socket.socket:
    """Send a GET on a new connection; the caller reads the answer."""
    url = urlsplit(sim.url)
    sock = socket.create_connection((url.hostname, url.port), timeout=5)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: sim\r\nauthorization: {KEY}\r\n\r\n".encode())
    return sock


def read_head(sock: socket.socket) -> bytes:
    """The status line and headers, read a byte at a time so no body byte is consumed."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        assert byte, head
        head += byte
    return head


def handler_threads() -> set[threading.Thread]:
    """Threads serving a connection (of every simulator in this process)."""
    return {t for t in threading.enumerate() if "process_request_thread" in t.name}


def all_ended(threads: set[threading.Thread]) -> Callable[[], bool]:
    return lambda: not any(t.is_alive() for t in threads)


def eventually(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_trickled_body_comes_one_byte_at_a_time(sim: Simulator) -> None:
    sim.faults.trickle_seconds = 0.03
    with request(sim, "/v1/nothing") as sock:
        head = read_head(sock)
        assert head.startswith(b"HTTP/1.1 404 ")
        assert f"Content-Length: {len(NOT_FOUND)}\r\n".encode() in head
        assert b"Connection: close\r\n" in head
        started = time.monotonic()
        body, reads = b"", 0
        while len(body) < len(NOT_FOUND):
            piece = sock.recv(1024)
            assert piece
            body, reads = body + piece, reads + 1
        elapsed = time.monotonic() - started
        assert sock.recv(1024) == b""  # and then the connection closes
    assert body == NOT_FOUND
    assert elapsed >= 0.03 * (len(NOT_FOUND) - 2)
    assert reads > len(NOT_FOUND) // 3  # mostly one byte per read


def test_a_client_hanging_up_ends_a_trickled_body(sim: Simulator) -> None:
    before = handler_threads()
    sim.faults.trickle_seconds = 0.2
    with request(sim, f"/v1/personas/{A}") as sock:
        read_head(sock)
        assert sock.recv(1) == b"{"
        serving = handler_threads() - before
        assert len(serving) == 1
    assert eventually(all_ended(serving), 2.0)


def test_stopping_the_simulator_ends_a_trickled_body(sim: Simulator) -> None:
    before = handler_threads()
    sim.faults.trickle_seconds = 60
    with request(sim, f"/v1/personas/{A}") as sock:
        read_head(sock)
        serving = handler_threads() - before
        started = time.monotonic()
        sim.stop()
        assert time.monotonic() - started < 2
        assert eventually(all_ended(serving), 2.0)


def test_a_large_body_is_the_real_body_padded(sim: Simulator, client: httpx.Client) -> None:
    normal = client.get(f"/v1/personas/{A}").content
    sim.faults.large_body_bytes = 3_000_000
    large = client.get(f"/v1/personas/{A}")
    assert large.headers["content-length"] == "3000000"
    assert len(large.content) == 3_000_000 and large.content.startswith(normal)
    assert json.loads(large.content) == json.loads(normal)
    sim.faults.large_body_bytes = 10  # smaller than the body: sent as it is
    assert client.get(f"/v1/personas/{A}").content == normal


def test_an_endless_body_is_cut_off_at_its_cap(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.endless_body = True
    sim.faults.endless_body_cap = 1_000_000
    received = b""
    size = 0
    with (
        pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"),
        client.stream("GET", "/v1/personas") as response,
    ):
        assert response.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.headers
        for piece in response.iter_raw():
            received = (received + piece)[:16]
            size += len(piece)
    assert received.startswith(b'{"data":[    ')
    assert 1_000_000 <= size <= 1_000_000 + 64 * 1024


def test_a_client_hanging_up_ends_an_endless_body(sim: Simulator) -> None:
    before = handler_threads()
    sim.faults.endless_body = True  # with the default cap of 2 GiB
    with request(sim, "/v1/personas") as sock:
        read_head(sock)
        size = 0
        while size < 500_000:
            size += len(sock.recv(65536))
        serving = handler_threads() - before
    assert eventually(all_ended(serving), 2.0)


def test_body_faults_spare_the_control_endpoints(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.endless_body = True
    sim.faults.trickle_seconds = 10
    assert client.get("/_sim/faults").json()["endless_body"] is True
    reset = client.post("/_sim/faults", json={"endless_body": False, "trickle_seconds": 0})
    assert reset.status_code == 200
    assert client.get(f"/v1/personas/{A}").json()["data"]["id"] == A


def test_a_client_that_stops_reading_ends_an_endless_body(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bodies, "SEND_TIMEOUT", 0.3)
    before = handler_threads()
    sim.faults.endless_body = True
    with request(sim, "/v1/personas") as sock:
        read_head(sock)
        serving = handler_threads() - before
        # Nothing more is read: the buffers fill up and the server's sends stall.
        assert eventually(all_ended(serving), 5.0)
