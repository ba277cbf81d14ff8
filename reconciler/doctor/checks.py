"""The probes, read by the client's own methods (its strict parsing, its paging), and the checks
that judge them: an answer the tool cannot read fails here as it would fail a plan."""

from __future__ import annotations

from collections.abc import Collection

from reconciler.api import BlandClient
from reconciler.api.client import PAGE_LIMIT
from reconciler.api.urls import PERSONAS_PATH, persona_path
from reconciler.api.wire import build_live, personas_from_page
from reconciler.doctor.agent_checks import agent_twins, agents_listing, inbound_number, read_agents
from reconciler.doctor.report import (
    KEY_NEEDED,
    Check,
    Report,
    WireLog,
    judged,
    not_checked,
    plural,
    read,
    shown,
    words,
)
from reconciler.errors import ApiError, AuthError
from reconciler.model import Live, LivePersona
from reconciler.owner_reads import GetPersona, confirm_owners
from reconciler.text import printable

SMALL_LIMIT = 2  # small enough to need a second page on almost any account
NO_SUCH_PERSONA = "00000000-0000-4000-8000-00000000d0c7"  # asked for to see an error answer

Listing = tuple[dict[str, LivePersona], int] | ApiError  # the personas and the pages read
Small = tuple[list[LivePersona], list[LivePersona]] | ApiError  # pages 1 and 2 of limit=2
Inbound = dict[str, str | None] | ApiError  # GET /v1/inbound: number -> the owner it names


def run_doctor(client: BlandClient, wire: WireLog, key_source: str) -> Report:
    """Probe the account with GETs only (`wire` holding the client's hooks); judge each check."""
    listing = read(client.list_personas)
    # Read as it came, page 1 of limit=2 tells a key refused or an API not answering (stop
    # here) from an answer the client refused (the listing check names it).
    first = read(lambda: _small_page(client, 1))
    if isinstance(listing, ApiError) and isinstance(first, ApiError):
        return _stopped(listing, wire, key_source)
    small = first if isinstance(first, ApiError) else read(lambda: _pages(first, client))
    inbound = read(client.list_inbound)
    missing = read(lambda: client.get_persona(NO_SUCH_PERSONA))
    personas = {} if isinstance(listing, ApiError) else listing[0]
    owners = {} if isinstance(inbound, ApiError) else inbound
    agents = read_agents(client, personas, owners)
    checks = (
        Check("credentials", "ok", f"the API key from {key_source} is accepted"),
        personas_listing(listing, small),
        inbound_listing(inbound),
        response_shapes(listing, missing),
        consistency(listing, inbound, client.get_persona, agents.twin_ids()),
        agents_listing(agents.listing),
        agent_twins(agents, personas, owners),
        inbound_number(agents),
    )
    pages = 0 if isinstance(listing, ApiError) else listing[1]
    return Report(checks, wire, persona_pages=pages)


def _small_page(client: BlandClient, page: int) -> object:
    return client.get_json(PERSONAS_PATH, {"page": page, "limit": SMALL_LIMIT})


def _pages(first: object, client: BlandClient) -> tuple[list[LivePersona], list[LivePersona]]:
    """Pages 1 (read already) and 2 of limit=2, parsed as the client parses every page."""
    return personas_from_page(first, 1), personas_from_page(_small_page(client, 2), 2)


def _stopped(error: ApiError, wire: WireLog, key_source: str) -> Report:
    """The report when nothing was read: nothing past credentials can run."""
    said = " ".join(str(part) for part in (error.status, error.code) if part)
    if isinstance(error, AuthError):
        refused = "was rejected" if error.status == 401 else "may not list personas"
        detail = f"the API key from {key_source} {refused} (HTTP {said})"
        return not_checked(detail, "the API key was not accepted", KEY_NEEDED, wire)
    if error.status is not None and 300 <= error.status < 400:
        where = f"to {printable(wire.redirect_to)}" if wire.redirect_to else "without a Location"
        stopped = f"the API answered HTTP {error.status}, a redirect {where}, which the tool"
        stopped += " does not follow"
        detail = f"{error.method} {error.path}: {stopped} (check BLAND_API_URL)"
        return not_checked(detail, "the API answered with a redirect", stopped, wire)
    detail = f"could not be checked: {words(error)}"
    return not_checked(detail, "no answer", "the API gave no usable answer", wire)


def personas_listing(listing: Listing, small: Small) -> Check:
    """The client reads the listing to its end; page and limit are honoured."""
    if isinstance(listing, ApiError):
        return Check("personas_listing", "fail", f"reading stopped: {words(listing)}")
    personas, pages = listing
    total, full = len(personas), pages - 1  # the last page read is the empty one
    fails: list[str] = []
    warns: list[str] = []
    if not total:
        warns.append("the account lists no personas: paging could not be checked")
    elif not (full - 1) * PAGE_LIMIT < total <= full * PAGE_LIMIT:
        warns.append(
            f"{plural(total, 'persona')} on {plural(full, 'page')} although limit={PAGE_LIMIT} "
            f"was asked: the server {'ignores' if total > full * PAGE_LIMIT else 'caps'} `limit` "
            "(the tool reads on to an empty page)"
        )
    small_limit = f"limit={SMALL_LIMIT}"
    if isinstance(small, ApiError):
        warns.append(f"{small_limit} could not be checked: {words(small)}")
    elif len(small[0]) > SMALL_LIMIT:
        warns.append(
            f"{small_limit} was answered with {len(small[0])} personas: the server ignores `limit`"
        )
    elif len(small[0]) == SMALL_LIMIT and total > SMALL_LIMIT and not small[1]:
        fails.append(
            f"page 2 of {small_limit} is empty although {total} personas are listed: paging "
            "loses personas"
        )
    elif shared := {p.id for p in small[0]} & {p.id for p in small[1]}:
        fails.append(
            f"pages 1 and 2 of {small_limit} share personas ({shown(shared)}): the server "
            "ignores `page`"
        )
    deleted = sum(persona.deleted for persona in personas.values())
    facts = f"{plural(total, 'persona')} ({deleted} soft-deleted, marked by deleted_at)"
    facts += f" on {plural(full, 'page')} of limit={PAGE_LIMIT}, then an empty page"
    return judged("personas_listing", fails, warns, facts)


def inbound_listing(inbound: Inbound) -> Check:
    """GET /v1/inbound answers, with how many numbers, and whether it names owners."""
    if isinstance(inbound, ApiError):
        return Check("inbound_listing", "fail", words(inbound))
    count = len(inbound)
    named = sum(owner is not None for owner in inbound.values())
    if named:
        owners = f"names owners (persona_id) for {named} of {count}"
    else:
        owners = "names no owners (no persona_id): the persona listing is the only source"
    return Check("inbound_listing", "ok", f"{plural(count, 'number')}; {owners}")


def response_shapes(listing: Listing, missing: LivePersona | ApiError) -> Check:
    """What the listing shows of each number, and what an error answer carries."""
    warns: list[str] = []
    facts = [_number_form(listing, warns), _error_answer(missing, warns)]
    return judged("response_shapes", [], warns, "; ".join(fact for fact in facts if fact))


def _number_form(listing: Listing, warns: list[str]) -> str:
    if isinstance(listing, ApiError):
        return "numbers not seen: the persona listing was not read whole"
    personas = listing[0].values()
    numbers = sum(len(persona.numbers) for persona in personas)
    fields = {
        "label": sum(len(persona.labels) for persona in personas),
        "persona_settings": sum(len(persona.settings) for persona in personas),
    }
    if not numbers:
        return "no number listed yet"
    if not any(fields.values()):
        warns.append(
            "numbers listed as bare strings (or objects without label and persona_settings): "
            "their labels and persona_settings are not visible"
        )
        return ""
    if fields["persona_settings"] < numbers:
        warns.append("numbers without persona_settings: per-number settings not visible")
    return f"numbers as objects (with {', '.join(name for name, n in fields.items() if n)})"


def _error_answer(missing: LivePersona | ApiError, warns: list[str]) -> str:
    probe = f"GET {persona_path(NO_SUCH_PERSONA)} (no such persona)"
    if not isinstance(missing, ApiError):
        warns.append(f"{probe} was answered 2xx: errors look like answers")
        return "no error envelope seen"
    if missing.status is None:
        warns.append(f"the error envelope could not be seen: {words(missing)}")
        return ""
    if not missing.code:
        warns.append(
            f"{probe} was answered HTTP {missing.status} without an error code: errors are told "
            f"apart by status alone ({printable(missing.api_message)})"
        )
        return f"no such persona: HTTP {missing.status}"
    return f"no such persona: HTTP {missing.status} {missing.code}"


def consistency(
    listing: Listing, inbound: Inbound, get_persona: GetPersona, twins: Collection[str] = ()
) -> Check:
    """Each number on one persona (read again by id if listed on two); the two sources agree.

    GET /v1/inbound naming `twins` (agents' twin personas, hidden from the listing) is expected.
    """
    if isinstance(listing, ApiError):
        return Check("consistency", "fail", "not checked: the persona listing was not read whole")
    live = build_live(listing[0], listing[1], {} if isinstance(inbound, ApiError) else inbound)
    fails: list[str] = []
    warns: list[str] = []
    deleted = {number for p in live.personas.values() if p.deleted for number in p.numbers}
    if deleted:
        warns.append(f"numbers on soft-deleted personas: {shown(deleted)}")
    try:
        live = confirm_owners(live, get_persona)
    except ApiError as error:
        warns.append(f"a number listed on two personas could not be read again: {words(error)}")
    held = [found.phone_number for found in live.confirmed if len(found.held_by) > 1]
    moved = [found.phone_number for found in live.confirmed if len(found.held_by) < 2]
    if held:
        fails.append(
            f"{plural(len(held), 'number')} on two personas, read again by id: {shown(held)}"
        )
    if moved:
        warns.append(
            f"the listing showed {plural(len(moved), 'number')} on two personas "
            f"({shown(moved)}), but read by id each is on one: the listing changed while it "
            "was read"
        )
    unreadable = {s for p in live.personas.values() for s, n in p.spellings.items() if not n}
    unreadable |= {spelling for spelling, number in live.spellings.items() if not number}
    if unreadable:
        fails.append(
            f"{plural(len(unreadable), 'number')} spelled so that no one can read a phone number "
            f"in it (the tool leaves them alone): {shown(unreadable)}"
        )
    if isinstance(inbound, ApiError):
        warns.append("GET /v1/inbound unreadable: only the persona listing was checked")
    else:
        _agree(live, twins, fails, warns)
    facts = f"{plural(len(live.listed_owners()), 'number')} on personas, each on one, all on "
    facts += "the account; GET /v1/inbound " + (
        "names the same owners" if live.inbound_owners else "names no owners to compare"
    )
    return judged("consistency", fails, warns, "" if fails or warns else facts)


def _agree(live: Live, twins: Collection[str], fails: list[str], warns: list[str]) -> None:
    """Compare the listing's owners with GET /v1/inbound's numbers and the owners it names."""
    listed = live.listed_owners()
    missing = [number for number in listed if number not in live.account_numbers]
    if missing:
        warns.append(f"on personas but not in GET /v1/inbound: {shown(missing)}")
    if not live.inbound_owners:
        return
    active = {persona.id for persona in live.active()}
    differ = live.disagreements()
    disagree = [d.phone_number for d in differ if d.listed_on or d.inbound_owner.id in active]
    known = {*live.personas, *twins}  # an agent's twin is hidden from the listing by design
    hidden = [d.phone_number for d in differ if not d.listed_on and d.inbound_owner.id not in known]
    if disagree:
        fails.append(
            "GET /v1/inbound and the persona listing name different owners for "
            f"{plural(len(disagree), 'number')}: {shown(disagree)}"
        )
    if hidden:
        warns.append(
            f"GET /v1/inbound puts {plural(len(hidden), 'number')} on personas the listing "
            f"does not show (v2 agents?): {shown(hidden)}; the tool counts them as held"
        )
