"""Answers the tests play in front of the simulator (tests/simulator_faults.py), over real HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests import simulator_faults
from tests.simulated import Simulator
from tests.simulator_faults import with_test_faults
from tests.unit.simulator.conftest import GONE, KEY, N1, N2, N3, N4, A, B, attach, base_state


def inbound_owners(client: httpx.Client) -> dict[Any, Any]:
    listed = client.get("/v1/inbound").json()["inbound_numbers"]
    return {n["phone_number"]: n["persona_id"] for n in listed}


def listed_numbers(client: httpx.Client) -> dict[str, list[str]]:
    data = client.get("/v1/personas").json()["data"]
    return {p["id"]: [n["phone_number"] for n in p["inbound_numbers"]] for p in data}


def test_an_inbound_owner_the_listing_does_not_show(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.inbound_owner_overrides = {N3: B, N1: B}
    owners = inbound_owners(client)
    # N3 is on no persona and N1 is on A, but GET /v1/inbound names B for both.
    assert owners == {N1: B, N2: A, N3: B, N4: B}
    assert listed_numbers(client) == {A: [N1, N2], B: [N4], GONE: []}
    assert sim.owners()[N3] == [] and sim.owners()[N1] == [A]
    sim.faults.inbound_owner_overrides = {}
    assert "persona_id" not in client.get("/v1/inbound").json()["inbound_numbers"][0]


def test_inbound_numbers_as_one_string(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.malformed = ["inbound_numbers_as_one_string"]
    listed = client.get("/v1/personas").json()["data"]
    assert [p["inbound_numbers"] for p in listed] == [f"{N1},{N2}", N4, ""]
    assert client.get(f"/v1/personas/{B}").json()["data"]["inbound_numbers"] == "+14155550104"
    assert attach(client, B, N3).json()["data"]["inbound_numbers"] == f"{N3},{N4}"


def test_numbers_as_integers(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.malformed = ["numbers_as_integers"]
    persona = client.get(f"/v1/personas/{A}").json()["data"]
    assert [n["phone_number"] for n in persona["inbound_numbers"]] == [14155550101, 14155550102]
    inbound = client.get("/v1/inbound").json()["inbound_numbers"]
    assert [n["phone_number"] for n in inbound] == [int(n[1:]) for n in (N1, N2, N3, N4)]
    sim.faults.inbound_numbers_as_strings = True
    assert client.get(f"/v1/personas/{B}").json()["data"]["inbound_numbers"] == [14155550104]


def test_data_not_a_list(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.malformed = ["data_not_a_list"]
    data = client.get("/v1/personas", params={"limit": 2}).json()["data"]
    assert isinstance(data, dict)
    assert {key: persona["name"] for key, persona in data.items()} == {A: "Support", B: "Sales"}
    assert client.get("/v1/personas", params={"page": 9}).json() == {"data": {}, "errors": None}


def test_a_persona_without_id(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.malformed = ["persona_without_id"]
    page1 = client.get("/v1/personas", params={"limit": 2}).json()["data"]
    assert "id" not in page1[0] and page1[0]["name"] == "Support"
    assert page1[1]["id"] == B
    page2 = client.get("/v1/personas", params={"page": 2, "limit": 2}).json()["data"]
    assert "id" not in page2[0] and page2[0]["name"] == "Old"
    assert client.get(f"/v1/personas/{A}").json()["data"]["id"] == A


def test_errors_as_string(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.errors_as_string = True
    response = client.get("/v1/personas/nope")
    assert response.json() == {
        "data": None,
        "errors": "PERSONA_NOT_FOUND: Persona not found or access denied",
    }
    sim.faults.write_statuses = [500]
    assert attach(client, B, N3).json()["errors"].startswith("INTERNAL_SERVER_ERROR: ")


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
    return {t for t in threading.enumerate() if t.name.endswith("-connection")}


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
    assert client.post("/_sim/faults", json={}).json()["endless_body"] is True
    reset = client.post("/_sim/faults", json={"endless_body": False, "trickle_seconds": 0})
    assert reset.status_code == 200
    assert client.get(f"/v1/personas/{A}").json()["data"]["id"] == A


def test_a_client_that_stops_reading_ends_an_endless_body(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(simulator_faults, "SEND_TIMEOUT", 0.3)
    before = handler_threads()
    sim.faults.endless_body = True
    with request(sim, "/v1/personas") as sock:
        read_head(sock)
        serving = handler_threads() - before
        # Nothing more is read: the buffers fill up and the server's sends stall.
        assert eventually(all_ended(serving), 5.0)


def test_hang_then_stop_returns_promptly() -> None:
    sim = with_test_faults(Simulator(base_state(), api_key=KEY)).start()
    sim.faults.hang = 1
    try:
        with httpx.Client(verify=False, base_url=sim.url, headers={"authorization": KEY}) as client:
            with pytest.raises(httpx.ReadTimeout):
                client.get("/v1/personas", timeout=0.2)
            assert client.get("/v1/personas", timeout=5).status_code == 200
            with pytest.raises(httpx.ReadTimeout):
                sim.faults.hang = 1
                client.get("/v1/personas", timeout=0.2)
    finally:
        started = time.monotonic()
        sim.stop()
        assert time.monotonic() - started < 2
    assert [r.status for r in sim.requests] == [0, 200, 0]
