"""The API's answers read into the model: personas, numbers, v2 agents and their twins; no I/O.

An answer of an unexpected shape is refused rather than read around: a number dropped while
reading would look free. The API spells one number in several ways (`+1 415 5550100`,
`14155550100`): everything past the client compares the canonical E.164 form; a write sends the
spelling the account uses (Live.spellings).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import phonenumbers

from reconciler import model
from reconciler.api import urls
from reconciler.api.urls import UNSAFE_ID, unsafe_id
from reconciler.errors import ApiError
from reconciler.text import shown

# The documented maximum of GET /v2/agents' `limit`. The list has no page, cursor or total: a
# full one may have left agents out, and there is no way to ask for them.
AGENT_LIST_LIMIT = 500
# A twin persona is tagged with its agent's id (Bland's plugin reference; the API docs do not
# say): a persona so tagged is its agent's, even when GET /v2/agents does not list the agent.
_TWIN_TAG = "v2-agent:"

# E.164's shape, which the API documents: taken as it is, as every number was before spellings.
_CANONICAL = re.compile(r"\+[1-9][0-9]{0,14}")
# What a spelling may hold besides digits: a leading +, and the separators people write.
_SPELLING = re.compile(r"\+?[0-9 ().\-]+", re.ASCII)


def canonical_number(spelling: str) -> str | None:
    """The canonical E.164 form of a number as the API spells it; None when it cannot be read
    (letters, extensions, other scripts' digits, numbers that cannot exist): a guess could name
    another number."""
    text = spelling.strip()
    if _CANONICAL.fullmatch(text):
        return text  # the usual case; the config declares nothing else
    if not _SPELLING.fullmatch(text):
        return None
    digits = "".join(char for char in text if char.isdigit())
    if not text.startswith("+") and len(digits) == 10:
        # Ten digits with no country code: the API reads them as a US number (its number
        # endpoints say so), never as E.164 with its `+` left out.
        text = "+1" + digits
    try:
        parsed = phonenumbers.parse(text if text.startswith("+") else "+" + text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def as_read(number: str) -> str:
    """A number as a read of the account shows it: canonical when it can be read."""
    return canonical_number(number) or number


def build_live(
    personas: dict[str, model.LivePersona], pages: int, inbound: dict[str, str | None]
) -> model.Live:
    """The live account from the persona listing (and the pages it spans) and GET /v1/inbound,
    whose numbers are keyed as it spells them: two spellings of one number are one number."""
    read = {spelling: canonical_number(spelling) or "" for spelling in inbound}
    return model.Live(
        personas=personas,
        account_numbers=frozenset(read.values()) - {""},
        pages_read=pages,
        reads=pages + 1,
        inbound_owners={read[n]: owner for n, owner in inbound.items() if owner and read[n]},
        spellings={spelling: number for spelling, number in read.items() if number != spelling},
    )


class Malformed(ValueError):
    """What is wrong with an answer's shape; `reading` adds the endpoint."""


@contextmanager
def reading(method: str, path: str, where: str = "") -> Iterator[None]:
    """Where an answer is read: a Malformed found in it becomes the ApiError of its endpoint."""
    try:
        yield
    except Malformed as error:
        message = f"malformed answer: {where}{error}; refusing to act on it"
        raise ApiError(message, method=method, path=path) from None


_JSON_TYPES = {type(None): "null", bool: "a boolean", str: "a string", list: "an array"}


def json_type(value: Any, *, text_shown: bool = False) -> str:
    """A value's JSON type as a message about an answer names it; with `text_shown`, text itself."""
    if text_shown and isinstance(value, str):
        return repr(shown(value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"a number ({value!r})"
    return _JSON_TYPES.get(type(value), "an object")


def data_of(payload: Any) -> Any:
    """The envelope's `data`; a body that is not an envelope is taken as the data itself."""
    return payload.get("data") if isinstance(payload, dict) else payload


T = TypeVar("T")
# An id in an answer: a string, or a number read as text.
_ID = (str, int)


def _typed(value: Any, kinds: type[T] | tuple[type[T], ...], where: str, what: str) -> T:
    """`value` when it is one of `kinds` (a boolean is never a number here), else refused."""
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise Malformed(f"{where} is {json_type(value)}, not {what}")
    return value


def _list(items: Any, payload: Any, what: str, name: str = "`data`") -> list[Any]:
    """`items`, the list an answer holds: a string would read as a list of its characters."""
    return _typed(items, list, name if isinstance(payload, dict) else "the body", what)


def id_of(item: Any, where: str, what: str = "an object") -> str:
    if "id" not in _typed(item, dict, where, what):
        raise Malformed(f"{where} has no `id`")
    return str(_typed(item["id"], _ID, f"{where}: `id`", "an id"))


def optional_id(item: dict[str, Any], key: str, where: str, what: str = "an id") -> str | None:
    """A field that may be null, "" read as null: an id, or with `what` "a string", text only."""
    kinds = (type(None), *((str,) if what == "a string" else _ID))
    found = _typed(item.get(key), kinds, f"{where}: `{key}`", what)
    return str(found) if found not in (None, "") else None


def _phone_number(entry: Any, where: str) -> str:
    """One entry of a number list: an object with a `phone_number` string, or a bare string."""
    number = entry.get("phone_number") if isinstance(entry, dict) else entry
    if isinstance(entry, dict) and not isinstance(number, str):
        raise Malformed(f"{where} is an object whose `phone_number` is {json_type(number)}")
    number = _typed(number, str, where, "a phone number string").strip()
    if not number:
        raise Malformed(f"{where} is an empty phone number")
    return number


def _persona(item: Any, where: str) -> model.LivePersona:
    """A persona object of the API; `where` names it in an error."""
    persona_id = id_of(item, where, "a persona object")
    if unsafe_id(persona_id) or model.owner_kind(persona_id) != "persona":
        name = item.get("name")
        named = f'persona "{shown(name)}"' if isinstance(name, str) and name else where
        # `agent:ID` and the like are the tool's own keys for owners of other kinds.
        why = UNSAFE_ID if unsafe_id(persona_id) else "one that names an owner of another kind"
        raise Malformed(f'{named} has the id "{shown(persona_id)}", {why}')
    where = f"persona {shown(persona_id)}"
    entries = _typed(item.get("inbound_numbers"), list, f"{where}: `inbound_numbers`", "a list")
    read: dict[str, str | None] = {}  # each spelling -> its number (None: cannot be read)
    settings: dict[str, model.RoutingSettings | None] = {}
    labels: dict[str, str | None] = {}
    for index, entry in enumerate(entries):
        spelling = _phone_number(entry, f"{where}: inbound_numbers[{index}]")
        number = read[spelling] = canonical_number(spelling)
        if number is None or not isinstance(entry, dict):
            continue
        # A field missing, or of a type the docs do not give, is left unread, not guessed at.
        shown_settings = entry.get("persona_settings", model.UNREAD)
        if shown_settings is None or isinstance(shown_settings, dict):
            settings[number] = model.routing_settings(shown_settings)
        label = entry.get("label", model.UNREAD)
        if label is None or isinstance(label, str):
            labels[number] = label
    # The agent id a persona's `tags` name it the twin of, if any.
    tags = item.get("tags")
    tagged = [tag for tag in tags if isinstance(tag, str)] if isinstance(tags, list) else []
    agent = next((tag[len(_TWIN_TAG) :] for tag in tagged if tag.startswith(_TWIN_TAG)), None)
    if agent is not None and unsafe_id(agent):
        raise Malformed(f'a `{_TWIN_TAG}` tag names "{shown(agent)}", {UNSAFE_ID}')
    return model.LivePersona(
        id=persona_id,
        name=str(item.get("name") or ""),
        numbers=frozenset(filter(None, read.values())),
        deleted=item.get("deleted_at") not in (None, ""),
        settings=settings,
        labels=labels,
        # Only those that are not canonical (see Live.spellings); "": nothing acts on it.
        spellings={spelled: number or "" for spelled, number in read.items() if number != spelled},
        twin_of=agent,
    )


def persona_from_answer(payload: Any, method: str, path: str) -> model.LivePersona:
    """The persona in the `data` of one persona's answer (a read, or a write's result)."""
    with reading(method, path):
        return _persona(payload.get("data") if isinstance(payload, dict) else None, "`data`")


def personas_from_page(payload: Any, page: int) -> list[model.LivePersona]:
    """The personas of one page of GET /v1/personas: its `data`, or a bare list."""
    with reading("GET", urls.PERSONAS_PATH, f"page {page}: "):
        items = _list(data_of(payload), payload, "a list of personas")
        return [_persona(item, f"data[{index}]") for index, item in enumerate(items)]


def inbound_from_answer(payload: Any) -> dict[str, str | None]:
    """Every number of GET /v1/inbound with the persona_id the API gives, if any: under
    `inbound_numbers` (legacy) or `data`, or bare; each an object or a plain number."""
    items = data_of(payload)
    if isinstance(payload, dict) and "inbound_numbers" in payload:
        items = payload["inbound_numbers"]
    numbers: dict[str, str | None] = {}
    with reading("GET", urls.INBOUND_PATH):
        items = _list(items, payload, "a list", "the list of inbound numbers")
        for index, item in enumerate(items):
            number = _phone_number(item, f"entry {index}")
            owner = item.get("persona_id") if isinstance(item, dict) else None
            if owner is not None:  # named (undocumented): checked, the number shown if wrong
                owner = optional_id(item, "persona_id", shown(number))
                if owner is not None and unsafe_id(owner):
                    why = f'`persona_id` is "{shown(owner)}", {UNSAFE_ID}'
                    raise Malformed(f"{shown(number)}: {why}")
            if numbers.get(number) is None:  # listed twice: an owner either entry names holds it
                numbers[number] = owner
    return numbers


def _agent(item: Any, where: str) -> model.LiveAgent:
    agent_id = id_of(item, where)
    if not agent_id:
        raise Malformed(f"{where}: `id` is empty")
    # The version production is pinned to, under `environments` as a mapping or a list, or a
    # top-level `production`: the docs do not say which.
    environments = item.get("environments")
    production: Any = item.get("production")
    if isinstance(environments, dict):
        production = environments.get("production", production)
    elif isinstance(environments, list):
        found = [env for env in environments if isinstance(env, dict)]
        production = next((env for env in found if env.get("env_type") == "production"), production)
    version = production.get("current_version_id") if isinstance(production, dict) else None
    # As a persona's: a name is only shown, so an odd one is shown as text, not refused.
    name = str(item.get("name") or "")
    pinned = version if isinstance(version, str) and version else None
    return model.LiveAgent(agent_id, name, production_version_id=pinned)


def agents_from_list(payload: Any) -> tuple[list[model.LiveAgent], bool]:
    """The agents of GET /v2/agents: its `data` (or a bare list), each id once; and whether the
    list came back full (AGENT_LIST_LIMIT), so that agents past it cannot be shown."""
    agents: dict[str, model.LiveAgent] = {}
    with reading("GET", urls.AGENTS_PATH):
        items = _list(data_of(payload), payload, "a list of agents")
        for index, item in enumerate(items):
            agent = _agent(item, f"data[{index}]")
            if agent.id in agents:
                raise Malformed(f"agent {shown(agent.id)} is listed twice")
            agents[agent.id] = agent
    return list(agents.values()), len(items) >= AGENT_LIST_LIMIT


def agent_from_answer(payload: Any, path: str) -> model.LiveAgent:
    """The agent in the `data` of GET /v2/agents/{id}."""
    with reading("GET", path):
        return _agent(data_of(payload), "`data`")


def _data_of_agent(payload: Any, agent_id: str) -> dict[str, Any]:
    """The `data` object of an answer about one agent; refused if it names another agent."""
    data = _typed(data_of(payload), dict, "`data`", "an object")
    named = data.get("agent_id", agent_id)
    if isinstance(named, bool) or not isinstance(named, _ID) or str(named) != agent_id:
        named = json_type(named, text_shown=True)
        raise Malformed(f"`data.agent_id` is {named}, not the agent asked for")
    return data


def twin_from_answer(payload: Any, agent_id: str, path: str) -> str | None:
    """The twin persona id of GET /v2/agents/{id}/inbound: null until the first attach (and
    for an unknown agent); a missing `persona_id` is refused, as null it would free numbers."""
    with reading("GET", path):
        data = _data_of_agent(payload, agent_id)
        if "persona_id" not in data:
            raise Malformed("`data` has no `persona_id`")
        return optional_id(data, "persona_id", "`data`")


def route_from_answer(payload: Any, number: str, path: str) -> model.InboundRoute:
    """What answers a number, from GET /v1/inbound/{number}: a bare object or `data`; its
    undocumented `persona_id` is model.UNREAD when the answer does not show it."""
    record = data_of(payload) if isinstance(payload, dict) and "data" in payload else payload
    with reading("GET", path):
        found = _typed(record, dict, "the number's record", "an object").get("phone_number", number)
        if not isinstance(found, str) or as_read(found) != as_read(number):
            raise Malformed(f"`phone_number` is {json_type(found, text_shown=True)}, not {number}")
        shown_owner = "persona_id" in record  # undocumented: unread when not shown
        owner = optional_id(record, "persona_id", number) if shown_owner else model.UNREAD
        pathway_id, prompt = (
            optional_id(record, key, number, "a string") for key in ("pathway_id", "prompt")
        )
        return model.InboundRoute(number, pathway_id=pathway_id, prompt=prompt, persona_id=owner)


def detached_from_answer(payload: Any, agent_id: str, path: str) -> int:
    """`data.detached_count` of the detach answer: how many of the numbers the agent held."""
    with reading("POST", path):
        count = _data_of_agent(payload, agent_id).get("detached_count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise Malformed(f"`data.detached_count` is {json_type(count)}")
        return count
