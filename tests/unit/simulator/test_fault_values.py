"""Which values the simulator's faults (and the tests' own) accept, through /_sim/faults."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reconciler.simulator import ListingMove, Simulator
from tests.simulator_faults import TestFaults
from tests.unit.simulator.conftest import N1, B, error_code

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
    assert sim.faults.move_during_listing == ListingMove(N1, B, 2)
    assert isinstance(sim.faults.trickle_seconds, float)
    assert client.post("/_sim/faults/reset").json() == TestFaults().to_dict()


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
