"""The v2 agent endpoints (bland-api-v2.md): the agents, and the numbers bound to them.

Handlers run with the simulator's lock held and may change the account. Where the docs leave a
reply open (the attach response), the simulator picks one and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .account import USER_ID, Account, AgentRecord
from .replies import JSONObject, Reply, SimulatedError, json_reply
from .requestlog import RequestRecord

if TYPE_CHECKING:
    from .faults import Faults

DEFAULT_AGENT_LIMIT = 100
MAX_AGENT_LIMIT = 500

AgentHandler = Callable[[Account, "Faults", list[str], RequestRecord], Reply]


def number_list(body: Any, faults: Faults) -> list[str]:
    """Validate an attach/detach body; returns the trimmed numbers without duplicates, each
    spelled as the account stores it."""
    numbers = body.get("inbound_numbers") if isinstance(body, dict) else None
    if not isinstance(numbers, list) or not numbers:
        raise SimulatedError(
            400, "INVALID_BODY", "'inbound_numbers' must be a non-empty array of strings"
        )
    out: dict[str, None] = {}
    for value in numbers:
        if not isinstance(value, str) or not value.strip():
            raise SimulatedError(
                400, "INVALID_BODY", "Each entry of 'inbound_numbers' must be a non-empty string"
            )
        out[faults.stored_number(value.strip())] = None
    return list(out)


def _render_agent(agent: AgentRecord, with_environments: bool) -> JSONObject:
    body: JSONObject = {
        "id": agent.id,
        "org_id": USER_ID,
        "name": agent.name,
        "created_by": None,
        "created_at": agent.created_at,
        "updated_at": agent.updated_at,
    }
    if with_environments:
        pins = {"dev": None, "staging": agent.staging_version_id}
        pins["production"] = agent.production_version_id
        for env_type, version_id in pins.items():
            body[env_type] = {
                "id": f"{agent.id}-{env_type}",
                "env_type": env_type,
                "current_version_id": version_id,
            }
    return body


def _ok(data: Any) -> Reply:
    return json_reply(200, {"data": data, "errors": None})


def _agent_id(segments: list[str]) -> str:
    return unquote(segments[2])


def _list_agents(
    account: Account, faults: Faults, segments: list[str], record: RequestRecord
) -> Reply:
    raw = record.query.get("limit", str(DEFAULT_AGENT_LIMIT)).strip()
    try:
        limit = min(max(int(raw), 1), MAX_AGENT_LIMIT)
    except ValueError:
        raise SimulatedError(400, "BAD_REQUEST", "'limit' must be an integer") from None
    live = [agent for agent in account.agents.values() if agent.deleted_at is None]
    live.sort(key=lambda agent: agent.updated_at, reverse=True)
    return _ok([_render_agent(agent, False) for agent in live[:limit]])


def _get_agent(
    account: Account, faults: Faults, segments: list[str], record: RequestRecord
) -> Reply:
    return _ok(_render_agent(account.live_agent(_agent_id(segments)), True))


def _get_binding(
    account: Account, faults: Faults, segments: list[str], record: RequestRecord
) -> Reply:
    # An unknown agent is not a 404 here: its twin persona is simply null.
    agent = account.agents.get(_agent_id(segments))
    twin = agent.twin_id if agent is not None else None
    return _ok({"agent_id": _agent_id(segments), "persona_id": twin})


def _attach(account: Account, faults: Faults, segments: list[str], record: RequestRecord) -> Reply:
    agent_id = _agent_id(segments)
    account.live_agent(agent_id)
    numbers = number_list(record.body, faults)
    twin = account.attach_to_agent(agent_id, numbers)
    # The docs leave the success body open: this one is the simulator's choice.
    return _ok({"agent_id": agent_id, "persona_id": twin.id, "attached_count": len(numbers)})


def _detach(account: Account, faults: Faults, segments: list[str], record: RequestRecord) -> Reply:
    agent_id = _agent_id(segments)
    account.live_agent(agent_id)
    detached = account.detach_from_agent(agent_id, number_list(record.body, faults))
    return _ok({"agent_id": agent_id, "detached_count": detached})


# Keyed by path shape, as routes.py keys its own; "*" marks a variable segment.
AGENT_ROUTES: dict[tuple[str, ...], tuple[AgentHandler, str]] = {
    ("v2", "agents"): (_list_agents, "GET"),
    ("v2", "agents", "*"): (_get_agent, "GET"),
    ("v2", "agents", "*", "inbound"): (_get_binding, "GET"),
    ("v2", "agents", "*", "inbound", "attach"): (_attach, "POST"),
    ("v2", "agents", "*", "inbound", "detach"): (_detach, "POST"),
}
