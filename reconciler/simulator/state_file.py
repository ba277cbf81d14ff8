"""The state-file form of an account: validating it into an :class:`Account`, and back.

A v2 agent's numbers are held by its twin persona: the persona tagged ``v2-agent:<agent id>``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from copy import deepcopy
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .account import EPOCH, TWIN_TAG, Account, AgentRecord, JSONObject, NumberRecord, PersonaRecord


class StateError(ValueError):
    """The state file or state mapping is unusable."""


def _strings(entry: dict[str, Any], defaults: Mapping[str, str | None], where: str) -> Any:
    """The string fields of an entry, each checked; where the default is None, null is allowed."""
    values = {}
    for key, default in defaults.items():
        value = entry.get(key, default)
        if not isinstance(value, str) and (value is not None or default is not None):
            nullable = " or null" if default is None else ""
            raise StateError(f"{where}.{key} must be a string{nullable}")
        values[key] = value
    return values


def _entries(state: Mapping[str, Any], key: str, source: str) -> list[tuple[str, dict[str, Any]]]:
    """The objects of the list ``state[key]``, each with where it is for error messages."""
    value = state.get(key, [])
    if not isinstance(value, list):
        raise StateError(f'{source}: "{key}" must be a list')
    out = []
    for i, entry in enumerate(value):
        if key == "numbers" and isinstance(entry, str):
            entry = {"phone_number": entry}
        if not isinstance(entry, dict):
            kinds = "an object or a string" if key == "numbers" else "an object"
            raise StateError(f"{source}: {key}[{i}] must be {kinds}")
        out.append((f"{source}: {key}[{i}]", entry))
    return out


def _id(entry: dict[str, Any], where: str, taken: Mapping[str, object], kind: str) -> str:
    object_id = entry.get("id")
    if not isinstance(object_id, str) or not object_id:
        raise StateError(f"{where}.id must be a non-empty string")
    if object_id in taken:
        raise StateError(f"{where}: duplicate {kind} id {object_id!r}")
    return object_id


def account_from_state(state: Mapping[str, Any], source: str = "state") -> Account:
    """Build an account from a state mapping; StateError names ``source`` and the bad entry."""
    if not isinstance(state, Mapping):
        raise StateError(f"{source}: top level must be a JSON object")
    unknown = set(state) - {"numbers", "personas", "agents"}
    if unknown:
        raise StateError(f"{source}: unknown top-level keys: {sorted(unknown)}")
    account = Account()
    numbers = {"label": None, "created_at": EPOCH, "pathway_id": None, "prompt": None}
    for where, entry in _entries(state, "numbers", source):
        phone = entry.get("phone_number")
        if not isinstance(phone, str) or not phone:
            raise StateError(f"{where}.phone_number must be a non-empty string")
        known = account.numbers.get(phone)
        number_id = known.id if known else len(account.numbers) + 1
        values = _strings(entry, numbers, where)
        account.numbers[phone] = NumberRecord(phone_number=phone, id=number_id, **values)
    for where, entry in _entries(state, "agents", source):
        agent_id = _id(entry, where, account.agents, "agent")
        values = _strings(entry, dict.fromkeys(AGENT_TEXT) | {"name": ""}, where)
        versions = entry.get("versions", 1)
        if not isinstance(versions, int) or versions < 0:
            raise StateError(f"{where}.versions must be a count (0 or more) or true/false")
        values["created_at"] = values["created_at"] or EPOCH
        values["updated_at"] = values["updated_at"] or values["created_at"]
        account.agents[agent_id] = AgentRecord(id=agent_id, versions=int(versions), **values)
    for where, entry in _entries(state, "personas", source):
        _load_persona(account, entry, where)
    return account


# The string fields of an agent besides its name; each may be null.
AGENT_TEXT = (
    "created_at",
    "updated_at",
    "deleted_at",
    "production_version_id",
    "staging_version_id",
)


def _load_persona(account: Account, entry: dict[str, Any], where: str) -> None:
    persona_id = _id(entry, where, account.personas, "persona")
    created = _strings(entry, {"created_at": EPOCH}, where)["created_at"]
    defaults = {"name": "", "updated_at": created, "deleted_at": None}
    values = _strings(entry, defaults | {"role": None, "description": None}, where)
    persona = PersonaRecord(id=persona_id, created_at=created, **values)
    tags = entry.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise StateError(f"{where}.tags must be a list of strings")
    persona.tags = list(tags)
    twin_of = [tag.removeprefix(TWIN_TAG) for tag in tags if tag.startswith(TWIN_TAG)]
    if twin_of:
        agent = account.agents.get(twin_of[0])
        if agent is None:
            raise StateError(f"{where}: tagged {TWIN_TAG}{twin_of[0]}, but there is no such agent")
        if agent.twin_id is not None:
            raise StateError(f"{where}: agent {agent.id!r} already has a twin persona")
        account.link_twin(agent, persona)
    numbers = entry.get("numbers", [])
    if not isinstance(numbers, list) or not all(isinstance(n, str) and n for n in numbers):
        raise StateError(f"{where}.numbers must be a list of non-empty strings")
    account.personas[persona_id] = persona
    account.order.append(persona_id)
    for phone in numbers:
        record = account.numbers.get(phone) or account.put_number(phone, None, EPOCH)
        # A number listed under two personas is kept on both: that is how a state dump
        # taken after a non-exclusive attach round-trips.
        if persona_id not in record.owners:
            record.owners.append(persona_id)
        persona.numbers[phone] = None
    settings = entry.get("persona_settings")
    if settings is None:
        return
    if not isinstance(settings, dict):
        raise StateError(f"{where}.persona_settings must be an object")
    for phone, value in settings.items():
        if phone not in persona.numbers:
            raise StateError(f"{where}.persona_settings: {phone!r} is not on this persona")
        if value is not None and not isinstance(value, dict):
            raise StateError(f"{where}.persona_settings[{phone!r}] must be object or null")
        persona.numbers[phone] = deepcopy(value)


def export_state(account: Account) -> JSONObject:
    """The state-file form of the account; ``account_from_state(export_state(a))`` round-trips."""
    personas: list[JSONObject] = []
    for persona in (account.personas[pid] for pid in account.order):
        item: JSONObject = {
            "id": persona.id,
            "name": persona.name,
            "deleted_at": persona.deleted_at,
            "numbers": list(persona.numbers),
        }
        settings = {n: s for n, s in persona.numbers.items() if s is not None}
        if settings:
            item["persona_settings"] = deepcopy(settings)
        if persona.tags:
            item["tags"] = list(persona.tags)
        personas.append(item)
    numbers: list[JSONObject] = []
    for number in account.numbers.values():
        numbers.append({"phone_number": number.phone_number, "label": number.label})
        routing = {"pathway_id": number.pathway_id, "prompt": number.prompt}
        numbers[-1].update({key: value for key, value in routing.items() if value is not None})
    state: JSONObject = {"numbers": numbers, "personas": personas}
    if account.agents:
        agents = [asdict(agent) for agent in account.agents.values()]
        state["agents"] = [{k: v for k, v in agent.items() if k != "twin_id"} for agent in agents]
    return state


def load_state(path: str | Path) -> dict[str, Any]:
    """Read and validate a simulator state file; raises StateError naming the file."""
    try:
        state = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise StateError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise StateError(f"{path}: invalid JSON: {exc}") from None
    account_from_state(state, str(path))
    return state  # type: ignore[no-any-return]
