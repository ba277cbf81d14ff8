"""The probes: raw reads of the persona listing and GET /v1/inbound, each one a GET.

They keep the answers as the API sent them (the client's parser would smooth over the very
shapes doctor is asked about) and note where reading stopped and why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.api.urls import INBOUND_PATH, PERSONAS_PATH, persona_path
from reconciler.errors import ApiError

LIMIT = 100  # the documented maximum of `limit`, what the client asks for
SMALL_LIMIT = 2  # small enough to need a second page on almost any account
MAX_PAGES = 2000  # a listing without an empty page by then does not end
NO_SUCH_PERSONA = "00000000-0000-4000-8000-00000000d0c7"  # asked for to see an error body


class Reader(Protocol):
    """What doctor needs of the client: the JSON of one GET, retried like every request."""

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any: ...


@dataclass
class Listing:
    """GET /v1/personas read page by page with limit=100, up to an empty page."""

    pages: list[list[Any]] = field(default_factory=list)
    ended: bool = False  # an empty page came
    repeated: int | None = None  # a page that repeated the one before it
    problem: str | None = None  # why reading stopped early

    def personas(self) -> list[dict[str, Any]]:
        """Each persona object once (its first sighting), in listing order."""
        seen: dict[str, dict[str, Any]] = {}
        for page in self.pages:
            for item in page:
                if isinstance(item, dict) and persona_id(item) is not None:
                    seen.setdefault(str(persona_id(item)), item)
        return list(seen.values())


@dataclass
class Inbound:
    """GET /v1/inbound: number -> the persona_id it names (None: null or no such field)."""

    owners: dict[str, str | None] = field(default_factory=dict)
    named: int = 0  # entries with a persona_id field
    labelled: int = 0  # entries with a label field
    bad_entries: int = 0  # entries without a phone_number string
    problem: str | None = None


def persona_id(item: Mapping[str, Any]) -> str | None:
    """A persona object's id, if it has a usable one."""
    value = item.get("id")
    return str(value) if isinstance(value, str | int) and str(value) else None


def page_items(payload: Any) -> tuple[list[Any], str | None]:
    """The persona objects of one page (its `data`, or a bare list), or why there are none."""
    items = payload.get("data") if isinstance(payload, dict) else payload
    if isinstance(items, list):
        return items, None
    return [], f"its data is {_kind(items)}, not a list of personas"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    return "a string" if isinstance(value, str) else "a number"


def read_page(reader: Reader, page: int, limit: int) -> tuple[list[Any], str | None]:
    """One page of the persona listing, or why it could not be read."""
    try:
        payload = reader.get_json(PERSONAS_PATH, {"page": page, "limit": limit})
    except ApiError as error:
        return [], str(error)
    items, problem = page_items(payload)
    return items, None if problem is None else f"page {page} of limit={limit}: {problem}"


def _ids(items: Sequence[Any]) -> list[str | None]:
    return [persona_id(item) if isinstance(item, dict) else None for item in items]


def read_listing(reader: Reader, first: list[Any]) -> Listing:
    """The listing from page 1 (already read) on, until an empty or repeated page."""
    listing = Listing(pages=[first])
    while listing.pages[-1] and len(listing.pages) < MAX_PAGES:
        page = len(listing.pages) + 1
        items, problem = read_page(reader, page, LIMIT)
        if problem is not None:
            listing.problem = problem
            return listing
        if items and _ids(items) == _ids(listing.pages[-1]):
            listing.repeated = page
            return listing
        listing.pages.append(items)
    listing.ended = not listing.pages[-1]
    return listing


def read_inbound(reader: Reader) -> Inbound:
    """GET /v1/inbound, as the API sent it."""
    inbound = Inbound()
    try:
        payload = reader.get_json(INBOUND_PATH)
    except ApiError as error:
        inbound.problem = str(error)
        return inbound
    items: Any = payload
    if isinstance(payload, dict):
        items = payload.get("inbound_numbers", payload.get("data"))
    if not isinstance(items, list):
        inbound.problem = f"GET {INBOUND_PATH}: the answer has no list of inbound numbers"
        return inbound
    for item in items:
        number = item.get("phone_number") if isinstance(item, dict) else item
        if not isinstance(number, str) or not number.strip():
            inbound.bad_entries += 1
            continue
        owner = item.get("persona_id") if isinstance(item, dict) else None
        inbound.owners[number.strip()] = str(owner) if owner not in (None, "") else None
        if isinstance(item, dict):
            inbound.named += "persona_id" in item
            inbound.labelled += "label" in item
    return inbound


def provoke_error(reader: Reader) -> ApiError | None:
    """Ask for a persona that does not exist, to see the account's error envelope."""
    try:
        reader.get_json(persona_path(NO_SUCH_PERSONA))
    except ApiError as error:
        return error
    return None


def reread(reader: Reader, persona_ids: Sequence[str]) -> dict[str, set[str] | None]:
    """The numbers of each persona read by id (None where that read failed)."""
    numbers: dict[str, set[str] | None] = {}
    for pid in persona_ids:
        try:
            payload = reader.get_json(persona_path(pid))
        except ApiError:
            numbers[pid] = None
            continue
        data = payload.get("data") if isinstance(payload, dict) else None
        numbers[pid] = numbers_of(data) if isinstance(data, dict) else None
    return numbers


def numbers_of(persona: Mapping[str, Any]) -> set[str]:
    """The numbers a persona object lists, as objects or bare strings alike."""
    entries = persona.get("inbound_numbers")
    if not isinstance(entries, list):
        return set()
    found = set()
    for entry in entries:
        number = entry.get("phone_number") if isinstance(entry, dict) else entry
        if isinstance(number, str) and number.strip():
            found.add(number.strip())
    return found


def entry_kinds(personas: Sequence[Mapping[str, Any]]) -> Counter[str]:
    """How the personas write their numbers: object, string, one string, not a string, ..."""
    kinds: Counter[str] = Counter()
    for persona in personas:
        entries = persona.get("inbound_numbers")
        if entries is None:
            kinds["no inbound_numbers"] += 1
        elif isinstance(entries, str):
            kinds["one string"] += 1
        elif not isinstance(entries, list):
            kinds["not a list"] += 1
        else:
            for entry in entries:
                number = entry.get("phone_number") if isinstance(entry, dict) else entry
                kind = "object" if isinstance(entry, dict) else "string"
                kinds[kind if isinstance(number, str) and number.strip() else "not a string"] += 1
    return kinds


def number_fields(personas: Sequence[Mapping[str, Any]]) -> Counter[str]:
    """How many number objects carry each of `label` and `persona_settings`."""
    fields: Counter[str] = Counter()
    for persona in personas:
        entries = persona.get("inbound_numbers")
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict):
                fields.update(key for key in ("label", "persona_settings") if key in entry)
    return fields
