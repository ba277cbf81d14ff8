"""The simulator's /_sim control endpoints."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from reconciler.simulator import Simulator, load_state
from tests.simulator_faults import TestFaults
from tests.unit.simulator.conftest import KEY, N1, N4, B, attach, error_code


def test_control_endpoints(sim: Simulator, client: httpx.Client, tmp_path: Path) -> None:
    attach(client, B, N1)
    log = client.get("/_sim/log").json()["requests"]
    assert [(r["method"], r["kind"], r["status"], r["persona_id"]) for r in log] == [
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

    response = client.post("/_sim/faults", json={"write_statuses": [503], "retry_after": "1"})
    assert response.status_code == 200 and response.json()["write_statuses"] == [503]
    assert sim.faults.write_statuses == [503] and sim.faults.retry_after == "1"
    bad = client.post("/_sim/faults", json={"attach_mode": "merge"})
    assert (bad.status_code, error_code(bad)) == (400, "INVALID_BODY")
    assert client.post("/_sim/faults", json={"nope": 1}).status_code == 400
    assert client.post("/_sim/faults/reset").json() == TestFaults().to_dict()
    assert client.get("/_sim/faults").json()["write_statuses"] == []
    assert client.get("/_sim/nothing").status_code == 404
    assert sim.requests == []
