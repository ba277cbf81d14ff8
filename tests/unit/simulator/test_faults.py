"""The simulator's fault switches, over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reconciler.simulator import Simulator
from reconciler.simulator.faults import Faults
from tests.simulator_faults import TestFaults
from tests.unit.simulator.conftest import N1, N2, N3, N4, A, B, attach, error_code


def test_scripted_read_statuses_in_order_with_retry_after(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.faults.read_statuses = [503, 200, 429, 0, 401, 403, 404, 418]
    sim.faults.retry_after = "2"
    first = client.get("/v1/personas")
    assert first.status_code == 503
    assert error_code(first) == "INTERNAL_SERVER_ERROR"
    assert "retry-after" not in first.headers
    assert client.get("/v1/personas").status_code == 200
    limited = client.get("/v1/personas")
    assert limited.status_code == 429
    assert limited.json() == {"status": "error", "message": "Rate limit exceeded"}
    assert limited.headers["retry-after"] == "2"
    assert client.get("/v1/inbound").status_code == 200
    codes = [(r.status_code, error_code(r)) for r in (client.get("/v1/inbound") for _ in range(4))]
    assert codes == [
        (401, "AUTH_FAILURE"),
        (403, "FORBIDDEN"),
        (404, "PERSONA_NOT_FOUND"),
        (418, "INVALID_REQUEST"),
    ]
    assert sim.faults.read_statuses == []
    assert [r.status for r in sim.reads()] == [503, 200, 429, 200, 401, 403, 404, 418]


def test_scripted_write_error_does_not_write(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.write_statuses = [500, 429]
    client.get("/v1/personas")  # reads do not consume write statuses
    assert attach(client, B, N3).status_code == 500
    no_header = attach(client, B, N3)
    assert no_header.status_code == 429 and "retry-after" not in no_header.headers
    assert sim.owners()[N3] == []
    assert attach(client, B, N3).status_code == 200
    assert sim.owners()[N3] == [B]


def test_drop_after_write_applies_but_loses_response(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.drop_after_write = 1
    with pytest.raises(httpx.RemoteProtocolError):
        attach(client, B, N1)
    assert sim.owners()[N1] == [B]
    assert sim.writes()[-1].status == 200  # performed and logged, its answer never sent
    assert attach(client, B, N3).status_code == 200


def test_hang_writes_after(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.hang_writes_after = 1
    assert attach(client, B, N3).status_code == 200
    assert client.get("/v1/personas").status_code == 200
    with pytest.raises(httpx.ReadTimeout):
        client.post(f"/v1/personas/{A}/inbound/attach", json={"inbound_numbers": [N3]}, timeout=0.2)
    assert sim.owners()[N3] == [B]
    sim.faults.hang_writes_after = None
    assert attach(client, A, N3).status_code == 200


def test_html_errors(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.html_errors = True
    sim.faults.read_statuses = [502]
    response = client.get("/v1/personas")
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == "<html><body><h1>502 Bad Gateway</h1></body></html>"
    assert client.get("/v1/personas").status_code == 200


def test_inbound_numbers_as_strings(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.inbound_numbers_as_strings = True
    assert client.get(f"/v1/personas/{A}").json()["data"]["inbound_numbers"] == [N1, N2]
    listed = client.get("/v1/personas").json()["data"]
    assert listed[1]["inbound_numbers"] == [N4]
    assert attach(client, B, N3).json()["data"]["inbound_numbers"] == [N3, N4]


GOOD: dict[str, Any] = {
    "move_during_listing": {"number": N1, "to_persona": B, "after_page": 2},
    "ignore_page": True,
    "limit_cap": 50,
    "inbound_owner_overrides": {N1: B},
    "trickle_seconds": 0.5,
    "endless_body": True,
    "endless_body_cap": 1024,
    "large_body_bytes": 10_000_000,
    "malformed": ["numbers_as_integers", "persona_without_id"],
}

BAD: list[dict[str, Any]] = [
    {"move_during_listing": {"number": N1, "to_persona": B}},
    {"move_during_listing": {"number": N1, "to_persona": "", "after_page": 1}},
    {"move_during_listing": {"number": N1, "to_persona": B, "after_page": 0}},
    {"move_during_listing": [N1, B, 1]},
    {"ignore_page": 1},
    {"limit_cap": 0},
    {"limit_cap": "50"},
    {"inbound_owner_overrides": {N1: None}},
    {"inbound_owner_overrides": [N1, B]},
    {"trickle_seconds": -1},
    {"endless_body": "yes"},
    {"endless_body_cap": 0},
    {"large_body_bytes": -5},
    {"malformed": ["everything"]},
    {"malformed": "numbers_as_integers"},
]


def test_the_new_faults_round_trip_through_the_control_api(
    sim: Simulator, client: httpx.Client
) -> None:
    response = client.post("/_sim/faults", json=GOOD)
    assert response.status_code == 200
    shown = response.json()
    assert {name: shown[name] for name in GOOD} == GOOD
    assert sim.faults.move_during_listing == GOOD["move_during_listing"]
    assert isinstance(sim.faults.trickle_seconds, float)
    defaults = TestFaults().to_dict()
    assert client.post("/_sim/faults", json=defaults).json() == defaults


@pytest.mark.parametrize("change", BAD, ids=[str(change) for change in BAD])
def test_bad_values_are_refused_and_change_nothing(
    sim: Simulator, client: httpx.Client, change: dict[str, Any]
) -> None:
    before = sim.faults.to_dict()
    response = client.post("/_sim/faults", json={"ignore_page": True, **change})
    assert (response.status_code, error_code(response)) == (400, "INVALID_BODY")
    assert sim.faults.to_dict() == before


def test_the_shown_values_are_copies(sim: Simulator) -> None:
    sim.faults.update({"inbound_owner_overrides": {N1: B}, "malformed": ["data_not_a_list"]})
    shown = sim.faults.to_dict()
    shown["inbound_owner_overrides"].clear()
    shown["malformed"].clear()
    assert sim.faults.inbound_owner_overrides == {N1: B}
    assert sim.faults.malformed == ["data_not_a_list"]


@pytest.mark.parametrize("kind", [Faults, TestFaults])
def test_every_switch_takes_its_own_default(kind: type[Faults]) -> None:
    """A switch of a type its rule does not know would refuse every value, its default too."""
    kind().update(kind().to_dict())


@pytest.mark.parametrize(
    ("switch", "value", "taken"),
    [
        ("latency", 1, True),
        ("latency", -0.5, False),
        ("latency", True, False),
        ("drop_after_write", 2.0, False),
        ("read_statuses", [0, 100, 599], True),
        ("read_statuses", [99], False),
        ("read_statuses", [True], False),
        ("retry_after", None, True),
        ("retry_after", 3, False),
        ("twins_listed", 1, False),
        ("listing_spellings", {N1: " "}, False),
        ("listing_spellings", {N1: "x"}, True),
    ],
)
def test_a_switch_takes_what_its_type_says(switch: str, value: Any, taken: bool) -> None:
    assert TestFaults().accepts(switch, value) is taken
