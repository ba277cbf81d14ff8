"""The checks: each one judges what the probes read, as ok, warn or fail, in one line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from reconciler.api.urls import PERSONAS_PATH, persona_path
from reconciler.doctor.probes import (
    LIMIT,
    MAX_PAGES,
    NO_SUCH_PERSONA,
    SMALL_LIMIT,
    Inbound,
    Listing,
    Reader,
    entry_kinds,
    number_fields,
    numbers_of,
    page_items,
    persona_id,
    provoke_error,
    read_inbound,
    read_listing,
    read_page,
    reread,
)
from reconciler.doctor.report import Check, Report, judged, not_checked
from reconciler.doctor.wire import Exchange, WireLog, envelope_of
from reconciler.errors import ApiError, AuthError
from reconciler.text import and_more, one_line, printable

MAX_SHOWN = 3  # numbers or ids a detail names before "and N more"
MAX_REREADS = 10  # personas read again by id to confirm a number seen on two

Page = tuple[list[Any], str | None]


def run_doctor(reader: Reader, wire: WireLog, key_source: str) -> Report:
    """Probe the account behind `reader` with GETs only, and judge every check."""
    try:
        payload = reader.get_json(PERSONAS_PATH, {"page": 1, "limit": LIMIT})
    except ApiError as error:
        why = "the API key was not accepted" if isinstance(error, AuthError) else "no answer"
        return not_checked(_credentials_failure(error, key_source), why, wire.exchanges)
    credentials = Check("credentials", "ok", f"the API key from {key_source} is accepted")
    first, problem = page_items(payload)
    if problem is None:
        listing = read_listing(reader, first)
    else:
        listing = Listing(pages=[first], problem=f"page 1: {problem}")
    small = (read_page(reader, 1, SMALL_LIMIT), read_page(reader, 2, SMALL_LIMIT))
    inbound = read_inbound(reader)
    provoked = provoke_error(reader)
    checks = (
        credentials,
        personas_listing(listing, small),
        inbound_listing(inbound),
        response_shapes(listing, provoked, wire.exchanges),
        consistency(reader, listing, inbound),
    )
    return Report(checks, tuple(wire.exchanges), persona_pages=len(listing.pages))


def _credentials_failure(error: ApiError, key_source: str) -> str:
    said = " ".join(str(part) for part in (error.status, error.code) if part)
    if error.status == 401:
        return f"the API key from {key_source} was rejected (HTTP {said})"
    if isinstance(error, AuthError):
        return f"the API key from {key_source} may not list personas (HTTP {said})"
    return f"could not be checked: {_words(error)}"


def _words(error: ApiError | str) -> str:
    return printable(one_line(str(error)))


def _shown(items: Sequence[str]) -> str:
    return and_more([printable(item) for item in sorted(items)], MAX_SHOWN)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def personas_listing(listing: Listing, small: tuple[Page, Page]) -> Check:
    """Paging honours page and limit, the listing ends, soft-deleted personas are marked."""
    fails: list[str] = []
    warns: list[str] = []
    if listing.problem is not None:
        fails.append(f"reading stopped: {_words(listing.problem)}")
    if listing.repeated is not None:
        fails.append(
            f"page {listing.repeated} repeats page {listing.repeated - 1}: the server ignores "
            "`page`, so no persona past the first page can be read"
        )
    elif listing.problem is None and not listing.ended:
        fails.append(f"still no empty page after {MAX_PAGES} pages: the listing does not end")
    objects = [item for page in listing.pages for item in page]
    ids = [persona_id(item) for item in objects if isinstance(item, dict)]
    without_id = len(objects) - sum(pid is not None for pid in ids)
    if without_id:
        fails.append(f"{_plural(without_id, 'persona object')} without an id")
    repeated = [pid for pid, seen in Counter(ids).items() if pid is not None and seen > 1]
    if repeated and listing.repeated is None:
        fails.append(
            f"persona ids repeat across pages ({_shown(repeated)}): the listing shifted while "
            "it was read, or its order is not stable (run doctor again)"
        )
    fails += _page_sizes(listing, warns)
    total = len({pid for pid in ids if pid is not None})
    if listing.repeated is None:  # else the pages of limit=2 only say it again
        fails += _small_pages(small, total, warns)
    personas = listing.personas()
    if any("deleted_at" not in persona for persona in personas):
        warns.append("persona objects without deleted_at: soft-deleted ones cannot be told apart")
    deleted = sum(persona.get("deleted_at") not in (None, "") for persona in personas)
    if not total and listing.problem is None:
        warns.append("the account lists no personas: paging could not be checked")
    pages = [page for page in listing.pages if page]
    facts = f"{_plural(total, 'persona')} ({deleted} soft-deleted, marked by deleted_at)"
    facts += f" on {_plural(len(pages), 'page')} of limit={LIMIT}"
    if listing.ended:
        facts += ", then an empty page"
    return judged("personas_listing", fails, warns, "" if listing.problem else facts)


def _page_sizes(listing: Listing, warns: list[str]) -> list[str]:
    """Failures for pages of uneven size; a warning when the server caps or ignores `limit`."""
    pages = [page for page in listing.pages if page]
    if len(pages) < 2:
        return []
    size = len(pages[0])
    uneven = [number for number, page in enumerate(pages[:-1], 1) if len(page) != size]
    if uneven:
        return [
            f"pages before the last differ in size (page 1 holds {size}, page {uneven[0]} "
            f"{len(pages[uneven[0] - 1])}): the listing changed while it was read, or its "
            "paging is not stable"
        ]
    if size != LIMIT:
        what = "caps `limit` at" if size < LIMIT else "ignores `limit` and sends"
        warns.append(
            f"pages hold {size} personas although limit={LIMIT} was asked: the server {what} "
            f"{size}, so a short page does not end the listing (the tool reads on to an empty page)"
        )
    return []


def _small_pages(small: tuple[Page, Page], total: int, warns: list[str]) -> list[str]:
    """Failures and warnings from pages 1 and 2 of limit=2."""
    (first, first_problem), (second, second_problem) = small
    problem = first_problem or second_problem
    if problem is not None:
        warns.append(f"limit={SMALL_LIMIT} could not be checked: {_words(problem)}")
        return []
    if len(first) > SMALL_LIMIT:
        warns.append(
            f"limit={SMALL_LIMIT} was answered with {len(first)} personas: the server ignores "
            "`limit`"
        )
        return []
    first_ids = {persona_id(item) for item in first if isinstance(item, dict)}
    second_ids = {persona_id(item) for item in second if isinstance(item, dict)}
    if len(first) == SMALL_LIMIT and total > SMALL_LIMIT and not second:
        return [
            f"page 2 of limit={SMALL_LIMIT} is empty although {total} personas are listed: "
            "paging loses personas"
        ]
    if first_ids & second_ids - {None}:
        return [
            f"pages 1 and 2 of limit={SMALL_LIMIT} share personas "
            f"({_shown([str(pid) for pid in first_ids & second_ids])}): the server ignores `page`"
        ]
    return []


def inbound_listing(inbound: Inbound) -> Check:
    """GET /v1/inbound answers, with how many numbers, and whether it names owners."""
    if inbound.problem is not None:
        return Check("inbound_listing", "fail", _words(inbound.problem))
    count = len(inbound.owners)
    if inbound.bad_entries:
        return Check(
            "inbound_listing",
            "fail",
            f"{inbound.bad_entries} of {count + inbound.bad_entries} entries have no "
            "phone_number string (an integer?): the tool cannot see those numbers",
        )
    if inbound.named == count and count:
        owners = "names each number's owner (persona_id)"
    elif inbound.named:
        owners = f"names an owner field (persona_id) for {inbound.named} of {count}"
    else:
        owners = "names no owners (no persona_id): the persona listing is the only source"
    return Check("inbound_listing", "ok", f"{_plural(count, 'number')}; {owners}")


def response_shapes(
    listing: Listing, error: ApiError | None, exchanges: Sequence[Exchange]
) -> Check:
    """Which documented variants the account uses: numbers, error envelope, fields present."""
    fails: list[str] = []
    warns: list[str] = []
    kinds = entry_kinds(listing.personas())
    for kind, what in (
        ("one string", "give inbound_numbers as one string"),
        ("not a list", "give inbound_numbers as neither a list nor a string"),
    ):
        if kinds[kind]:
            fails.append(f"{_plural(kinds[kind], 'persona')} {what}: the tool cannot read them")
    if kinds["not a string"]:
        fails.append(
            f"{_plural(kinds['not a string'], 'listed number')} not a string (an integer?): "
            "the tool cannot read them"
        )
    facts = [_number_form(kinds, number_fields(listing.personas()), warns)]
    facts.append(_error_envelope(error, exchanges, warns))
    return judged("response_shapes", fails, warns, "; ".join(fact for fact in facts if fact))


def _number_form(kinds: Counter[str], fields: Counter[str], warns: list[str]) -> str:
    if kinds["string"]:
        warns.append(
            "numbers listed as bare strings: their labels and persona_settings are not visible"
        )
    if not kinds["object"]:
        if kinds["string"]:
            return "numbers as bare strings"
        return "no number listed yet" if kinds.total() == kinds["no inbound_numbers"] else ""
    present = [name for name in ("label", "persona_settings") if fields[name]]
    if fields["persona_settings"] < kinds["object"]:
        warns.append("number objects without persona_settings: per-number settings not visible")
    return "numbers as objects" + (f" (with {', '.join(present)})" if present else "")


def _error_envelope(error: ApiError | None, exchanges: Sequence[Exchange], warns: list[str]) -> str:
    probe = f"GET {persona_path(NO_SUCH_PERSONA)}"
    if error is None:
        warns.append(f"{probe} (no such persona) was answered 2xx: errors look like answers")
        return "no error envelope seen"
    if error.status is None:
        warns.append(f"the error envelope could not be seen: {_words(error)}")
        return ""
    seen: dict[str, None] = {}
    probed: tuple[str, bool] | None = None
    for exchange in exchanges:
        if exchange.status is None or exchange.status < 400:
            continue
        envelope, coded = envelope_of(exchange.error_body)
        seen[f"HTTP {exchange.status}: {printable(envelope)}"] = None
        if exchange.path == persona_path(NO_SUCH_PERSONA):
            probed = (envelope, coded)
    if probed is not None and not probed[1]:
        warns.append(
            f"{probe} (no such persona) was answered with {printable(probed[0])}, without an "
            "error code: errors are told apart by status alone"
        )
    code = f" {error.code}" if error.code else ""
    return f"errors seen: {'; '.join(seen) or 'none'} (no such persona: HTTP {error.status}{code})"


def consistency(reader: Reader, listing: Listing, inbound: Inbound) -> Check:
    """Each number on at most one persona; the persona listing and GET /v1/inbound agree."""
    unread = _unreadable(listing)
    if unread is not None:
        return Check("consistency", "fail", f"not checked: {unread}")
    fails: list[str] = []
    warns: list[str] = []
    active, deleted = _holders(listing)
    if deleted:
        warns.append(f"numbers on soft-deleted personas: {_shown(list(deleted))}")
    _on_two(reader, active, fails, warns)
    if inbound.problem is not None or inbound.bad_entries:
        warns.append("GET /v1/inbound unreadable: only the persona listing was checked")
    else:
        active_ids = {
            str(persona_id(persona))
            for persona in listing.personas()
            if persona.get("deleted_at") in (None, "")
        }
        _agree(active, deleted, active_ids, inbound, fails, warns)
    held = len(active)
    facts = f"{_plural(held, 'number')} on personas, each on one"
    if not fails and not warns:
        facts += ", all on the account"
        facts += (
            "; GET /v1/inbound names the same owners"
            if inbound.named
            else "; GET /v1/inbound names no owners to compare"
        )
    return judged("consistency", fails, warns, "" if fails or warns else facts)


def _unreadable(listing: Listing) -> str | None:
    """Why the listing cannot say who holds what, if it cannot."""
    if listing.problem is not None or listing.repeated is not None or not listing.ended:
        return "the persona listing was not read whole"
    objects = [item for page in listing.pages for item in page]
    if any(not isinstance(item, dict) or persona_id(item) is None for item in objects):
        return "some listed personas have no id"
    kinds = entry_kinds(listing.personas())
    if kinds["one string"] or kinds["not a list"] or kinds["not a string"]:
        return "some listed personas' numbers cannot be read"
    return None


def _holders(listing: Listing) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """number -> the active personas listing it, and -> the soft-deleted ones."""
    active: dict[str, list[str]] = {}
    deleted: dict[str, list[str]] = {}
    for persona in listing.personas():
        gone = persona.get("deleted_at") not in (None, "")
        for number in numbers_of(persona):
            (deleted if gone else active).setdefault(number, []).append(str(persona_id(persona)))
    return active, deleted


def _on_two(
    reader: Reader, active: dict[str, list[str]], fails: list[str], warns: list[str]
) -> None:
    """A number listed on two personas, confirmed (fail) or not (warn) by reading them by id."""
    doubled = {number: ids for number, ids in active.items() if len(ids) > 1}
    if not doubled:
        return
    involved = sorted({pid for ids in doubled.values() for pid in ids})[:MAX_REREADS]
    fresh = reread(reader, involved)
    confirmed = [
        number
        for number, ids in doubled.items()
        if sum(number in (fresh.get(pid) or ()) for pid in ids) > 1
    ]
    if confirmed:
        fails.append(
            f"{_plural(len(confirmed), 'number')} on two personas, read again by id: "
            f"{_shown(confirmed)}"
        )
    else:
        warns.append(
            f"the listing showed {_plural(len(doubled), 'number')} on two personas "
            f"({_shown(list(doubled))}), but read by id each is on one: the listing changed "
            "while it was read"
        )


def _agree(
    active: dict[str, list[str]],
    deleted: dict[str, list[str]],
    active_ids: set[str],
    inbound: Inbound,
    fails: list[str],
    warns: list[str],
) -> None:
    """Compare the listing's owners with GET /v1/inbound's numbers and persona_id fields."""
    missing = [number for number in active if number not in inbound.owners]
    if missing:
        warns.append(f"on personas but not in GET /v1/inbound: {_shown(missing)}")
    if not inbound.named:
        return
    disagree, hidden, unnamed = [], [], []
    for number, owner in inbound.owners.items():
        holders = active.get(number, [])
        if owner is None:
            if holders and inbound.named == len(inbound.owners):
                unnamed.append(number)
        elif owner in holders:
            continue
        elif holders or owner in active_ids:
            disagree.append(number)
        elif number not in deleted:
            hidden.append(number)
    if disagree:
        fails.append(
            "GET /v1/inbound and the persona listing name different owners for "
            f"{_plural(len(disagree), 'number')}: {_shown(disagree)}"
        )
    if hidden:
        warns.append(
            f"GET /v1/inbound puts {_plural(len(hidden), 'number')} on personas the listing "
            f"does not show (v2 agents?): {_shown(hidden)}; the tool counts them as held"
        )
    if unnamed:
        warns.append(
            f"GET /v1/inbound names no persona for {_plural(len(unnamed), 'number')} the "
            f"listing puts on one: {_shown(unnamed)}"
        )
