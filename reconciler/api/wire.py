"""The API's answers read into the model, and its error bodies into ApiError; no I/O here.

Error bodies come in several shapes (see the API notes in the README): the envelope's `errors`
as a list or as a "CODE: message" string, the legacy `{status, message}`, a bare `{error}`, and
bodies that are not JSON at all, such as a proxy's HTML page. An answer of an unexpected shape
is refused rather than read around: a number dropped while reading would look free.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import httpx

from reconciler.api.numbers import build_live as build_live  # where doctor reads it
from reconciler.api.numbers import canonical_number
from reconciler.api.urls import INBOUND_PATH, PERSONAS_PATH, UNSAFE_ID, shown_text, unsafe_id
from reconciler.errors import ApiError, AuthError
from reconciler.model import (
    UNREAD,
    LivePersona,
    RoutingSettings,
    SeenLabel,
    SeenSettings,
    owner_kind,
    routing_settings,
)


class ReadAnswer(NamedTuple):
    """An answer whose body the transport read itself, within its size and time limits."""

    status_code: int
    headers: httpx.Headers
    content: bytearray


Answer = ReadAnswer | httpx.Response

# A \uD800-\uDFFF escape: JSON may spell a lone surrogate, which no UTF-8 output can hold.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _json_of(response: Answer) -> Any:
    """The JSON of a body; ValueError if it is not JSON or too deeply nested to read. Lone
    surrogates (a string cut mid emoji) become U+FFFD: no UTF-8 output could hold them."""
    try:
        value = json.loads(response.content)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if _SURROGATE_ESCAPE.search(response.content):
        value = _without_surrogates(value)
    return value


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_surrogates(key): _without_surrogates(v) for key, v in value.items()}
    return value


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, in either of its forms (seconds or HTTP date)."""
    text = (value or "").strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_from_response(response: Answer, method: str, path: str) -> ApiError:
    """Build an ApiError from any of the API's error shapes (envelope, legacy, bare, non-JSON)."""
    try:
        body: Any = _json_of(response)
    except ValueError:
        body = None
    code, message = _code_and_message(body)
    if message is None:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        message = (
            f"unexpected error body ({kind})" if body is not None else f"non-JSON body ({kind})"
        )
    status = response.status_code
    if status in (401, 403):
        hint = (
            "the API key was rejected: check BLAND_API_KEY"
            if status == 401
            else "the API key lacks permission for this call"
        )
        return AuthError(f"{message} ({hint})", status=status, code=code, method=method, path=path)
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    return ApiError(
        message, status=status, code=code, method=method, path=path, retry_after=retry_after
    )


def _code_and_message(body: Any) -> tuple[str | None, str | None]:
    """The error code and message of a JSON error body, whichever shape it has."""
    if not isinstance(body, dict):
        return None, None
    code: str | None = None
    message: str | None = None
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0]
        if isinstance(first, dict):
            code = _text(first.get("error") or first.get("code"))
            message = _text(first.get("message"))
        else:
            message = _text(first)
    elif isinstance(errors, str) and errors.strip():
        match = re.fullmatch(r"([A-Z][A-Z0-9_]+):\s*(.*)", errors.strip(), re.DOTALL)
        code, message = (match.group(1), match.group(2)) if match else (None, errors)
    for key in ("error", "message"):
        if message is None and isinstance(body.get(key), str):
            message = body[key]
    return code, message


def _text(value: Any) -> str | None:
    return str(value) if value is not None and str(value) else None


def success_payload(response: Answer, method: str, path: str) -> Any:
    """The JSON of a 2xx answer; an ApiError if it is not JSON or its envelope holds errors."""
    try:
        payload = _json_of(response)
    except ValueError:
        raise ApiError(
            "the API answered 2xx with a body that is not JSON",
            status=response.status_code,
            method=method,
            path=path,
        ) from None
    if isinstance(payload, dict) and payload.get("errors") not in (None, [], ""):
        raise error_from_response(response, method, path)
    return payload


class Malformed(ValueError):
    """What is wrong with an answer's shape; the caller adds the endpoint (see malformed)."""


@contextmanager
def reading(method: str, path: str, where: str = "") -> Iterator[None]:
    """Where an answer is read: a Malformed found in it becomes the ApiError of its endpoint."""
    try:
        yield
    except Malformed as error:
        message = f"malformed answer: {where}{error}; refusing to act on it"
        raise ApiError(message, method=method, path=path) from None


_JSON_TYPES = {type(None): "null", bool: "a boolean", str: "a string", list: "an array"}


def json_type(value: Any) -> str:
    """The JSON name of a value's type, as a message about the API's answer says it."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"a number ({value!r})"
    return _JSON_TYPES.get(type(value), "an object")


def _quoted(text: str) -> str:
    return '"' + shown_text(text) + '"'


def data_of(payload: Any) -> Any:
    """The envelope's `data`; a body that is not an envelope is taken as the data itself."""
    return payload.get("data") if isinstance(payload, dict) else payload


def id_of(item: Any, where: str, what: str = "an object") -> str:
    """The `id` of an object of the answer: a string, or a number read as text."""
    if not isinstance(item, dict):
        raise Malformed(f"{where} is {json_type(item)}, not {what}")
    if "id" not in item:
        raise Malformed(f"{where} has no `id`")
    found = item["id"]
    if isinstance(found, bool) or not isinstance(found, str | int):
        raise Malformed(f"{where} has an `id` that is {json_type(found)}")
    return str(found)


def optional_id(item: dict[str, Any], key: str, where: str, what: str = "an id") -> str | None:
    """A field that may be null, "" read as null: an id (a string, or a number read as text),
    or with `what` "a string", text only."""
    found = item.get(key)
    kinds = str | int | None if what == "an id" else str | None
    if isinstance(found, bool) or not isinstance(found, kinds):
        raise Malformed(f"{where}: `{key}` is {json_type(found)}, not {what}")
    return str(found) if found not in (None, "") else None


def _phone_number(entry: Any) -> str:
    """One entry of a number list: an object with a `phone_number` string, or a bare string."""
    number = entry.get("phone_number") if isinstance(entry, dict) else entry
    if isinstance(entry, dict) and not isinstance(number, str):
        raise Malformed(f"an object whose `phone_number` is {json_type(number)}")
    if not isinstance(number, str):
        raise Malformed(f"{json_type(number)}, not a phone number string")
    if not number.strip():
        raise Malformed("an empty phone number")
    return number.strip()


def _persona(item: Any, where: str) -> LivePersona:
    """A persona object of the API as a LivePersona; `where` names it in an error."""
    persona_id = id_of(item, where, "a persona object")
    if unsafe_id(persona_id) or owner_kind(persona_id) != "persona":
        name = item.get("name")
        named = f"persona {_quoted(name)}" if isinstance(name, str) and name else where
        # `agent:ID` and the like are the tool's own keys for owners of other kinds.
        why = UNSAFE_ID if unsafe_id(persona_id) else "one that names an owner of another kind"
        raise Malformed(f"{named} has the id {_quoted(persona_id)}, {why}")
    where = f"persona {shown_text(persona_id)}"
    entries = item.get("inbound_numbers")
    if not isinstance(entries, list):  # a string too: each character would read as a number
        raise Malformed(f"{where}: `inbound_numbers` is {json_type(entries)}, not a list")
    numbers: set[str] = set()
    settings: dict[str, RoutingSettings | None] = {}
    labels: dict[str, str | None] = {}
    spellings: dict[str, str] = {}  # only those that are not canonical (see Live.spellings)
    for index, entry in enumerate(entries):
        try:
            spelling = _phone_number(entry)
        except Malformed as error:
            raise Malformed(f"{where}: inbound_numbers[{index}] is {error}") from None
        number = canonical_number(spelling)
        if number != spelling:
            spellings[spelling] = number or ""  # "": cannot be read, so nothing acts on it
        if number is None:
            continue
        numbers.add(number)
        if not isinstance(entry, dict):
            continue
        # A field missing, or of a type the docs do not give, is left unread, not guessed at.
        seen_settings = settings_from_json(entry.get("persona_settings", UNREAD))
        if seen_settings is not UNREAD:
            settings[number] = seen_settings
        label = entry.get("label", UNREAD)
        if label is None or isinstance(label, str):
            labels[number] = label
    return LivePersona(
        id=persona_id,
        name=str(item.get("name") or ""),
        numbers=frozenset(numbers),
        deleted=item.get("deleted_at") not in (None, ""),
        settings=settings,
        labels=labels,
        spellings=spellings,
        twin_of=_twin_tag(item.get("tags")),
    )


# A twin persona is tagged with its agent's id (Bland's plugin reference; the API docs do not
# say): a persona so tagged is its agent's, even when GET /v2/agents does not list the agent.
_TWIN_TAG = "v2-agent:"


def _twin_tag(tags: Any) -> str | None:
    """The agent id a persona's `tags` name it the twin of, if any."""
    tagged = [tag for tag in tags if isinstance(tag, str)] if isinstance(tags, list) else []
    agent = next((tag[len(_TWIN_TAG) :] for tag in tagged if tag.startswith(_TWIN_TAG)), None)
    if agent is not None and unsafe_id(agent):
        raise Malformed(f"a `{_TWIN_TAG}` tag names {_quoted(agent)}, {UNSAFE_ID}")
    return agent


def settings_from_json(value: Any) -> SeenSettings:
    """persona_settings as the API shows them: an object, null, or anything else (UNREAD)."""
    if value is None:
        return None
    return routing_settings(value) if isinstance(value, dict) else UNREAD


def _data_field(payload: Any, key: str) -> Any:
    """`data.<key>` of a write's answer; UNREAD when the answer does not show it."""
    data = payload.get("data") if isinstance(payload, dict) else None
    return data[key] if isinstance(data, dict) and key in data else UNREAD


def settings_from_answer(payload: Any) -> SeenSettings:
    """The persona_settings in the answer of the settings PATCH (`data.persona_settings`)."""
    seen = _data_field(payload, "persona_settings")
    return UNREAD if seen is UNREAD else settings_from_json(seen)


def label_from_answer(payload: Any) -> SeenLabel:
    """The label in the answer of POST /inbound/update_label (`data.label`)."""
    label = _data_field(payload, "label")
    return label if label is None or isinstance(label, str) else UNREAD


def persona_from_answer(payload: Any, method: str, path: str) -> LivePersona:
    """The persona in the `data` of one persona's answer (a read, or a write's result)."""
    with reading(method, path):
        return _persona(payload.get("data") if isinstance(payload, dict) else None, "`data`")


def personas_from_page(payload: Any, page: int) -> list[LivePersona]:
    """The personas of one page of GET /v1/personas: its `data`, or a bare list."""
    items = data_of(payload)
    with reading("GET", PERSONAS_PATH, f"page {page}: "):
        if not isinstance(items, list):
            what = "`data`" if isinstance(payload, dict) else "the body"
            raise Malformed(f"{what} is {json_type(items)}, not a list of personas")
        return [_persona(item, f"data[{index}]") for index, item in enumerate(items)]


def inbound_from_answer(payload: Any) -> dict[str, str | None]:
    """Every number of GET /v1/inbound with the persona_id the API gives, if any: under
    `inbound_numbers` (legacy) or `data`, or bare; each an object or a plain number."""
    items = data_of(payload)
    if isinstance(payload, dict) and "inbound_numbers" in payload:
        items = payload["inbound_numbers"]
    numbers: dict[str, str | None] = {}
    with reading("GET", INBOUND_PATH):
        if not isinstance(items, list):
            what = "the list of inbound numbers" if isinstance(payload, dict) else "the body"
            raise Malformed(f"{what} is {json_type(items)}, not a list")
        for index, item in enumerate(items):
            try:
                number = _phone_number(item)
            except Malformed as error:
                raise Malformed(f"entry {index} is {error}") from None
            where = shown_text(number)
            owner = optional_id(item, "persona_id", where) if isinstance(item, dict) else None
            if owner is not None and unsafe_id(owner):
                raise Malformed(f"{where}: `persona_id` is {_quoted(owner)}, {UNSAFE_ID}")
            numbers[number] = owner
    return numbers
