"""The simulated label endpoint, POST /inbound/update_label (no /v1), and labels in personas."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reconciler.simulator import Simulator
from tests.unit.simulator.conftest import N1, N2, N3, A, error_code

LABEL = "/inbound/update_label"


def persona_numbers(client: httpx.Client, persona: str) -> dict[str, Any]:
    data = client.get(f"/v1/personas/{persona}").json()["data"]
    return {entry["phone_number"]: entry for entry in data["inbound_numbers"]}


def test_a_label_is_set_shown_on_the_persona_and_cleared(
    sim: Simulator, client: httpx.Client
) -> None:
    response = client.post(LABEL, json={"phoneNumber": N2, "newLabel": "Front desk"})
    assert response.status_code == 200
    assert response.json() == {
        "data": {
            "message": "Label updated successfully",
            "phone_number": N2,
            "label": "Front desk",
        },
        "errors": None,
    }
    assert persona_numbers(client, A)[N2]["label"] == "Front desk"
    assert sim.label(N2) == "Front desk"
    assert client.post(LABEL, json={"phoneNumber": N2, "newLabel": ""}).status_code == 200
    assert persona_numbers(client, A)[N2]["label"] is None
    # A number on no persona has a label too.
    assert client.post(LABEL, json={"phoneNumber": N3, "newLabel": "Spare"}).status_code == 200
    assert sim.label(N3) == "Spare"
    assert [r.kind for r in sim.requests if r.path == LABEL] == ["write"] * 3


def test_persona_objects_carry_each_numbers_label_and_settings(client: httpx.Client) -> None:
    assert persona_numbers(client, A)[N1] == {
        "phone_number": N1,
        "label": "Main line",
        "persona_id": A,
        "persona_settings": None,
    }


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"phoneNumber": N1}, 400, "INVALID_REQUEST"),
        ({"newLabel": "x"}, 400, "INVALID_REQUEST"),
        ({"phoneNumber": N1, "newLabel": None}, 400, "INVALID_REQUEST"),
        ({"phoneNumber": 14155550101, "newLabel": "x"}, 400, "INVALID_REQUEST"),
        ({"phoneNumber": N1, "newLabel": "x" * 151}, 400, "LABEL_TOO_LONG"),
        ({"phoneNumber": N1, "newLabel": "\U0001f4de" * 76}, 400, "LABEL_TOO_LONG"),
    ],
)
def test_the_documented_label_errors(
    sim: Simulator, client: httpx.Client, body: dict[str, Any], status: int, code: str
) -> None:
    response = client.post(LABEL, json=body)
    assert (response.status_code, error_code(response)) == (status, code)
    assert sim.label(N1) == "Main line"


def test_150_characters_are_taken(sim: Simulator, client: httpx.Client) -> None:
    assert client.post(LABEL, json={"phoneNumber": N1, "newLabel": "x" * 150}).status_code == 200
    assert sim.label(N1) == "x" * 150


def test_an_unknown_number_is_a_404_outside_the_envelope(client: httpx.Client) -> None:
    response = client.post(LABEL, json={"phoneNumber": "+14155550199", "newLabel": "x"})
    assert response.status_code == 404
    assert response.json() == {"error": "Phone number not found"}


def test_a_wrong_key_is_a_401(sim: Simulator) -> None:
    with httpx.Client(base_url=sim.url, headers={"authorization": "wrong"}) as other:
        response = other.post(LABEL, json={"phoneNumber": N1, "newLabel": "x"})
    assert (response.status_code, error_code(response)) == (401, "AUTH_FAILURE")
    assert sim.label(N1) == "Main line"


def test_the_path_with_v1_is_not_the_label_endpoint(sim: Simulator, client: httpx.Client) -> None:
    before = sim.label(N1)
    response = client.post("/v1" + LABEL, json={"phoneNumber": N1, "newLabel": "x"})
    # GET /v1/inbound/{number} has that shape; the simulator serves no POST there.
    assert (response.status_code, response.headers["allow"]) == (405, "GET")
    assert sim.label(N1) == before
