"""The simulated account the acceptance scenarios run against when no live account is given.

Two scratch personas, each also holding a number that is not scratch (it must stay put, with
its per-number settings), a scratch number with settings and a label (the scenarios change
both; the restore writes them back), a persona that is not scratch holding a number of its
own, a deleted persona, scratch numbers on a scratch persona and on none, and two scratch v2
agents, each with a twin persona, one of them holding a number that is not scratch (an agent
that has taken a number once has a twin for good: made by a scenario, it would be left
behind). The same account
backs the in-process target of `make test` and the separate simulator of
`make acceptance-simulator`, which also use the checks below on the simulator's request log
and exported state.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

SCRATCH_A = "acc-scratch-a-0001"
SCRATCH_B = "acc-scratch-b-0002"
SCRATCH_PERSONAS = (SCRATCH_A, SCRATCH_B)
SCRATCH_NUMBERS = ("+15550100001", "+15550100002", "+15550100003")
KEPT_ON_A = "+15550100020"  # on scratch persona A, not scratch: it stays, settings and all
KEPT_ON_B = "+15550100021"
OTHER = "acc-other-0003"
OTHER_NUMBER = "+15550100010"
SCRATCH_AGENT = "acc-scratch-agent-0005"
SCRATCH_AGENT_B = "acc-scratch-agent-b-0007"
SCRATCH_AGENTS = (SCRATCH_AGENT, SCRATCH_AGENT_B)
KEPT_ON_AGENT = "+15550100040"  # on the scratch agent, not scratch: it stays
# The simulated account lets its twin personas be read by id (a switch: the docs leave it
# open), so that plan can see which numbers the scratch agent holds.
SIMULATOR_FAULTS = {"twins_readable": True}

STATE: dict[str, Any] = {
    "numbers": [
        {"phone_number": "+15550100001", "label": "Scratch one"},
        {"phone_number": "+15550100002", "label": "Scratch two"},
        {"phone_number": "+15550100003", "label": None},
        {"phone_number": OTHER_NUMBER, "label": "Production line"},
        {"phone_number": KEPT_ON_A, "label": "Kept on A"},
        {"phone_number": KEPT_ON_B, "label": None},
        {"phone_number": "+15550100030", "label": "Spare"},
        {"phone_number": KEPT_ON_AGENT, "label": "Kept on the agent"},
    ],
    "personas": [
        {"id": OTHER, "name": "Production", "numbers": [OTHER_NUMBER]},
        {
            "id": SCRATCH_A,
            "name": "Scratch A",
            "numbers": [KEPT_ON_A, "+15550100001"],
            "persona_settings": {
                KEPT_ON_A: {"pathway_id": "pathway_kept", "pathway_version": 3},
                "+15550100001": {"pathway_id": "pathway_scratch", "start_node_id": "node_1"},
            },
        },
        {"id": SCRATCH_B, "name": "Scratch B", "numbers": [KEPT_ON_B]},
        {
            "id": "acc-deleted-0004",
            "name": "Deleted",
            "numbers": [],
            "deleted_at": "2026-01-01T00:00:00Z",
        },
        {
            "id": "acc-scratch-agent-twin-0006",
            "name": "Scratch agent",
            "numbers": [KEPT_ON_AGENT],
            "tags": [f"v2-agent:{SCRATCH_AGENT}"],
        },
        {
            "id": "acc-scratch-agent-b-twin-0008",
            "name": "Scratch agent B",
            "numbers": [],
            "tags": [f"v2-agent:{SCRATCH_AGENT_B}"],
        },
    ],
    "agents": [
        {
            "id": SCRATCH_AGENT,
            "name": "Scratch agent",
            "versions": 1,
            "production_version_id": "acc-scratch-agent-v1",
        },
        {
            "id": SCRATCH_AGENT_B,
            "name": "Scratch agent B",
            "versions": 1,
            "production_version_id": "acc-scratch-agent-b-v1",
        },
    ],
}


def scratch_state() -> dict[str, Any]:
    """A fresh copy of the account's state."""
    return copy.deepcopy(STATE)


def normalised(state: Mapping[str, Any]) -> dict[str, Any]:
    """A state as exported, with each persona's numbers sorted.

    The simulator lists a persona's numbers in the order they were attached; a number detached
    and attached again comes back last, which is the same routing.
    """
    result = copy.deepcopy(dict(state))
    for persona in result.get("personas", []):
        persona["numbers"] = sorted(persona.get("numbers", []))
    return result


def state_differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """How two exported states differ, one line per persona or number (none: the same)."""
    first, second = normalised(before), normalised(after)
    lines: list[str] = []
    for key, name in (("personas", "id"), ("numbers", "phone_number")):
        old = {item[name]: item for item in first.get(key, [])}
        new = {item[name]: item for item in second.get(key, [])}
        for ident in sorted(old.keys() | new.keys()):
            if old.get(ident) != new.get(ident):
                lines.append(f"{key} {ident}: {old.get(ident)} -> {new.get(ident)}")
    if not lines and first != second:
        lines.append("the order of personas or numbers changed")
    return lines


def foreign_writes(
    requests: Iterable[Mapping[str, Any]],
    personas: Sequence[str],
    numbers: Sequence[str],
    agents: Sequence[str] = (),
) -> list[str]:
    """Every logged request that wrote anything but scratch numbers on scratch personas and
    agents: an attach or detach, a settings write, or a label write (which names no persona)
    of them."""
    return [
        f"{request['method']} {request['path']} {request.get('body')}"
        for request in requests
        if request["method"] != "GET" and not _scratch_write(request, personas, numbers, agents)
    ]


def _scratch_write(
    request: Mapping[str, Any],
    personas: Sequence[str],
    numbers: Sequence[str],
    agents: Sequence[str],
) -> bool:
    body = request.get("body")
    if not isinstance(body, dict):
        return False
    path, method = str(request["path"]), request["method"]
    if path == "/inbound/update_label":
        return method == "POST" and body.get("phoneNumber") in numbers
    segments = path.strip("/").split("/")
    on_agent = segments[:2] == ["v2", "agents"] and len(segments) == 5 and segments[3] == "inbound"
    if on_agent and unquote(segments[2]) not in agents:
        return False
    on_persona = segments[:2] == ["v1", "personas"] and len(segments) > 2
    if not on_agent and (not on_persona or unquote(segments[2]) not in personas):
        return False
    if method == "PATCH" and len(segments) == 6 and segments[3::2] == ["inbound", "settings"]:
        return unquote(segments[4]) in numbers and "persona_settings" in body
    sent = body.get("inbound_numbers")
    return (
        method == "POST"
        and segments[-1] in ("attach", "detach")
        and isinstance(sent, list)
        and set(sent) <= set(numbers)
    )
