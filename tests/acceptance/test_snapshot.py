"""The snapshot records a scratch agent's numbers only where plan sees them, now and after an
attach; the agent scenario skips otherwise, so no number is left on an agent plan cannot read."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.model import owner_key
from tests.acceptance.harness import Target, in_process_key
from tests.acceptance.scratch_account import (
    KEPT_ON_AGENT,
    SCRATCH_AGENT,
    SCRATCH_NUMBERS,
    SCRATCH_PERSONAS,
    scratch_state,
)
from tests.acceptance.snapshot import take_snapshot
from tests.simulated import Simulator

AGENT_KEY = owner_key("agent", SCRATCH_AGENT)


def never_attached() -> dict[str, Any]:
    """The scratch account with an agent that has never held a number (so has no twin)."""
    state = scratch_state()
    state["personas"] = [p for p in state["personas"] if not p.get("tags")]
    return state


@pytest.mark.parametrize(
    ("state", "faults", "recorded"),
    [
        (scratch_state(), {}, None),
        (scratch_state(), {"twins_readable": True}, {KEPT_ON_AGENT}),
        (scratch_state(), {"twins_listed": True}, {KEPT_ON_AGENT}),
        (scratch_state(), {"legacy_inbound_includes_persona": True}, {KEPT_ON_AGENT}),
        (never_attached(), {}, None),
        (never_attached(), {"legacy_inbound_includes_persona": True}, set()),
    ],
    ids=[
        "twin hidden, no owners named",
        "twin readable by id",
        "twin listed",
        "owners named",
        "no twin yet, no owners named",
        "no twin yet, owners named",
    ],
)
def test_an_agent_is_recorded_only_where_plan_sees_its_numbers(
    state: dict[str, Any], faults: dict[str, Any], recorded: set[str] | None
) -> None:
    key = in_process_key()
    with Simulator(state, api_key=key) as simulator:
        simulator.faults.update(faults)
        target = Target(
            "simulator", simulator.url, key, SCRATCH_PERSONAS, SCRATCH_NUMBERS, simulator,
            agents=(SCRATCH_AGENT,),
        )  # fmt: skip
        with target.client() as client:
            snapshot = take_snapshot(client, target)
    assert snapshot.routing.get(AGENT_KEY) == (None if recorded is None else frozenset(recorded))
    assert set(snapshot.routing) >= set(SCRATCH_PERSONAS)
