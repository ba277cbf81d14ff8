"""Reads that settle who holds a number: the account read once, then checked where it may be
wrong (docs/commands.md, "Reading the account"): the persona list is paged with no snapshot, so a
number moved between two page reads shows on two personas, or on none."""

from __future__ import annotations

from collections.abc import Callable, Collection
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import replace
from functools import partial
from typing import TypeVar

from reconciler.client_protocols import AccountReader
from reconciler.errors import ApiError, AuthError
from reconciler.model import (
    UNREAD,
    ConfirmedOwners,
    Desired,
    Live,
    LiveAgent,
    LivePersona,
    PersonaRef,
    owner_key,
    owner_kind,
)

GetPersona = Callable[[str], LivePersona]  # one persona, fresh from the API by id
_T = TypeVar("_T")
# Reads sent at once, their answers sharing --max-response-size: a persona or an agent read by
# id may be large, a number's record (GET /v1/inbound/{number}) is a few KB.
MAX_CONCURRENT_READS = 4
NUMBER_READS_AT_ONCE = 16


def read_account(
    account: AccountReader,
    desired: Desired | None = None,
    pages_hint: int = 0,
    known: Collection[str] = (),
) -> Live:
    """One read of the account, checked wherever it may be wrong about who holds a number;
    `known`: personas an earlier read listed, read by id where this listing misses them (one
    may slide onto a page already read), unless gone or deleted since."""
    # Agents first: a twin is its agent's, and is never read again by id as a persona.
    live = account.read_live(pages_hint)
    listed = live.personas.keys()  # twins included
    live = with_agents(live, account, desired)
    if missing := sorted(set(known).difference(live.personas, live.twins)):
        fresh = _read_all(partial(persona_or_none, account.get_persona), missing)
        found = {p.id: p for p in fresh if p is not None and not p.deleted}
        live = replace(live, personas={**live.personas, **found}, reads=live.reads + len(missing))
    live = confirm_owners(live, account.get_persona)
    if desired is None:
        return live
    # The account's numbers on no owner are few: each entry is checked against them in C.
    free = live.account_numbers.difference(live.owners)
    declared = set().union(*(e.numbers for e in desired.personas if not free.isdisjoint(e.numbers)))
    if not (looks_free := sorted(free & declared)):
        return live
    # What answers each: its own record, read in the account's spelling.
    spelled = {number: spelling for spelling, number in live.spellings.items() if number}
    spellings = [spelled.get(n, n) for n in looks_free]
    routes = _read_all(account.inbound_number, spellings, NUMBER_READS_AT_ONCE)
    by_number = dict(zip(looks_free, routes, strict=True))
    live = replace(live, routes=by_number, reads=live.reads + len(routes))
    # One whose own record names no persona (undocumented there) may be on one that slid onto a
    # page already read: unless GET /v1/inbound names owners, the personas are listed again.
    if not (unproven := [n for n in looks_free if live.routes[n].persona_id is UNREAD]):
        return live
    # Or on an agent deleted since listed: its binding (GET /v2/agents/{id}/inbound) answers
    # null as for one with no numbers, while its numbers may still be routed to it.
    bound = {agent for _, agent in live.twins.values()}
    if unbound := sorted(set(live.agents) - bound - live.unverifiable):
        answers = zip(unbound, _read_all(account.get_agent, unbound), strict=True)
        gone = {agent for agent, fetched in answers if fetched is None}
        live = replace(live, unverifiable=live.unverifiable | gone, reads=live.reads + len(unbound))
    if not live.inbound_owners:
        listing, pages = account.list_personas(live.pages_read)
        # Missing one the first showed, the list shrank: another may have slid onto a page
        # read both times, holding a number that looks free.
        skipped = "a persona both listings may have skipped (one they showed left the list)"
        unseen = (*live.unseen_owners, skipped) if listed - listing.keys() else live.unseen_owners
        # Its entries that show a number that looked free are taken, each found recorded in
        # `confirmed`; read again by id, a fresher entry may show one listed elsewhere.
        holders = {
            pid: p
            for pid, p in sorted(listing.items())
            if pid not in live.twins and not p.deleted and not p.numbers.isdisjoint(unproven)
        }
        confirmed = tuple(
            ConfirmedOwners(n, (), refs)
            for n in unproven
            if (refs := tuple(PersonaRef(p.id, p.name) for p in holders.values() if n in p.numbers))
        )
        live = replace(
            live,
            personas={**live.personas, **holders},
            confirmed=live.confirmed + confirmed,
            reads=live.reads + pages,
            unseen_owners=unseen,
        )
        live = confirm_owners(live, account.get_persona)
    return live


def persona_or_none(get_persona: GetPersona, persona_id: str) -> LivePersona | None:
    """A persona read by id, or None where the API will not serve it: a 404, or
    PERSONA_NOT_FOUND ("not found or access denied") with whatever status the docs leave open.
    A key refused (AuthError) has stopped the client's other requests, and is the error."""
    try:
        return get_persona(persona_id)
    except ApiError as error:
        if not isinstance(error, AuthError) and (
            error.code == "PERSONA_NOT_FOUND" or error.status == 404
        ):
            return None
        raise


def with_agents(live: Live, account: AccountReader, desired: Desired | None) -> Live:
    """The account with its v2 agents, each holding (as `agent:ID`) the numbers of its hidden
    twin persona, which leaves `personas`: as the listing, a read of the twin by id, or GET
    /v1/inbound shows them. An agent whose numbers none of these shows is `unverifiable`."""
    entries = [e for e in (desired.personas if desired else ()) if e.kind == "agent"]
    try:
        listed_agents, incomplete = account.list_agents()  # incomplete: the list came back full
    except ApiError as error:
        if error.status != 404 or entries:
            raise
        listed_agents, incomplete = [], False  # an API without agents
    fetched: dict[str, LiveAgent | None] = {agent.id: agent for agent in listed_agents}
    reads = 1
    for entry in entries:  # read one by one, for the production pin the list does not show
        named = [a.id for a in fetched.values() if a is not None and a.name == entry.name]
        if len(matches := [entry.id] if entry.id else named) == 1:
            reads += 1
            fetched[matches[0]] = account.get_agent(matches[0])  # None: gone since listed
    agents = {agent_id: agent for agent_id, agent in fetched.items() if agent is not None}
    ids = sorted(agents)
    twin_ids = dict(zip(ids, _read_all(account.agent_twin, ids) if ids else [], strict=True))
    reads += len(ids)
    personas = dict(live.personas)
    twins: dict[str, tuple[str, str]] = {}
    unverifiable: set[str] = set()
    for agent_id, twin in twin_ids.items():
        held = LivePersona("", "", frozenset())  # no twin: an agent with no numbers yet
        if twin in twins:  # two agents bound to one twin: whose numbers are whose is unknown
            both = f"agents {twins[twin][1]!r} and {agent_id!r} both name {twin!r}"
            path = f"/v2/agents/{agent_id}/inbound"
            raise ApiError(f"{both} as their hidden persona", method="GET", path=path)
        if twin is not None:
            twin_persona = personas.pop(twin, None)
            if twin_persona is None:  # read by id: None where the API does not let it be
                twin_persona = persona_or_none(account.get_persona, twin)
                reads += 1
            twins[twin] = (twin_persona.name if twin_persona else "", agent_id)
            if twin_persona is not None:
                held = replace(twin_persona, deleted=False, settings={})
            elif live.inbound_owners:
                numbers = frozenset(n for n, owner in live.inbound_owners.items() if owner == twin)
                held = LivePersona("", "", numbers)
            else:
                unverifiable.add(agent_id)
        key = owner_key("agent", agent_id)
        personas[key] = replace(held, id=key, name=agents[agent_id].name)
    # A persona tagged as the twin of an agent GET /v2/agents did not list is taken out: its
    # numbers are that agent's. (A listed agent's binding names its own twin; a persona it does
    # not name stays a persona, whatever its tags say.)
    for pid, tagged in list(personas.items()):
        if tagged.twin_of and tagged.twin_of not in agents and owner_kind(pid) == "persona":
            del personas[pid]
            twins[pid] = (tagged.name, tagged.twin_of)
            key = owner_key("agent", tagged.twin_of)  # an agent the list does not show: no name
            numbers = tagged.numbers | personas.get(key, tagged).numbers
            personas[key] = replace(
                tagged, id=key, name="", numbers=numbers, settings={}, deleted=False
            )
    owners_by_key = {twin: owner_key("agent", agent) for twin, (_, agent) in twins.items()}
    # Past a full list, an agent's twin is unseen unless the persona listing shows twins.
    past = incomplete and live.personas.keys().isdisjoint(twin_ids.values())
    return replace(
        live,
        personas=personas,
        agents=agents,
        twins=twins,
        unverifiable=frozenset(unverifiable),
        agents_incomplete=incomplete,
        unseen_owners=("an agent past the 500 GET /v2/agents lists",) if past else (),
        inbound_owners={n: owners_by_key.get(o, o) for n, o in live.inbound_owners.items()},
        reads=live.reads + reads,
    )


def confirm_owners(live: Live, get_persona: GetPersona) -> Live:
    """The account with every persona holding a number seen twice read again by id, recorded
    in `confirmed`. A failed read stops the plan: an unconfirmed picture could detach a number
    from the only persona holding it."""
    seen: dict[str, set[str]] = {}
    read: set[str] = set()
    while twice := live.seen_twice:
        for number, held in twice.items():
            seen.setdefault(number, set()).update(held)
        # An agent's numbers are read through the agent API, never as a persona's by id.
        held_by = {pid for held in twice.values() for pid in held if owner_kind(pid) == "persona"}
        to_read = sorted(held_by - read)
        if not to_read:
            break
        fresh = {persona.id: persona for persona in _read_all(get_persona, to_read)}
        read.update(to_read)
        live = replace(live, personas={**live.personas, **fresh}, reads=live.reads + len(to_read))
    if not seen:
        return live
    listed = live.listed_owners
    confirmed = tuple(
        ConfirmedOwners(
            n, tuple(map(live.ref, sorted(ids))), tuple(map(live.ref, listed.get(n, ())))
        )
        for n, ids in sorted(seen.items())
    )
    earlier = tuple(found for found in live.confirmed if found.phone_number not in seen)
    return replace(live, confirmed=earlier + confirmed)


def _read_all(
    read: Callable[[str], _T], keys: list[str], at_once: int = MAX_CONCURRENT_READS
) -> list[_T]:
    """One read per key, in the order of the keys, at most `at_once` at once."""
    with ThreadPoolExecutor(at_once, thread_name_prefix="read") as pool:
        futures = [pool.submit(read, key) for key in keys]
        wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            future.cancel()  # after a failure: what has not started is not sent
    # A read stopped by another's 401/403 fails as "not sent": which one met it first is a
    # matter of timing, so the 401/403 is what is reported.
    if failed := [error for one in futures if not one.cancelled() and (error := one.exception())]:
        raise next((error for error in failed if isinstance(error, AuthError)), failed[0])
    return [future.result() for future in futures]
