"""The Bland API endpoints the simulator serves: route table, request validation and handlers.

Handlers run with the simulator's lock held and may change the account.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import unquote

from .account import Account
from .agents import AGENT_ROUTES, number_list
from .faults import Faults
from .rendering import inbound_number, legacy_inbound_body, render_persona
from .replies import Reply, SimulatedError, json_reply, persona_not_found
from .requestlog import RequestRecord

log = logging.getLogger(__name__)

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
MAX_LABEL_CHARS = 150
# Documented without the /v1 prefix of every other endpoint.
LABEL_PATH = "/inbound/update_label"

Handler = Callable[[Account, Faults, list[str], RequestRecord], Reply]


class Route(NamedTuple):
    handler: Handler
    method: str


def split_path(path: str) -> list[str]:
    """The segments of a URL path, without its leading and trailing slash."""
    trimmed = path[1:] if path.startswith("/") else path
    if trimmed.endswith("/"):
        trimmed = trimmed[:-1]
    return trimmed.split("/")


def persona_id_from(segments: list[str]) -> str | None:
    """The persona id of a /v1/personas/{id}... path, if it is one."""
    if len(segments) >= 3 and segments[0] == "v1" and segments[1] == "personas" and segments[2]:
        return unquote(segments[2])
    return None


def parse_json(raw: bytes) -> tuple[Any, bool]:
    """Return (value, ok); an empty body parses as None."""
    if not raw.strip():
        return None, True
    try:
        return json.loads(raw), True
    except (ValueError, UnicodeDecodeError):
        return None, False


def _positive_int(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise SimulatedError(400, "INVALID_REQUEST", f"'{name}' must be a positive integer")
    return value


def _persona_reply(account: Account, faults: Faults, persona_id: str) -> Reply:
    persona = account.personas[persona_id]
    data = render_persona(
        account, persona, faults.inbound_numbers_as_strings, faults.listing_spellings
    )
    return json_reply(200, {"data": data, "errors": None})


def _v1_persona_id(account: Account, faults: Faults, record: RequestRecord) -> str:
    """The persona id of the request; a twin is found only when twins are readable."""
    persona = account.personas.get(record.persona_id or "")
    if persona is None or (persona.agent_id is not None and not faults.twins_readable):
        raise persona_not_found()
    return persona.id


def _list_personas(
    account: Account, faults: Faults, segments: list[str], record: RequestRecord
) -> Reply:
    page = _positive_int(record.query, "page", 1)
    limit = min(_positive_int(record.query, "limit", DEFAULT_LIMIT), MAX_LIMIT)
    as_strings = faults.inbound_numbers_as_strings
    personas = account.page(page, limit, faults.twins_listed)
    spellings = faults.listing_spellings
    data = [render_persona(account, persona, as_strings, spellings) for persona in personas]
    reply = json_reply(200, {"data": data, "errors": None})
    _move_during_listing(account, faults, page)
    return reply


def _move_during_listing(account: Account, faults: Faults, page: int) -> None:
    """Make the change due once this page is served, as if made between two page reads."""
    move = faults.take_listing_move(page)
    if move is None:
        return
    if move.number not in account.numbers or move.to_persona not in account.personas:
        log.warning(
            "listing move skipped: no number %s or no persona %s", move.number, move.to_persona
        )
        return
    account.set_owner(move.number, move.to_persona)


def _list_inbound(
    account: Account, faults: Faults, segments: list[str], record: RequestRecord
) -> Reply:
    body = legacy_inbound_body(
        account,
        faults.legacy_inbound_includes_persona,
        faults.inbound_shows_routing,
        faults.inbound_spellings,
    )
    return Reply(200, body)


def _get_inbound_number(
    account: Account, faults: Faults, segments: list[str], record: RequestRecord
) -> Reply:
    # The docs accept +13334445555, %2B13334445555, 13334445555 and 3334445555 (US assumed).
    raw = faults.stored_number(unquote(segments[2]).strip())
    phone = raw if raw.startswith("+") else f"+1{raw}" if len(raw) == 10 else f"+{raw}"
    number = account.numbers.get(phone)
    if number is None:
        return json_reply(404, {"error": "Phone number not found"})
    shown = faults.inbound_spellings.get(number.phone_number, number.phone_number)
    body = inbound_number(number, faults.legacy_inbound_includes_persona)
    return json_reply(200, {**body, "phone_number": shown})


def _get_persona(
    account: Account, faults: Faults, segments: list[str], record: RequestRecord
) -> Reply:
    return _persona_reply(account, faults, _v1_persona_id(account, faults, record))


def _attach(account: Account, faults: Faults, segments: list[str], record: RequestRecord) -> Reply:
    numbers = number_list(record.body, faults)
    persona = account.attach(_v1_persona_id(account, faults, record), numbers, faults.attach_mode)
    return _persona_reply(account, faults, persona.id)


def _detach(account: Account, faults: Faults, segments: list[str], record: RequestRecord) -> Reply:
    numbers = number_list(record.body, faults)
    persona = account.detach(_v1_persona_id(account, faults, record), numbers)
    return _persona_reply(account, faults, persona.id)


def _settings(
    account: Account, faults: Faults, segments: list[str], record: RequestRecord
) -> Reply:
    body = record.body
    if not isinstance(body, dict) or "persona_settings" not in body:
        raise SimulatedError(400, "INVALID_BODY", "'persona_settings' is required")
    settings = body["persona_settings"]
    if settings is not None and not isinstance(settings, dict):
        raise SimulatedError(400, "INVALID_BODY", "'persona_settings' must be an object or null")
    phone = faults.stored_number(unquote(segments[4]).strip())
    updated = account.update_settings(_v1_persona_id(account, faults, record), phone, settings)
    return json_reply(200, {"data": updated, "errors": None})


def _update_label(
    account: Account, faults: Faults, segments: list[str], record: RequestRecord
) -> Reply:
    body = record.body
    phone = body.get("phoneNumber") if isinstance(body, dict) else None
    label = body.get("newLabel") if isinstance(body, dict) else None
    if not isinstance(phone, str) or not phone.strip() or not isinstance(label, str):
        raise SimulatedError(
            400, "INVALID_REQUEST", "'phoneNumber' and 'newLabel' (a string) are required"
        )
    # Counted as a JavaScript server counts a string's length: in UTF-16 units.
    if len(label.encode("utf-16-le")) // 2 > MAX_LABEL_CHARS:
        raise SimulatedError(
            400, "LABEL_TOO_LONG", f"Label must be {MAX_LABEL_CHARS} characters or fewer"
        )
    updated = account.update_label(faults.stored_number(phone.strip()), label)
    if updated is None:
        # The one documented error outside the envelope.
        return json_reply(404, {"error": "Phone number not found"})
    data = {
        "message": "Label updated successfully",
        "phone_number": updated.phone_number,
        "label": updated.label,
    }
    return json_reply(200, {"data": data, "errors": None})


# Keyed by path shape; "*" marks a variable segment.
_ROUTES: dict[tuple[str, ...], Route] = {
    ("v1", "personas"): Route(_list_personas, "GET"),
    ("v1", "personas", "*"): Route(_get_persona, "GET"),
    ("v1", "personas", "*", "inbound", "attach"): Route(_attach, "POST"),
    ("v1", "personas", "*", "inbound", "detach"): Route(_detach, "POST"),
    ("v1", "personas", "*", "inbound", "*", "settings"): Route(_settings, "PATCH"),
    ("v1", "inbound"): Route(_list_inbound, "GET"),
    ("v1", "inbound", "*"): Route(_get_inbound_number, "GET"),
    ("inbound", "update_label"): Route(_update_label, "POST"),
    **{shape: Route(handler, method) for shape, (handler, method) in AGENT_ROUTES.items()},
}


def match_route(segments: list[str]) -> Route | None:
    """The route serving a path, or None when no endpoint has that shape."""
    if any(not s for s in segments):
        return None
    for shape, route in _ROUTES.items():
        if len(shape) == len(segments) and all(
            s == "*" or s == seg for s, seg in zip(shape, segments, strict=True)
        ):
            return route
    return None
