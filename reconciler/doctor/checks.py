"""The probes, read by the client's own methods (its strict parsing, its paging), and the checks
that judge them: an answer the tool cannot read fails here as it would fail a plan."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from functools import partial
from typing import Any, TypeVar

from reconciler.api import BlandClient
from reconciler.api.client import PAGE_LIMIT
from reconciler.api.urls import PERSONAS_PATH, inbound_number_path, persona_path
from reconciler.api.wire import AGENT_LIST_LIMIT, build_live, personas_from_page, route_from_answer
from reconciler.doctor.report import Report, Status, Verdict
from reconciler.errors import ApiError, AuthError, InputError
from reconciler.model import LiveAgent, LivePersona
from reconciler.owner_reads import GetPersona, confirm_owners, persona_or_none
from reconciler.text import and_more, counted

SMALL_LIMIT = 2  # small enough to need a second page on almost any account
NO_SUCH_PERSONA = "00000000-0000-4000-8000-00000000d0c7"  # asked for to see an error answer
MAX_AGENTS_ASKED = 10  # GET /v2/agents/{id}/inbound sent at most
MAX_TWINS = 3  # twin personas looked at (and read by id where not listed) at most
ROUTE_FIELDS = ("pathway_id", "prompt", "persona_id")  # what GET /v1/inbound/{number} may show
CHECKS = (
    "credentials",
    "personas_listing",
    "inbound_listing",
    "response_shapes",
    "consistency",
    "agents_listing",
    "agent_twins",
    "inbound_number",
)
T = TypeVar("T")
# What each probe read, or the ApiError it stopped on:
Listing = tuple[dict[str, LivePersona], int] | ApiError  # the personas and the pages read
Small = tuple[list[LivePersona], list[LivePersona]] | ApiError  # pages 1 and 2 of limit=2
Inbound = dict[str, str | None] | ApiError  # GET /v1/inbound: number -> the owner it names
Agents = tuple[list[LiveAgent], bool] | ApiError  # GET /v2/agents, and whether it came back full
Twins = dict[str, str | None] | ApiError  # agent -> its twin persona, for the agents asked
ById = dict[str, LivePersona | ApiError | None]  # a twin not listed, read by id (None: not served)
Route = tuple[str, str, dict[str, Any] | ApiError]  # a number, its agent if any, its record


def read(call: Callable[[], T]) -> T | ApiError:
    """What `call` read, or the ApiError it stopped on (not sent after a 401/403: named by it);
    an id or number no request path can carry (InputError) stops it as an error answer would."""
    try:
        return call()
    except ApiError as error:
        if isinstance(refused := error.__cause__, AuthError):
            return ApiError(f"not read after {refused}", method=error.method, path=error.path)
        return error
    except InputError as error:
        return ApiError(str(error))


def shown(items: Collection[str]) -> str:
    return and_more(sorted(items), 3)


def verdict(fails: list[str], warns: list[str], facts: str = "") -> Verdict:
    status: Status = "fail" if fails else "warn" if warns else "ok"
    return status, "; ".join([*fails, *warns, facts] if facts else [*fails, *warns])


def run_doctor(connect: Callable[..., BlandClient], key_source: str) -> Report:
    """Probe the account with GETs only, by the client `connect(event_hooks=...)`, and judge it."""
    report = Report()
    try:
        client = connect(event_hooks=report.event_hooks)
    except InputError as error:  # no key to send: nothing can be read
        return _stopped(error, report, key_source)
    with client:
        listing = read(client.list_personas)
        # Read as it came, page 1 of limit=2 tells a key refused or an API not answering (stop
        # here) from an answer the client refused (the listing check names it).
        first = read(partial(client.get_json, PERSONAS_PATH, {"page": 1, "limit": SMALL_LIMIT}))
        if isinstance(listing, ApiError) and isinstance(first, ApiError):
            return _stopped(listing, report, key_source)
        small = first if isinstance(first, ApiError) else read(lambda: _pages(first, client))
        inbound = read(client.list_inbound)
        missing = read(partial(client.get_persona, NO_SUCH_PERSONA))
        personas = {} if isinstance(listing, ApiError) else listing[0]
        owners = {} if isinstance(inbound, ApiError) else inbound
        # The agents; twins until MAX_TWINS are found among the first MAX_AGENTS_ASKED agents;
        # each twin not listed, read by id (None: one the API will not serve, as plan reads it).
        agents = read(client.list_agents)
        twins = (
            agents if isinstance(agents, ApiError) else read(lambda: _ask_twins(client, agents[0]))
        )
        found = {} if isinstance(twins, ApiError) else {t: a for a, t in twins.items() if t}
        by_id: ById = {}
        for twin in (twin for twin in found if twin not in personas):
            by_id[twin] = read(partial(persona_or_none, client.get_persona, twin))
        # One number's record, with its agent: an agent's where one is seen (its persona_id may
        # name the twin), else the account's first number (the listing's, if it alone was read).
        on_agents = [(n, found[o]) for n, o in sorted(owners.items()) if o in found]
        for twin, agent in found.items():
            held = personas.get(twin) or by_id.get(twin)
            if isinstance(held, LivePersona):
                on_agents += [(number, agent) for number in sorted(held.numbers)]
        listed = owners.keys() or set().union(*(p.numbers for p in personas.values()))
        number, agent = next(iter(on_agents), (min(listed, default=None), ""))
        route = None if number is None else (number, agent, read(lambda: _route(client, number)))
        unread = twins if isinstance(twins, ApiError) else None  # the error that kept agents unread
        verdicts: tuple[Verdict, ...] = (
            ("ok", f"the API key from {key_source} is accepted"),
            personas_listing(listing, small),
            inbound_listing(inbound),
            response_shapes(listing, missing),
            consistency(listing, inbound, client.get_persona, unread or found),
            agents_listing(agents),
            agent_twins(agents, twins, by_id, owners),
            inbound_number(route),
        )
    report.checks = dict(zip(CHECKS, verdicts, strict=True))
    report.persona_pages = 0 if isinstance(listing, ApiError) else listing[1]
    return report


def _pages(first: object, client: BlandClient) -> Small:
    """Pages 1 (read already) and 2 of limit=2, parsed as the client parses every page."""
    page_1 = personas_from_page(first, 1)  # page 2 is asked for once page 1 reads
    page_2 = client.get_json(PERSONAS_PATH, {"page": 2, "limit": SMALL_LIMIT})
    return page_1, personas_from_page(page_2, 2)


def _stopped(error: ApiError | InputError, report: Report, key_source: str) -> Report:
    """The report when nothing was read: credentials fail, and nothing past them can run."""
    report.stopped = "the checks need a key the API accepts"
    if isinstance(error, InputError):
        detail, why = str(error), "no usable API key"
    elif isinstance(error, AuthError):
        said = " ".join(str(part) for part in (error.status, error.code) if part)
        refused = "was rejected" if error.status == 401 else "may not list personas"
        detail = f"the API key from {key_source} {refused} (HTTP {said})"
        why = "the API key was not accepted"
    elif error.status is not None and 300 <= error.status < 400:
        to = f"to {report.redirect_to}" if report.redirect_to else "without a Location"
        report.stopped = f"the API answered HTTP {error.status}, a redirect {to}, which the tool"
        report.stopped += " does not follow"
        detail = f"{error.method} {error.path}: {report.stopped} (check BLAND_API_URL)"
        why = "the API answered with a redirect"
    else:
        detail, why = f"could not be checked: {error}", "no answer"
        report.stopped = "the API gave no usable answer"
    report.checks = dict.fromkeys(CHECKS, ("fail", f"not checked: {why}"))
    report.checks["credentials"] = ("fail", detail)
    return report


def personas_listing(listing: Listing, small: Small) -> Verdict:
    """The client reads the listing to its end; page and limit are honoured."""
    if isinstance(listing, ApiError):
        return "fail", f"reading stopped: {listing}"
    personas, pages = listing
    total, full = len(personas), pages - 1  # the last page read is the empty one
    fails: list[str] = []
    warns: list[str] = []
    if not total:
        warns.append("the account lists no personas: paging could not be checked")
    elif not (full - 1) * PAGE_LIMIT < total <= full * PAGE_LIMIT:
        warns.append(
            f"{counted(total, 'persona')} on {counted(full, 'page')} although limit={PAGE_LIMIT} "
            f"was asked: the server {'ignores' if total > full * PAGE_LIMIT else 'caps'} `limit` "
            "(the tool reads on to an empty page)"
        )
    if isinstance(small, ApiError):
        warns.append(f"limit={SMALL_LIMIT} could not be checked: {small}")
    elif len(small[0]) > SMALL_LIMIT:
        ignored = f"was answered with {len(small[0])} personas: the server ignores `limit`"
        warns.append(f"limit={SMALL_LIMIT} {ignored}")
    elif len(small[0]) == SMALL_LIMIT and total > SMALL_LIMIT and not small[1]:
        lost = f"is empty although {total} personas are listed: paging loses personas"
        fails.append(f"page 2 of limit={SMALL_LIMIT} {lost}")
    elif shared := {p.id for p in small[0]} & {p.id for p in small[1]}:
        ignored = f"share personas ({shown(shared)}): the server ignores `page`"
        fails.append(f"pages 1 and 2 of limit={SMALL_LIMIT} {ignored}")
    deleted = sum(persona.deleted for persona in personas.values())
    facts = f"{counted(total, 'persona')} ({deleted} soft-deleted, marked by deleted_at)"
    facts += f" on {counted(full, 'page')} of limit={PAGE_LIMIT}, then an empty page"
    return verdict(fails, warns, facts)


def inbound_listing(inbound: Inbound) -> Verdict:
    """GET /v1/inbound answers, with how many numbers, and whether it names owners."""
    if isinstance(inbound, ApiError):
        return "fail", str(inbound)
    named = sum(owner is not None for owner in inbound.values())
    owners = f"names owners (persona_id) for {named} of {len(inbound)}"
    if not named:
        owners = "names no owners (no persona_id): the persona listing is the only source"
    return "ok", f"{counted(len(inbound), 'number')}; {owners}"


def response_shapes(listing: Listing, missing: LivePersona | ApiError) -> Verdict:
    """What the listing shows of each number, and what an error answer carries."""
    warns: list[str] = []
    facts: list[str] = []
    personas = [] if isinstance(listing, ApiError) else list(listing[0].values())
    fields = {
        "label": sum(len(persona.labels) for persona in personas),
        "persona_settings": sum(len(persona.settings) for persona in personas),
    }
    if isinstance(listing, ApiError):
        facts.append("numbers not seen: the persona listing was not read whole")
    elif not any(persona.numbers for persona in personas):
        facts.append("no number listed yet")
    elif not any(fields.values()):
        warns.append(
            "numbers listed as bare strings (or objects without label and persona_settings): "
            "their labels and persona_settings are not visible"
        )
    else:
        if fields["persona_settings"] < sum(len(persona.numbers) for persona in personas):
            warns.append("numbers without persona_settings: per-number settings not visible")
        facts.append(f"numbers as objects (with {', '.join(f for f, n in fields.items() if n)})")
    probe = f"GET {persona_path(NO_SUCH_PERSONA)} (no such persona)"
    if not isinstance(missing, ApiError):
        warns.append(f"{probe} was answered 2xx: errors look like answers")
        facts.append("no error envelope seen")
    elif missing.status is None or isinstance(missing, AuthError):
        warns.append(f"the error envelope could not be seen: {missing}")
    elif not missing.code:
        alone = f"errors are told apart by status alone ({missing.api_message})"
        warns.append(f"{probe} was answered HTTP {missing.status} without an error code: {alone}")
        facts.append(f"no such persona: HTTP {missing.status}")
    else:
        facts.append(f"no such persona: HTTP {missing.status} {missing.code}")
    return verdict([], warns, "; ".join(facts))


def consistency(
    listing: Listing,
    inbound: Inbound,
    get_persona: GetPersona,
    twins: Collection[str] | ApiError = (),
) -> Verdict:
    """Each number on one persona (read again by id if listed on two); the two sources agree,
    GET /v1/inbound naming `twins` (agents' twin personas, hidden from the listing) as expected;
    `twins` is the error that kept them unread, if one did."""
    if isinstance(listing, ApiError):
        return "fail", "not checked: the persona listing was not read whole"
    live = build_live(listing[0], listing[1], {} if isinstance(inbound, ApiError) else inbound)
    fails: list[str] = []
    warns: list[str] = []
    if deleted := {number for p in live.personas.values() if p.deleted for number in p.numbers}:
        warns.append(f"numbers on soft-deleted personas: {shown(deleted)}")
    try:
        live = confirm_owners(live, get_persona)
    except ApiError as error:
        warns.append(f"a number listed on two personas could not be read again: {error}")
    if held := [found.phone_number for found in live.confirmed if len(found.held_by) > 1]:
        read_again = f"on two personas, read again by id: {shown(held)}"
        fails.append(f"{counted(len(held), 'number')} {read_again}")
    if moved := [found.phone_number for found in live.confirmed if len(found.held_by) < 2]:
        showed = f"the listing showed {counted(len(moved), 'number')} on two personas"
        changed = "but read by id each is on one: the listing changed while it was read"
        warns.append(f"{showed} ({shown(moved)}), {changed}")
    unreadable = {s for p in live.personas.values() for s, n in p.spellings.items() if not n}
    if unreadable := unreadable | {s for s, number in live.spellings.items() if not number}:
        no_one = "spelled so that no one can read a phone number in it (the tool leaves them alone)"
        fails.append(f"{counted(len(unreadable), 'number')} {no_one}: {shown(unreadable)}")
    listed = live.listed_owners
    if isinstance(inbound, ApiError):
        warns.append("GET /v1/inbound unreadable: only the persona listing was checked")
    elif missing := [number for number in listed if number not in live.account_numbers]:
        warns.append(f"on personas but not in GET /v1/inbound: {shown(missing)}")
    active = {persona.id for persona in live.active}
    known = {*live.personas, *(twins if not isinstance(twins, ApiError) else ())}  # twins: hidden
    differ = live.disagreements()  # none where GET /v1/inbound names no owners or was not read
    disagree = [d.phone_number for d in differ if d.listed_on or d.inbound_owner.id in active]
    hidden = [d.phone_number for d in differ if not d.listed_on and d.inbound_owner.id not in known]
    if disagree:
        owners = "GET /v1/inbound and the persona listing name different owners for"
        fails.append(f"{owners} {counted(len(disagree), 'number')}: {shown(disagree)}")
    if hidden:
        unseen = f"{counted(len(hidden), 'number')} on personas the listing does not show"
        held_anyway = "the tool counts them as held"
        guess = f"v2 agents? not read: {twins}" if isinstance(twins, ApiError) else "v2 agents?"
        warns.append(f"GET /v1/inbound puts {unseen} ({guess}): {shown(hidden)}; {held_anyway}")
    compared = "names the same owners" if live.inbound_owners else "names no owners to compare"
    facts = f"{counted(len(listed), 'number')} on personas, each on one, all on the account"
    return verdict(fails, warns, "" if fails or warns else f"{facts}; GET /v1/inbound {compared}")


def _ask_twins(client: BlandClient, listed: list[LiveAgent]) -> dict[str, str | None]:
    twins: dict[str, str | None] = {}
    for agent in listed[:MAX_AGENTS_ASKED]:
        twins[agent.id] = client.agent_twin(agent.id)
        if sum(twin is not None for twin in twins.values()) == MAX_TWINS:
            break
    return twins


def _route(client: BlandClient, number: str) -> dict[str, Any]:
    """The number's record as GET /v1/inbound/{number} answers, once the client accepts it."""
    payload = client.get_json(inbound_number_path(number))
    route_from_answer(payload, number, inbound_number_path(number))  # refused as plan refuses it
    return dict(payload.get("data", payload))


def agents_listing(listing: Agents) -> Verdict:
    """GET /v2/agents answers, with how many agents, and whether the list came back whole."""
    if isinstance(listing, ApiError) and listing.status == 404:
        unseen = "this API shows no v2 agents, so a config listing `agents:` cannot be planned"
        return "warn", f"{listing}: {unseen}"
    if isinstance(listing, ApiError):
        return "fail", f"reading stopped: {listing}"
    listed, is_full = listing
    count = counted(len(listed), "agent")
    if not is_full:
        return "ok", f"{count}, the whole list (under {AGENT_LIST_LIMIT})"
    full = f"the list came back full ({AGENT_LIST_LIMIT}, the most the API lists, with no paging)"
    unseen = "agents past it cannot be seen and an agent named without its id cannot be found"
    return "warn", f"{count}: {full}, so {unseen} safely (give agents by id)"


def agent_twins(
    agents: Agents, twins: Twins, by_id: ById, inbound: Mapping[str, str | None]
) -> Verdict:
    """How the asked agents' twin personas read (a listed one is not read by id), and for plan."""
    if isinstance(agents, ApiError):
        return ("warn" if agents.status == 404 else "fail"), f"not checked: {agents}"
    if isinstance(twins, ApiError):
        return "fail", f"reading stopped: {twins}"
    asked = counted(len(twins), "agent")
    found = [twin for twin in twins.values() if twin is not None]
    if not found:
        unseen = "(none holds numbers yet): how twins read could not be seen"
        return "ok", f"no twin persona among the {asked} asked {unseen}"
    read_by_id = [by_id.get(twin, False) for twin in found]
    facts = (
        f"of {counted(len(found), 'twin persona')} ({asked} asked): "
        f"{sum(twin not in by_id for twin in found)} in GET /v1/personas, "
        f"{sum(isinstance(t, LivePersona) for t in read_by_id)} read by id "
        f"(GET /v1/personas/{{id}}), {read_by_id.count(None)} neither"
    )
    warns: list[str] = []
    if None in read_by_id and any(inbound.values()):
        facts += "; GET /v1/inbound names owners, so those agents' numbers are read from it"
    elif None in read_by_id:
        warns.append(
            "plan and apply will refuse to plan numbers for agents whose twin persona is "
            "neither listed nor readable by id: GET /v1/inbound names no owners (persona_id) "
            "either, so no read shows which numbers those agents hold"
        )
    errors = [twin for twin in by_id.values() if isinstance(twin, ApiError)]
    fails = [f"a twin persona could not be read: {error}" for error in errors[:1]]
    return verdict(fails, warns, facts)


def inbound_number(seen: Route | None) -> Verdict:
    """What GET /v1/inbound/{number} shows of what answers a number: pathway, prompt, owner."""
    if seen is None:
        return "ok", "not checked: no number was seen to read"
    number, agent, route = seen
    if isinstance(route, ApiError):
        return "fail", f"reading stopped: {route}"
    whose = f"a number of agent {agent}" if agent else "a number"
    shows = [name for name in ROUTE_FIELDS if name in route]
    facts = f"GET /v1/inbound/{number} ({whose}) shows "
    facts += ", ".join(shows) if shows else f"none of {', '.join(ROUTE_FIELDS)}"
    if "persona_id" not in route:
        facts += " (no persona_id: owners are read from personas and twins)"
    missing = [name for name in ROUTE_FIELDS[:2] if name not in route]
    free = "a number a pathway or a prompt answers may look free to plan, and attaching it"
    warns = [f"no {' or '.join(missing)} shown: {free} would replace that unseen"]
    return verdict([], warns if missing else [], facts)
