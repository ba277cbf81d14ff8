"""The simulated account: its ownership rules over real HTTP (attach, detach and attach modes),
and loading it from a state file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from reconciler.simulator.account import StateError, load_state
from tests.simulated import Simulator
from tests.unit.simulator.conftest import KEY, N1, N2, N3, N4, A, B, attach, detach, settings_path


def test_attach_steals_and_resets_settings(sim: Simulator, client: httpx.Client) -> None:
    settings = {"pathway_id": "pw_1", "pathway_version": 2, "start_node_id": "n"}
    assert client.patch(settings_path(A, N1), json={"persona_settings": settings}).is_success
    response = attach(client, B, N1, f"  {N3} ")
    assert response.status_code == 200
    assert response.json()["errors"] is None
    persona = response.json()["data"]
    assert persona["id"] == B
    assert [n["phone_number"] for n in persona["inbound_numbers"]] == [N1, N3, N4]
    assert all(n["persona_settings"] is None for n in persona["inbound_numbers"])
    assert sim.owners()[N1] == [B] and sim.owners()[N3] == [B]
    assert sim.persona_numbers(A) == [N2]
    # Re-attaching a number the persona already has keeps its settings.
    assert client.patch(settings_path(B, N1), json={"persona_settings": settings}).is_success
    again = attach(client, B, N1).json()["data"]["inbound_numbers"]
    assert again[0]["persona_settings"] == settings
    assert sim.persona_settings(B, N1) == settings


def test_attach_unknown_number_is_atomic(sim: Simulator, client: httpx.Client) -> None:
    response = attach(client, B, N3, "+19999999999", N1)
    assert response.status_code == 400
    assert response.json() == {
        "data": None,
        "errors": [
            {
                "error": "INVALID_INBOUND_NUMBERS",
                "message": "Some inbound numbers were not found or do not belong to you",
                "details": {"invalid_numbers": ["+19999999999"]},
            }
        ],
    }
    assert sim.persona_numbers(B) == [N4]
    assert sim.owners()[N1] == [A]


def test_detach_only_touches_own_numbers(sim: Simulator, client: httpx.Client) -> None:
    sim.set_persona_settings(A, N1, {"pathway_id": "pw"})
    response = detach(client, A, N1, N4, N3, "+19999999999")
    assert response.status_code == 200
    assert [n["phone_number"] for n in response.json()["data"]["inbound_numbers"]] == [N2]
    assert sim.owners()[N1] == [] and sim.owners()[N4] == [B]
    assert detach(client, A, N1).status_code == 200
    attach(client, A, N1)
    assert sim.persona_settings(A, N1) is None


def test_attach_mode_keep_old(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.attach_mode = "keep_old"
    response = attach(client, B, N1)
    assert response.status_code == 200
    assert sim.owners()[N1] == [A, B]
    old = client.get(f"/v1/personas/{A}").json()["data"]["inbound_numbers"]
    assert N1 in [n["phone_number"] for n in old]
    assert detach(client, A, N1).status_code == 200
    assert sim.owners()[N1] == [B]


def test_attach_mode_refuse(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.attach_mode = "refuse"
    response = attach(client, B, N3, N1)
    assert response.status_code == 409
    error = response.json()["errors"][0]
    assert error["error"] == "INBOUND_NUMBER_IN_USE"
    assert error["details"] == {"phone_numbers": [N1]}
    assert sim.owners()[N3] == [] and sim.owners()[N1] == [A]
    assert attach(client, A, N1, N3).status_code == 200  # own numbers are not "in use"
    assert detach(client, A, N1).status_code == 200
    assert attach(client, B, N1).status_code == 200


def test_state_loading(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"personas": [{"id": "p", "name": "P", "numbers": [N1]}]}))
    sim = Simulator(load_state(path), api_key=KEY)
    assert sim.owners() == {N1: ["p"]}
    sim.add_persona("q", "Q", numbers=[N1, N2])
    assert sim.owners() == {N1: ["q"], N2: ["q"]}
    sim.set_owner(N2, None)
    assert sim.persona_numbers("q") == [N1]
    with pytest.raises(ValueError):
        sim.add_persona("q", "again")
    for text in ("{", "[]", '{"personas": [{"name": "no id"}]}', '{"numbers": [{"label": 1}]}'):
        path.write_text(text)
        with pytest.raises(StateError, match=re.escape(str(path))):
            load_state(path)
    with pytest.raises(StateError, match=r"missing\.json"):
        load_state(tmp_path / "missing.json")
