"""Fixtures and helpers of the simulator's unit tests: a small account served over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.simulated import Simulator
from tests.simulator_faults import with_test_faults

KEY = "sim-test-key"
A = "11111111-1111-4111-8111-111111111111"
B = "22222222-2222-4222-8222-222222222222"
GONE = "33333333-3333-4333-8333-333333333333"
N1, N2, N3, N4 = "+14155550101", "+14155550102", "+14155550103", "+14155550104"


def base_state() -> dict[str, Any]:
    return {
        "numbers": [{"phone_number": N1, "label": "Main line"}, {"phone_number": N2}, N3],
        "personas": [
            {"id": A, "name": "Support", "numbers": [N2, N1], "deleted_at": None},
            {"id": B, "name": "Sales", "numbers": [N4]},
            {"id": GONE, "name": "Old", "numbers": [], "deleted_at": "2025-02-01T00:00:00.000Z"},
        ],
    }


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with with_test_faults(Simulator(base_state(), api_key=KEY)) as running:
        yield running


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    # verify=False: plain HTTP on loopback; loading the CA bundle for TLS costs ~35 ms a client.
    with httpx.Client(
        verify=False, base_url=sim.url, headers={"authorization": KEY}, timeout=5
    ) as c:
        yield c


def attach(client: httpx.Client, persona: str, *numbers: str) -> httpx.Response:
    return client.post(f"/v1/personas/{persona}/inbound/attach", json={"inbound_numbers": numbers})


def detach(client: httpx.Client, persona: str, *numbers: str) -> httpx.Response:
    return client.post(f"/v1/personas/{persona}/inbound/detach", json={"inbound_numbers": numbers})


def settings_path(persona: str, number: str) -> str:
    return f"/v1/personas/{persona}/inbound/{number.replace('+', '%2B')}/settings"


def error_code(response: httpx.Response) -> str:
    errors = response.json()["errors"]
    assert isinstance(errors, list) and len(errors) == 1
    code = errors[0]["error"]
    assert isinstance(code, str)
    return code
