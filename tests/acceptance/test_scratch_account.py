"""The check of the simulator's log lets through writes of scratch numbers to scratch agents."""

from __future__ import annotations

from typing import Any

import pytest

from tests.acceptance.scratch_account import (
    KEPT_ON_AGENT,
    SCRATCH_AGENT,
    SCRATCH_AGENTS,
    SCRATCH_NUMBERS,
    SCRATCH_PERSONAS,
    foreign_writes,
)


def _agent_write(agent: str, action: str, numbers: list[str]) -> dict[str, Any]:
    path = f"/v2/agents/{agent}/inbound/{action}"
    return {"method": "POST", "path": path, "body": {"inbound_numbers": numbers}}


@pytest.mark.parametrize(
    ("request_", "agents", "foreign"),
    [
        (_agent_write(SCRATCH_AGENT, "attach", [SCRATCH_NUMBERS[0]]), SCRATCH_AGENTS, False),
        (_agent_write(SCRATCH_AGENT, "detach", list(SCRATCH_NUMBERS)), SCRATCH_AGENTS, False),
        (_agent_write(SCRATCH_AGENT, "attach", [SCRATCH_NUMBERS[0]]), (), True),
        (_agent_write("acc-other-agent", "attach", [SCRATCH_NUMBERS[0]]), SCRATCH_AGENTS, True),
        (_agent_write(SCRATCH_AGENT, "detach", [KEPT_ON_AGENT]), SCRATCH_AGENTS, True),
        (_agent_write(SCRATCH_AGENT, "publish", [SCRATCH_NUMBERS[0]]), SCRATCH_AGENTS, True),
    ],
    ids=[
        "attach a scratch number",
        "detach scratch numbers",
        "no scratch agent given",
        "another agent",
        "a number that is not scratch",
        "not an attach or detach",
    ],
)
def test_agent_writes(request_: dict[str, Any], agents: tuple[str, ...], foreign: bool) -> None:
    found = foreign_writes([request_], SCRATCH_PERSONAS, SCRATCH_NUMBERS, agents)
    assert bool(found) == foreign, found


@pytest.mark.parametrize(
    ("persona", "foreign"), [(SCRATCH_PERSONAS[0], False), ("acc-other-persona", True)]
)
def test_persona_writes(persona: str, foreign: bool) -> None:
    path = f"/v1/personas/{persona}/inbound/attach"
    request_ = {"method": "POST", "path": path, "body": {"inbound_numbers": [SCRATCH_NUMBERS[0]]}}
    found = foreign_writes([request_], SCRATCH_PERSONAS, SCRATCH_NUMBERS, SCRATCH_AGENTS)
    assert bool(found) == foreign, found
