"""The v2-agent probes: which way the unknowns of the agent API turn on this account.

Whether GET /v2/agents came back whole; whether the agents' hidden twin personas are listed
in GET /v1/personas or can be read by id; what GET /v1/inbound/{number} shows. Each is read
as `plan` reads it (owner_reads.with_agents), so a finding here is what plan will meet. Cheap
by design: one listing, twin lookups until MAX_TWINS twins are found (at most
MAX_AGENTS_ASKED agents asked), those twins not listed read by id, and one number read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from reconciler.api import BlandClient
from reconciler.api.v2 import AGENT_LIST_LIMIT, inbound_number_path, route_from_answer
from reconciler.doctor.report import Check, Status, judged, plural, read, words
from reconciler.errors import ApiError, AuthError
from reconciler.model import AgentListing, LivePersona
from reconciler.text import printable

MAX_AGENTS_ASKED = 10  # GET /v2/agents/{id}/inbound sent at most
MAX_TWINS = 3  # twin personas looked at (and read by id where not listed) at most
ROUTE_FIELDS = ("pathway_id", "prompt", "persona_id")  # what GET /v1/inbound/{number} may show

Twin = LivePersona | None | ApiError  # a twin read by id: it, None where the API will not, or why


@dataclass(frozen=True)
class AgentReads:
    """What the agent probes read; a part is an ApiError where its read stopped."""

    listing: AgentListing | ApiError
    twins: dict[str, str | None] | ApiError = field(default_factory=dict)  # agent -> twin
    by_id: dict[str, Twin] = field(default_factory=dict)  # each twin not listed, read by id
    number: str | None = None  # the number read one by one: an agent's, where one is seen
    agent: str = ""  # the agent holding it, if known
    route: dict[str, Any] | ApiError | None = None  # its record, as the client accepted it

    def twin_ids(self) -> frozenset[str]:
        """The twin personas of the agents asked."""
        twins = {} if isinstance(self.twins, ApiError) else self.twins
        return frozenset(twin for twin in twins.values() if twin is not None)


def read_agents(
    client: BlandClient, personas: Mapping[str, LivePersona], inbound: Mapping[str, str | None]
) -> AgentReads:
    """The agent listing, the twins of the first agents, and one number (`personas`: the
    persona listing; `inbound`: GET /v1/inbound's numbers and the owners it names)."""
    listing = read(client.list_agents)
    twins = listing if isinstance(listing, ApiError) else read(lambda: _ask_twins(client, listing))
    found = {} if isinstance(twins, ApiError) else {t: a for a, t in twins.items() if t}
    by_id = {t: read(partial(_twin_by_id, client, t)) for t in found if t not in personas}
    # An agent's number where one is seen (so its persona_id can be seen naming the twin).
    on_agents = [(n, found[owner]) for n, owner in sorted(inbound.items()) if owner in found]
    for twin, agent in found.items():
        held = personas.get(twin) or by_id.get(twin)
        on_agents += (
            [(n, agent) for n in sorted(held.numbers)] if isinstance(held, LivePersona) else []
        )
    number, agent = next(iter(on_agents), (min(inbound, default=None), ""))
    route = None if number is None else read(lambda: _route(client, number))
    return AgentReads(listing, twins, by_id, number, agent, route)


def _ask_twins(client: BlandClient, listing: AgentListing) -> dict[str, str | None]:
    twins: dict[str, str | None] = {}
    for agent in listing.agents[:MAX_AGENTS_ASKED]:
        twins[agent.id] = client.agent_twin(agent.id)
        if sum(twin is not None for twin in twins.values()) == MAX_TWINS:
            break
    return twins


def _twin_by_id(client: BlandClient, twin: str) -> LivePersona | None:
    """The twin as GET /v1/personas/{id} serves it; None for a 404, as plan reads it."""
    try:
        return client.get_persona(twin)
    except ApiError as error:
        if isinstance(error, AuthError) or error.status != 404:
            raise
        return None


def _route(client: BlandClient, number: str) -> dict[str, Any]:
    """The number's record as GET /v1/inbound/{number} answers, once the client accepts it."""
    path = inbound_number_path(number)
    payload = client.get_json(path)
    route_from_answer(payload, number, path)  # refused here as plan would refuse it
    record: dict[str, Any] = payload.get("data", payload) if "data" in payload else payload
    return record


def agents_listing(listing: AgentListing | ApiError) -> Check:
    """GET /v2/agents answers, with how many agents, and whether the list came back whole."""
    if isinstance(listing, ApiError):
        if listing.status == 404:
            return Check(
                "agents_listing",
                "warn",
                f"{words(listing)}: this API shows no v2 agents, so a config listing `agents:` "
                "cannot be planned",
            )
        return Check("agents_listing", "fail", f"reading stopped: {words(listing)}")
    count = plural(len(listing.agents), "agent")
    if listing.may_be_incomplete:
        return Check(
            "agents_listing",
            "warn",
            f"{count}: the list came back full ({AGENT_LIST_LIMIT}, the most the API lists, "
            "with no paging), so agents past it cannot be seen and an agent named without its "
            "id cannot be found safely (give agents by id)",
        )
    return Check("agents_listing", "ok", f"{count}, the whole list (under {AGENT_LIST_LIMIT})")


def agent_twins(
    reads: AgentReads, listed: Mapping[str, LivePersona], inbound: Mapping[str, str | None]
) -> Check:
    """How the twin personas of the agents asked can be read, and what follows for plan."""
    if isinstance(reads.listing, ApiError):
        status: Status = "warn" if reads.listing.status == 404 else "fail"
        return Check("agent_twins", status, "not checked: GET /v2/agents was not read")
    if isinstance(reads.twins, ApiError):
        return Check("agent_twins", "fail", f"reading stopped: {words(reads.twins)}")
    asked = plural(len(reads.twins), "agent")
    twins = [twin for twin in reads.twins.values() if twin is not None]
    if not twins:
        return Check(
            "agent_twins",
            "ok",
            f"no twin persona among the {asked} asked (none holds numbers yet): how twins "
            "read could not be seen",
        )
    errors = [t for t in reads.by_id.values() if isinstance(t, ApiError)]
    hidden = sum(reads.by_id.get(twin, False) is None for twin in twins)
    facts = (
        f"of {plural(len(twins), 'twin persona')} ({asked} asked): "
        f"{sum(twin in listed for twin in twins)} in GET /v1/personas, "
        f"{sum(isinstance(reads.by_id.get(t), LivePersona) for t in twins)} read by id "
        f"(GET /v1/personas/{{id}}), {hidden} neither"
    )
    warns: list[str] = []
    if hidden and any(inbound.values()):
        facts += "; GET /v1/inbound names owners, so those agents' numbers are read from it"
    elif hidden:
        warns.append(
            "plan and apply will refuse to plan numbers for agents whose twin persona is "
            "neither listed nor readable by id: GET /v1/inbound names no owners (persona_id) "
            "either, so no read shows which numbers those agents hold"
        )
    fails = [f"a twin persona could not be read: {words(error)}" for error in errors[:1]]
    return judged("agent_twins", fails, warns, facts)


def inbound_number(reads: AgentReads) -> Check:
    """What GET /v1/inbound/{number} shows of what answers a number: pathway, prompt, owner."""
    if reads.number is None or reads.route is None:
        return Check("inbound_number", "ok", "not checked: no number was seen to read")
    if isinstance(reads.route, ApiError):
        return Check("inbound_number", "fail", f"reading stopped: {words(reads.route)}")
    record = reads.route
    whose = f"a number of agent {printable(reads.agent)}" if reads.agent else "a number"
    shows = [name for name in ROUTE_FIELDS if name in record]
    facts = f"GET /v1/inbound/{printable(reads.number)} ({whose}) shows "
    facts += ", ".join(shows) if shows else f"none of {', '.join(ROUTE_FIELDS)}"
    if "persona_id" not in record:
        facts += " (no persona_id: owners are read from personas and twins)"
    missing = [name for name in ROUTE_FIELDS[:2] if name not in record]
    warns = [
        f"no {' or '.join(missing)} shown: a number a pathway or a prompt answers may look "
        "free to plan, and attaching it would replace that unseen"
    ]
    return judged("inbound_number", [], warns if missing else [], facts)
