"""The acceptance target (`--acceptance-target`), and the scratch routing recorded and restored.

`make test` runs the scenarios against a simulator in this process. `make acceptance` passes
`--acceptance-target=live`: the account named by BLAND_API_URL and BLAND_API_KEY, with the
scratch personas and numbers of RECONCILER_SCRATCH_PERSONAS and RECONCILER_SCRATCH_NUMBERS (and
the scratch agents of RECONCILER_SCRATCH_AGENTS, if set), only when RECONCILER_ACCEPTANCE=1
(see docs/acceptance.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict

import pytest

from tests.acceptance.harness import (
    Scratch,
    Target,
    in_process_key,
    live_target,
    number_problems,
    persona_problems,
    terminate_as_interrupt,
)
from tests.acceptance.scratch_account import (
    SCRATCH_AGENTS,
    SCRATCH_NUMBERS,
    SCRATCH_PERSONAS,
    SIMULATOR_FAULTS,
    foreign_writes,
    scratch_state,
    state_differences,
)
from tests.acceptance.snapshot import take_snapshot
from tests.simulated import Simulator


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--acceptance-target",
        choices=("simulator", "live"),
        default="simulator",
        help="Run tests/acceptance against the in-process simulator (default) or the account "
        "the environment names (opt-in: RECONCILER_ACCEPTANCE=1, see docs/acceptance.md).",
    )


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """The account under test; an in-process simulator is checked after the last scenario."""
    if request.config.getoption("--acceptance-target", default="simulator") == "live":
        yield live_target(os.environ)
        return
    key = in_process_key()
    with Simulator(scratch_state(), api_key=key) as simulator:
        simulator.faults.update(SIMULATOR_FAULTS)
        before = simulator.export_state()
        a, b = SCRATCH_PERSONAS
        yield Target(
            "simulator", simulator.url, key, (a, b), SCRATCH_NUMBERS, simulator,
            agents=SCRATCH_AGENTS,
        )  # fmt: skip
        # After `scratch` restored the routing: the account exactly as found, and nothing but
        # scratch numbers on scratch personas and agents ever written.
        assert state_differences(before, simulator.export_state()) == []
        requests = [asdict(record) for record in simulator.requests]
        assert foreign_writes(requests, SCRATCH_PERSONAS, SCRATCH_NUMBERS, SCRATCH_AGENTS) == []


@pytest.fixture(scope="session")
def scratch(target: Target, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scratch]:
    """The scratch routing, settings and labels, recorded before the first scenario and restored
    after the last."""
    with target.client() as client:
        problems = persona_problems(client, target)
        if problems:
            pytest.exit("acceptance: " + "; ".join(problems), returncode=1)
        recorded = take_snapshot(client, target)
        problems = number_problems(client, target, recorded)
    if problems:
        pytest.exit("acceptance: " + "; ".join(problems), returncode=1)
    state = Scratch(target, tmp_path_factory.mktemp("acceptance"), recorded)
    problems = state.recorded_problems()
    if problems:
        pytest.exit("acceptance: " + "; ".join(problems), returncode=1)
    with terminate_as_interrupt():
        try:
            yield state
        finally:
            state.restore()
