"""Answers the tests play in front of the simulator (tests/simulator_faults.py), over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from reconciler.simulator import Simulator
from tests.unit.simulator.conftest import GONE, N1, N2, N3, N4, A, B, attach


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
