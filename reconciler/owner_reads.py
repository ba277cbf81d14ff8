"""Reads that settle who holds a number: the account read once, then checked where it may be wrong.

The list is read a page at a time with no snapshot: a number moved in the dashboard between two
page reads shows on its old persona (on a page read before the move) and on its new one (read
after). Taken as a fact, "held twice" plans a detach from the persona that really holds it, and
the number ends up on none. So a number seen on two personas is an anomaly to confirm: every
persona the list shows holding it is read by id, and the plan is made from what those reads say.
A read by id can show a number the list showed elsewhere; that persona is read too, until every
persona holding a number seen twice has been read.

The other skew, a number moved onto a page already read, makes it look held by nobody, and there
is no persona to read by id. Where GET /v1/inbound names owners, they count (model.Live.owners);
for a protected number the file declares, the personas are listed again (`relisted`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from reconciler.account import AccountReader
from reconciler.errors import ApiError
from reconciler.model import ConfirmedOwners, Live, LivePersona

# One persona, fresh from the API by id.
GetPersona = Callable[[str], LivePersona]

# Reads by id sent at once: normally there are none or a few.
MAX_CONCURRENT_READS = 4


def read_confirmed(
    account: AccountReader, protected: Collection[str] = (), pages_hint: int = 0
) -> Live:
    """One read of the account, with every number the list shows on two personas confirmed by id.

    A `protected` number the list shows on no persona may have moved onto a page already read:
    then the personas are listed once more, so that taking it is never a plain attach unawares.
    """
    live = confirm_owners(account.read_live(pages_hint), account.get_persona)
    if protected:
        owners = live.owners()
        looks_free = [number for number in protected if number not in owners]
        if looks_free:
            listing, pages = account.list_personas(live.pages_read)
            live = replace(relisted(live, listing, looks_free), reads=live.reads + pages)
            live = confirm_owners(live, account.get_persona)
    return live


def seen_twice(owners: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """The numbers on more than one persona, with those personas."""
    return {number: held for number, held in owners.items() if len(held) > 1}


def confirm_owners(live: Live, get_persona: GetPersona) -> Live:
    """The account with every persona holding a number seen twice read again by id.

    The personas read replace their listed entries, and `confirmed` records, per number seen
    twice, every persona it was seen on and those holding it read by id. An error of a read
    (ApiError) propagates: planning on an unconfirmed picture could detach a number from the
    only persona holding it.
    """
    listed = live.listed_owners()
    if len(listed) == sum(len(p.numbers) for p in live.personas.values() if not p.deleted):
        return live  # each number listed once: the usual case, known without a look at each
    twice = seen_twice(listed)
    seen: dict[str, set[str]] = {}
    read: set[str] = set()
    while twice:
        for number, held in twice.items():
            seen.setdefault(number, set()).update(held)
        to_read = sorted({pid for held in twice.values() for pid in held} - read)
        if not to_read:
            break
        fresh = _read_by_id(to_read, get_persona)
        read.update(to_read)
        live = replace(live, personas={**live.personas, **fresh}, reads=live.reads + len(to_read))
        listed = live.listed_owners()
        twice = seen_twice(listed)
    confirmed = tuple(
        ConfirmedOwners(
            number,
            tuple(live.ref(pid) for pid in sorted(ids)),
            tuple(live.ref(pid) for pid in listed.get(number, ())),
        )
        for number, ids in sorted(seen.items())
    )
    earlier = tuple(found for found in live.confirmed if found.phone_number not in seen)
    return replace(live, confirmed=earlier + confirmed)


def relisted(live: Live, listing: Mapping[str, LivePersona], numbers: Collection[str]) -> Live:
    """The account with the entries of a second listing that show any of `numbers` taken from it.

    For numbers the first listing showed on no persona: one moved onto a page already read looks
    free, and attaching it would take it off a persona no check saw. Each number a second
    listing finds is recorded in `confirmed` (seen on no persona at first). Pass the result to
    confirm_owners: a fresher entry can show a number the first listing showed elsewhere.
    """
    wanted = frozenset(numbers)
    holders = {
        pid: persona
        for pid, persona in listing.items()
        if not persona.deleted and persona.numbers & wanted
    }
    if not holders:
        return live
    updated = replace(live, personas={**live.personas, **holders})
    found = tuple(
        ConfirmedOwners(
            number,
            (),
            tuple(updated.ref(pid) for pid in sorted(holders) if number in holders[pid].numbers),
        )
        for number in sorted(wanted & frozenset().union(*(p.numbers for p in holders.values())))
    )
    return replace(updated, confirmed=live.confirmed + found)


def _read_by_id(persona_ids: list[str], get_persona: GetPersona) -> dict[str, LivePersona]:
    workers = min(MAX_CONCURRENT_READS, len(persona_ids))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="confirm") as pool:
        personas = list(pool.map(get_persona, persona_ids))
    for asked, persona in zip(persona_ids, personas, strict=True):
        if persona.id != asked:
            # Planning on another persona's numbers would be the wrong picture all over again.
            raise ApiError(
                f"the answer is persona {persona.id!r}, not the one asked for",
                method="GET",
                path=f"/v1/personas/{asked}",
            )
    return dict(zip(persona_ids, personas, strict=True))
