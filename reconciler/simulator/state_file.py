"""The state-file form of an account: validating it into an :class:`Account`, and back.

A v2 agent's numbers are held by its twin persona: the persona tagged ``v2-agent:<agent id>``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .account import EPOCH, TWIN_TAG, Account, AgentRecord, NumberRecord, PersonaRecord, copy_json
from .replies import JSONObject


class StateError(ValueError):
    """The state file or state mapping is unusable."""


def _state_error(source: str, message: str) -> StateError:
    return StateError(f"{source}: {message}")


def account_from_state(state: Mapping[str, Any], source: str = "state") -> Account:
    """Build an account from a state mapping; StateError names ``source`` and the bad entry."""
    # Hot path for 100k-number accounts: plain dict/str type checks (no ABC isinstance)
    # and number records built inline.
    if not isinstance(state, Mapping):
        raise _state_error(source, "top level must be a JSON object")
    unknown = set(state) - {"numbers", "personas", "agents"}
    if unknown:
        raise _state_error(source, f"unknown top-level keys: {sorted(unknown)}")
    account = Account()
    lists = {key: state.get(key, []) for key in ("numbers", "personas", "agents")}
    for key, value in lists.items():
        if not isinstance(value, list):
            raise _state_error(source, f'"{key}" must be a list')
    _load_numbers(account, lists["numbers"], source)
    for i, entry in enumerate(lists["agents"]):
        _load_agent(account, i, entry, source)
    for i, entry in enumerate(lists["personas"]):
        _load_persona(account, i, entry, source)
    return account


def _optional_text(entry: dict[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is not None and not isinstance(value, str):
        raise StateError(f"{where}.{key} must be a string or null")
    return value


def _load_agent(account: Account, i: int, entry: object, source: str) -> None:
    where = f"{source}: agents[{i}]"
    if not isinstance(entry, dict):
        raise StateError(f"{where} must be an object")
    agent_id, name = entry.get("id"), entry.get("name", "")
    if not isinstance(agent_id, str) or not agent_id:
        raise StateError(f"{where}.id must be a non-empty string")
    if agent_id in account.agents:
        raise StateError(f"{where}: duplicate agent id {agent_id!r}")
    if not isinstance(name, str):
        raise StateError(f"{where}.name must be a string")
    versions = entry.get("versions", 1)
    if not isinstance(versions, int) or versions < 0:
        raise StateError(f"{where}.versions must be a count (0 or more) or true/false")
    agent = AgentRecord(agent_id, name, _optional_text(entry, "created_at", where) or EPOCH)
    agent.versions = int(versions)
    agent.updated_at = _optional_text(entry, "updated_at", where) or agent.created_at
    agent.deleted_at = _optional_text(entry, "deleted_at", where)
    agent.production_version_id = _optional_text(entry, "production_version_id", where)
    agent.staging_version_id = _optional_text(entry, "staging_version_id", where)
    account.agents[agent_id] = agent


def _link_twin(account: Account, persona: PersonaRecord, where: str) -> None:
    twin_of = [tag.removeprefix(TWIN_TAG) for tag in persona.tags if tag.startswith(TWIN_TAG)]
    if not twin_of:
        return
    agent = account.agents.get(twin_of[0])
    if agent is None:
        raise StateError(f"{where}: tagged {TWIN_TAG}{twin_of[0]}, but there is no such agent")
    if agent.twin_id is not None:
        raise StateError(f"{where}: agent {agent.id!r} already has a twin persona")
    account.link_twin(agent, persona)


def _load_numbers(account: Account, numbers: list[Any], source: str) -> None:
    records = account.numbers
    next_id = account.next_number_id
    for i, entry in enumerate(numbers):
        phone: object
        label: str | None = None
        created: str = EPOCH
        if isinstance(entry, str):
            phone = entry
        elif isinstance(entry, dict):
            phone = entry.get("phone_number")
            raw_label = entry.get("label")
            raw_created = entry.get("created_at", EPOCH)
            if raw_label is not None and not isinstance(raw_label, str):
                raise _state_error(source, f"numbers[{i}].label must be a string or null")
            if not isinstance(raw_created, str):
                raise _state_error(source, f"numbers[{i}].created_at must be a string")
            label, created = raw_label, raw_created
        else:
            raise _state_error(source, f"numbers[{i}] must be an object or a string")
        if not isinstance(phone, str) or not phone:
            raise _state_error(source, f"numbers[{i}].phone_number must be a non-empty string")
        record = records.get(phone)
        if record is None:
            record = records[phone] = NumberRecord(phone, label, next_id, created)
            next_id += 1
        else:
            record.label = label
        if isinstance(entry, dict) and entry.keys() & {"pathway_id", "prompt"}:
            where = f"{source}: numbers[{i}]"
            record.pathway_id = _optional_text(entry, "pathway_id", where)
            record.prompt = _optional_text(entry, "prompt", where)
    account.next_number_id = next_id


def _load_persona(account: Account, i: int, entry: object, source: str) -> None:
    where = f"personas[{i}]"
    if not isinstance(entry, dict):
        raise _state_error(source, f"{where} must be an object")
    pid = entry.get("id")
    if not isinstance(pid, str) or not pid:
        raise _state_error(source, f"{where}.id must be a non-empty string")
    if pid in account.personas:
        raise _state_error(source, f"{where}: duplicate persona id {pid!r}")
    name = entry.get("name", "")
    if not isinstance(name, str):
        raise _state_error(source, f"{where}.name must be a string")
    created = entry.get("created_at", EPOCH)
    if not isinstance(created, str):
        raise _state_error(source, f"{where}.created_at must be a string")
    persona = PersonaRecord(pid, name, created)
    deleted = entry.get("deleted_at")
    if deleted is not None and not isinstance(deleted, str):
        raise _state_error(source, f"{where}.deleted_at must be a string or null")
    persona.deleted_at = deleted
    if entry.keys() & {"updated_at", "role", "description", "tags"}:
        _load_persona_extras(persona, entry, f"{source}: {where}")
        _link_twin(account, persona, f"{source}: {where}")
    numbers = entry.get("numbers", [])
    if not isinstance(numbers, list):
        raise _state_error(source, f"{where}.numbers must be a list")
    account.personas[pid] = persona
    account.order.append(pid)
    records = account.numbers
    owned = persona.numbers
    for phone in numbers:
        if not isinstance(phone, str) or not phone:
            raise _state_error(source, f"{where}.numbers must hold non-empty strings")
        record = records.get(phone)
        if record is None:
            record = account.put_number(phone, None, EPOCH)
        # A number listed under two personas is kept on both: that is how a state dump
        # taken after a non-exclusive attach round-trips.
        if pid not in record.owners:
            record.owners.append(pid)
        owned[phone] = None
    _load_persona_settings(owned, entry.get("persona_settings"), f"{source}: {where}")


def _load_persona_extras(persona: PersonaRecord, entry: dict[str, Any], where: str) -> None:
    """Optional persona fields a state file may carry beyond id/name/numbers/deleted_at."""
    updated = entry.get("updated_at", persona.created_at)
    if not isinstance(updated, str):
        raise StateError(f"{where}.updated_at must be a string")
    persona.updated_at = updated
    for key in ("role", "description"):
        value = entry.get(key)
        if value is not None and not isinstance(value, str):
            raise StateError(f"{where}.{key} must be a string or null")
        setattr(persona, key, value)
    tags = entry.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise StateError(f"{where}.tags must be a list of strings")
    persona.tags = list(tags)


def _load_persona_settings(
    owned: dict[str, JSONObject | None], settings: object, where: str
) -> None:
    if settings is None:
        return
    if not isinstance(settings, dict):
        raise StateError(f"{where}.persona_settings must be an object")
    for phone, value in settings.items():
        if phone not in owned:
            raise StateError(f"{where}.persona_settings: {phone!r} is not on this persona")
        if value is not None and not isinstance(value, dict):
            raise StateError(f"{where}.persona_settings[{phone!r}] must be object or null")
        owned[phone] = copy_json(value)


def export_state(account: Account) -> JSONObject:
    """The state-file form of the account; ``account_from_state(export_state(a))`` round-trips."""
    personas: list[JSONObject] = []
    for pid in account.order:
        persona = account.personas[pid]
        item: JSONObject = {
            "id": persona.id,
            "name": persona.name,
            "deleted_at": persona.deleted_at,
            "numbers": list(persona.numbers),
        }
        settings = {n: s for n, s in persona.numbers.items() if s is not None}
        if settings:
            item["persona_settings"] = copy_json(settings)
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
        state["agents"] = [_agent_state(agent) for agent in account.agents.values()]
    return state


def _agent_state(agent: AgentRecord) -> JSONObject:
    return {
        "id": agent.id,
        "name": agent.name,
        "versions": agent.versions,
        "production_version_id": agent.production_version_id,
        "staging_version_id": agent.staging_version_id,
        "created_at": agent.created_at,
        "updated_at": agent.updated_at,
        "deleted_at": agent.deleted_at,
    }


def read_state_file(path: str | Path) -> dict[str, Any]:
    """Parse a state file without validating its content; errors name the file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise StateError(f"{source}: cannot read: {exc.strerror or exc}") from None
    try:
        state = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateError(f"{source}: invalid JSON: {exc}") from None
    if not isinstance(state, dict):
        raise StateError(f"{source}: top level must be a JSON object")
    return state


def load_state(path: str | Path) -> dict[str, Any]:
    """Read and validate a simulator state file; raises StateError naming the file."""
    state = read_state_file(path)
    account_from_state(state, str(path))
    return state
