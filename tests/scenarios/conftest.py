"""Fixtures of the scenarios: a simulator started with fault switches on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from reconciler.simulator import Simulator
from tests.conftest import TEST_KEY, point_cli_at
from tests.simulator_faults import with_test_faults

StartSim = Callable[..., Simulator]


@pytest.fixture
def start_sim(example_state: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[StartSim]:
    """Start a simulator with `TestFaults(**switches)` (of the example account unless `state`),
    with the CLI's environment pointing at it; every one started is stopped after the test."""
    started: list[Simulator] = []

    def start(state: dict[str, Any] | None = None, **switches: Any) -> Simulator:
        simulator = Simulator(example_state if state is None else state, api_key=TEST_KEY)
        with_test_faults(simulator, **switches)
        started.append(simulator.start())
        return point_cli_at(simulator, monkeypatch)

    yield start
    for simulator in started:
        simulator.stop()
