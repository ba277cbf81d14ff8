"""The simulator as a whole, over real HTTP: auth, routing, the request log, lifecycle, and its
HTTP server: keep-alive, framing, and a stop that ends the accept loop."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from reconciler.simulator import RequestRecord
from reconciler.simulator.account import load_state
from tests.simulated import Simulator, persona_of
from tests.simulator_faults import TestFaults
from tests.unit.simulator.conftest import (
    KEY,
    N1,
    N3,
    N4,
    A,
    B,
    attach,
    base_state,
    detach,
    error_code,
    settings_path,
)

AUTH_ERROR = {
    "data": None,
    "errors": [{"error": "AUTH_FAILURE", "message": "Invalid or missing API key"}],
}


def test_auth_is_exact_header_match(sim: Simulator) -> None:
    with httpx.Client(verify=False, base_url=sim.url, timeout=5) as anon:
        for headers in ({}, {"authorization": "wrong"}, {"authorization": f"Bearer {KEY}"}):
            for path in ("/v1/personas", f"/v1/personas/{A}", "/v1/inbound", "/_sim/log"):
                response = anon.get(path, headers=headers)
                assert response.status_code == 401, (headers, path)
                assert response.json() == AUTH_ERROR
        response = anon.post(
            f"/v1/personas/{A}/inbound/attach", json={"inbound_numbers": [N3]}, headers={}
        )
        assert response.status_code == 401
        assert anon.get("/v1/personas", headers={"Authorization": KEY}).status_code == 200
    assert N3 not in sim.persona_numbers(A)


def test_unknown_path_and_wrong_method(client: httpx.Client) -> None:
    response = client.get("/v1/nothing")
    assert (response.status_code, response.json()) == (404, {"error": "Not found"})
    response = client.delete("/v1/personas")
    assert response.status_code == 405
    assert response.json() == {"status": "error", "message": "Method not allowed"}
    assert client.get(f"/v1/personas/{A}/inbound/attach").status_code == 405


def test_on_write_can_change_state_mid_apply(sim: Simulator, client: httpx.Client) -> None:
    seen: list[RequestRecord] = []

    def delete_target(s: Simulator, record: RequestRecord) -> None:
        seen.append(record)
        s.delete_persona(B)

    sim.on_write = delete_target
    response = attach(client, B, N3)
    assert (response.status_code, error_code(response)) == (404, "PERSONA_NOT_FOUND")
    assert [(r.method, persona_of(r.path), r.kind) for r in seen] == [("POST", B, "write")]
    assert sim.owners()[N3] == []


def test_request_log(sim: Simulator, client: httpx.Client) -> None:
    client.get("/v1/personas", params={"page": 1, "limit": 100})
    client.get(f"/v1/personas/{A}")
    attach(client, B, N3)
    detach(client, "nope", N3)
    client.patch(settings_path(B, N3), json={"persona_settings": None})
    client.get("/_sim/log")
    records = sim.requests
    assert [(r.method, r.kind, r.status, persona_of(r.path)) for r in records] == [
        ("GET", "read", 200, None),
        ("GET", "read", 200, A),
        ("POST", "write", 200, B),
        ("POST", "write", 404, "nope"),
        ("PATCH", "write", 200, B),
    ]
    assert records[0].path == "/v1/personas"
    assert records[0].query == {"page": "1", "limit": "100"}
    assert records[2].body == {"inbound_numbers": [N3]}
    assert len(sim.reads()) == 2 and len(sim.writes()) == 3
    sim.requests.clear()
    assert sim.requests == []


def test_latency(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.latency = 0.05
    started = time.monotonic()
    assert client.get("/v1/personas").status_code == 200
    assert time.monotonic() - started >= 0.05
    sim.faults.latency = 0
    started = time.monotonic()
    assert client.get("/_sim/log").status_code == 200


def test_concurrent_requests(sim: Simulator) -> None:
    import concurrent.futures

    numbers = [f"+1415600{i:04d}" for i in range(40)]
    for number in numbers:
        sim.add_number(number)

    with (
        httpx.Client(verify=False, base_url=sim.url, headers={"authorization": KEY}) as client,
        concurrent.futures.ThreadPoolExecutor(8) as pool,
    ):

        def work(number: str) -> int:
            return attach(client, A if number[-1] in "02468" else B, number).status_code

        assert set(pool.map(work, numbers)) == {200}
    assert len(sim.writes()) == 40
    assert all(len(sim.owners()[n]) == 1 for n in numbers)


def test_control_endpoints(sim: Simulator, client: httpx.Client, tmp_path: Path) -> None:
    attach(client, B, N1)
    log = client.get("/_sim/log").json()["requests"]
    assert [(r["method"], r["kind"], r["status"], persona_of(r["path"])) for r in log] == [
        ("POST", "write", 200, B)
    ]
    assert log[0]["body"] == {"inbound_numbers": [N1]} and log[0]["query"] == {}
    assert client.post("/_sim/log/clear").status_code == 200
    assert client.get("/_sim/log").json() == {"requests": []}

    sim.set_persona_settings(B, N1, {"pathway_id": "pw"})
    state = client.get("/_sim/state").json()
    assert state["personas"][1] == {
        "id": B,
        "name": "Sales",
        "deleted_at": None,
        "numbers": [N4, N1],
        "persona_settings": {N1: {"pathway_id": "pw"}},
    }
    assert {"phone_number": N1, "label": "Main line"} in state["numbers"]
    dumped = tmp_path / "state.json"
    dumped.write_text(json.dumps(state))
    with Simulator(load_state(dumped), api_key=KEY) as copy:
        assert copy.export_state() == state
        assert copy.owners() == sim.owners()
    assert (
        client.post("/_sim/state", json=base_state()).json()
        == Simulator(base_state()).export_state()
    )
    assert client.post("/_sim/state", json=[]).status_code == 400

    response = client.post("/_sim/faults", json={"write_statuses": [503], "retry_after": "1"})
    assert response.status_code == 200 and response.json()["write_statuses"] == [503]
    assert sim.faults.write_statuses == [503] and sim.faults.retry_after == "1"
    bad = client.post("/_sim/faults", json={"attach_mode": "merge"})
    assert (bad.status_code, error_code(bad)) == (400, "INVALID_BODY")
    assert client.post("/_sim/faults", json={"nope": 1}).status_code == 400
    defaults = TestFaults().to_dict()
    assert client.post("/_sim/faults", json=defaults).json() == defaults
    assert client.post("/_sim/faults", json={}).json()["write_statuses"] == []
    assert client.get("/_sim/nothing").status_code == 404
    assert sim.requests == []


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
    assert (
        httpx.get(f"{url}/v1/personas", headers={"authorization": KEY}, verify=False).status_code
        == 200
    )
    sim.stop()
    assert loop not in [thread.name for thread in threading.enumerate()]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/v1/personas", verify=False)
