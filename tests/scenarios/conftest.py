"""Fixtures of the scenarios: a simulator started with fault switches on."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import TEST_KEY, point_cli_at
from tests.scenarios.agent_account import state as agent_state
from tests.simulated import Simulator
from tests.simulator_faults import with_test_faults

StartSim = Callable[..., Simulator]
# How many agents fill GET /v2/agents in `start_sim_past_the_agent_list` (the API's is 500).
AGENT_LIST_CAP = 4


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


@pytest.fixture
def start_sim_past_the_agent_list(
    start_sim: StartSim, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StartSim]:
    """`start_sim(**switches)` of the agent account (tests/scenarios/agent_account.py) with
    agents enough to fill GET /v2/agents, all updated after Bot, which the list leaves out.

    The list holds at most 500 agents and has no paging, so a full list may have left agents
    out. The CLI's limit is lowered to AGENT_LIST_CAP for the test: the same rule shows with
    a few agents, where 500 would cost a read of each one's binding in every run. After the
    test, every listing is checked to have asked for that limit.
    """
    # Every module of the client that holds the limit, wherever it is kept.
    holders = [
        module
        for name, module in sorted(sys.modules.items())
        if name.startswith("reconciler.") and hasattr(module, "AGENT_LIST_LIMIT")
    ]
    assert holders, "no module of reconciler holds AGENT_LIST_LIMIT any more"
    for module in holders:
        monkeypatch.setattr(module, "AGENT_LIST_LIMIT", AGENT_LIST_CAP)
    started: list[Simulator] = []

    def start(**switches: Any) -> Simulator:
        started.append(start_sim(agent_state(filler_agents=AGENT_LIST_CAP), **switches))
        return started[-1]

    yield start
    listings = [r for sim in started for r in sim.reads() if r.path == "/v2/agents"]
    assert listings and all(r.query.get("limit") == str(AGENT_LIST_CAP) for r in listings)
