"""The v2 agent endpoints: their paths, and their answers read into the model; no I/O here.

An agent answers its numbers through a hidden twin persona that only the agent API may touch.
The docs leave much open: the list has no paging, the attach answer has no documented shape,
and no endpoint lists an agent's numbers, so what answers a number is read from
GET /v1/inbound/{number}, whose `persona_id` is undocumented.
"""

from __future__ import annotations

from typing import Any, Literal

from reconciler.api.numbers import as_read
from reconciler.api.urls import INBOUND_PATH, path_segment, shown_text
from reconciler.api.wire import Malformed, data_of, id_of, json_type, optional_id, reading
from reconciler.errors import ApiError
from reconciler.model import UNREAD, AgentListing, InboundRoute, LiveAgent, Unread

AGENTS_PATH = "/v2/agents"
# The documented maximum of `limit`. The list has no page, cursor or total: a full page may
# have left agents out, and there is no way to ask for them.
AGENT_LIST_LIMIT = 500

AgentAction = Literal["attach", "detach"]


def agent_path(agent_id: str, *rest: str) -> str:
    """The path of one agent, or of what follows it: `inbound` (its twin), `inbound/attach`."""
    return "/".join([AGENTS_PATH, path_segment(agent_id, "agent id"), *rest])


def inbound_number_path(number: str) -> str:
    """The path of one inbound number; its `+` is sent as %2B."""
    return f"{INBOUND_PATH}/{path_segment(number, 'phone number')}"


def is_not_found(error: ApiError) -> bool:
    """True for the API saying a thing does not exist: a 404 with a NOT_FOUND code. A 404
    without it (a proxy's page, a base URL without /v2) is left to report as what it is."""
    code = error.code or ""
    return error.status == 404 and (code == "NOT_FOUND" or code.endswith("_NOT_FOUND"))


def _production_version(item: dict[str, Any]) -> str | None:
    """The version production is pinned to: the docs do not say how the environments are laid
    out, so under `environments` as a mapping or a list, or a top-level `production`."""
    environments = item.get("environments")
    production: Any = item.get("production")
    if isinstance(environments, dict):
        production = environments.get("production", production)
    elif isinstance(environments, list):
        found = [env for env in environments if isinstance(env, dict)]
        production = next((env for env in found if env.get("env_type") == "production"), production)
    version = production.get("current_version_id") if isinstance(production, dict) else None
    return version if isinstance(version, str) and version else None


def _agent(item: Any, where: str) -> LiveAgent:
    agent_id = id_of(item, where)
    if not agent_id:
        raise Malformed(f"{where} has an `id` that is an empty string")
    # As a persona's: a name is only shown, so an odd one is shown as text, not refused.
    name = str(item.get("name") or "")
    return LiveAgent(agent_id, name, production_version_id=_production_version(item))


def agents_from_list(payload: Any) -> AgentListing:
    """The agents of GET /v2/agents: its `data` (or a bare list), each with an id, once."""
    items = data_of(payload)
    agents: dict[str, LiveAgent] = {}
    with reading("GET", AGENTS_PATH):
        if not isinstance(items, list):
            what = "`data`" if isinstance(payload, dict) else "the body"
            raise Malformed(f"{what} is {json_type(items)}, not a list of agents")
        for index, item in enumerate(items):
            agent = _agent(item, f"data[{index}]")
            if agent.id in agents:
                raise Malformed(f"agent {shown_text(agent.id)} is listed twice")
            agents[agent.id] = agent
    return AgentListing(list(agents.values()), len(items) >= AGENT_LIST_LIMIT)


def agent_from_answer(payload: Any, path: str) -> LiveAgent:
    """The agent in the `data` of GET /v2/agents/{id}."""
    with reading("GET", path):
        return _agent(data_of(payload), "`data`")


def _data_of_agent(payload: Any, agent_id: str) -> dict[str, Any]:
    """The `data` object of an answer about one agent; refused if it names another agent."""
    data = data_of(payload)
    if not isinstance(data, dict):
        raise Malformed(f"`data` is {json_type(data)}, not an object")
    named = data.get("agent_id", agent_id)
    if not isinstance(named, str | int) or isinstance(named, bool) or str(named) != agent_id:
        shown = repr(shown_text(named)) if isinstance(named, str) else json_type(named)
        raise Malformed(f"`data.agent_id` is {shown}, not the agent asked for")
    return data


def twin_from_answer(payload: Any, agent_id: str, path: str) -> str | None:
    """The twin persona id of GET /v2/agents/{id}/inbound: null until the first attach (and
    for an unknown agent); a missing `persona_id` is refused, as null it would free numbers."""
    with reading("GET", path):
        data = _data_of_agent(payload, agent_id)
        if "persona_id" not in data:
            raise Malformed("`data` has no `persona_id`")
        return optional_id(data, "persona_id", "`data`")


def route_from_answer(payload: Any, number: str, path: str) -> InboundRoute:
    """What answers a number, from GET /v1/inbound/{number}: a bare object or `data`; its
    undocumented `persona_id` is UNREAD when the answer does not show it."""
    record = data_of(payload) if isinstance(payload, dict) and "data" in payload else payload
    with reading("GET", path):
        if not isinstance(record, dict):
            raise Malformed(f"the number's record is {json_type(record)}")
        shown = record.get("phone_number", number)
        if not isinstance(shown, str) or as_read(shown) != as_read(number):
            about = repr(shown_text(shown)) if isinstance(shown, str) else json_type(shown)
            raise Malformed(f"`phone_number` is {about}, not {number}")
        owner: str | Unread | None = UNREAD
        if "persona_id" in record:
            owner = optional_id(record, "persona_id", number)
        pathway_id, prompt = (
            optional_id(record, key, number, "a string") for key in ("pathway_id", "prompt")
        )
        return InboundRoute(number, pathway_id=pathway_id, prompt=prompt, persona_id=owner)


def detached_from_answer(payload: Any, agent_id: str, path: str) -> int:
    """`data.detached_count` of the detach answer: how many of the numbers the agent held."""
    with reading("POST", path):
        count = _data_of_agent(payload, agent_id).get("detached_count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise Malformed(f"`data.detached_count` is {json_type(count)}")
        return count


def write_took_effect(
    action: AgentAction, twin: str | None, owners: list[str | Unread | None]
) -> bool:
    """Whether an attach or detach whose answer was lost is seen done on the account.

    `twin` is the agent's twin persona, `owners` each number's persona_id as GET
    /v1/inbound/{number} shows it. An owner not shown cannot say: the write is sent again,
    which does no harm (attach is last-write-wins, detach skips what the agent does not hold).
    """
    if any(owner is UNREAD for owner in owners):
        return False
    if action == "attach":
        return twin is not None and all(owner == twin for owner in owners)
    return twin is None or all(owner != twin for owner in owners)
