"""The simulated account: inbound numbers, v1 personas and v2 agents, and its state-file form.

Every API request costs O(page), never O(account): personas are kept in a dict plus a
creation-ordered id list (list pages are slices), each number knows its owners and each persona
its numbers. Not thread-safe: the simulator serialises access. A v2 agent's numbers are held by
its twin persona, tagged ``v2-agent:<agent id>`` and made by its first attach.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from copy import deepcopy
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

JSONObject = dict[str, Any]
USER_ID = "00000000-0000-4000-8000-00000000b1a0"
# Objects loaded from a state file get a fixed timestamp so responses are reproducible.
EPOCH = "2025-01-01T00:00:00.000Z"
TWIN_TAG = "v2-agent:"
# The code and message of the error for a persona that does not exist or is deleted.
PERSONA_NOT_FOUND = ("PERSONA_NOT_FOUND", "Persona not found or access denied")


class SimulatedError(Exception):
    """A failure the simulated API reports in its ``{"data": null, "errors": [...]}`` envelope;
    its arguments are those of ``error_reply``: status, code, message and maybe details."""


class StateError(ValueError):
    """The state file or state mapping is unusable."""


def now_iso() -> str:
    """The current UTC time in the API's millisecond ISO form."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class NumberRecord:
    """One inbound number of the account. The fields a record takes (``init``) are those a
    state file may give, each defaulting as here; the others the account keeps."""

    phone_number: str
    label: str | None = None
    created_at: str = EPOCH
    # Routing set outside personas (dashboard, POST /v1/inbound/{number}); an attach clears it.
    pathway_id: str | None = None
    prompt: str | None = None
    id: int = field(default=0, init=False)
    # Normally zero or one persona; two when a state file lists it under both.
    owners: list[str] = field(default_factory=list, init=False)


@dataclass(slots=True)
class PersonaRecord:
    """One persona and the numbers attached to it."""

    id: str
    name: str = ""
    created_at: str = EPOCH
    updated_at: str = ""
    deleted_at: str | None = None
    tags: list[str] = field(default_factory=list)
    # phone number -> persona_settings (None = fall back to the persona's defaults)
    numbers: dict[str, JSONObject | None] = field(default_factory=dict, init=False)
    # The v2 agent whose twin this persona is, if it is one.
    agent_id: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.updated_at = self.updated_at or self.created_at
        self.tags = list(self.tags)


@dataclass(slots=True)
class AgentRecord:
    """One v2 agent: its saved versions, pinned environments and twin persona."""

    id: str
    name: str = ""
    created_at: str = EPOCH
    updated_at: str = ""
    deleted_at: str | None = None
    versions: int = 1
    production_version_id: str | None = None
    staging_version_id: str | None = None
    twin_id: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.created_at = self.created_at or EPOCH
        self.updated_at = self.updated_at or self.created_at
        self.versions = int(self.versions)


class Account:
    """The numbers, personas and agents of one simulated account."""

    def __init__(self) -> None:
        self.numbers: dict[str, NumberRecord] = {}
        self.personas: dict[str, PersonaRecord] = {}
        self.order: list[str] = []
        self.agents: dict[str, AgentRecord] = {}
        # (how many numbers, encoded body) of the last plain GET /v1/inbound listing: it shows
        # no label or routing, and no number ever leaves the account.
        self.inbound_body_cache: tuple[int, bytes] | None = None

    def add_number(self, number: NumberRecord) -> None:
        """Add a number under the next id, or replace the one of its spelling (keeping its id)."""
        known = self.numbers.get(number.phone_number)
        number.id = known.id if known else len(self.numbers) + 1
        self.numbers[number.phone_number] = number

    def refuse_unknown(self, numbers: list[str]) -> None:
        if invalid := [n for n in numbers if n not in self.numbers]:
            message = "Some inbound numbers were not found or do not belong to you"
            raise SimulatedError(
                400, "INVALID_INBOUND_NUMBERS", message, {"invalid_numbers": invalid}
            )

    def attach(self, persona: PersonaRecord, numbers: list[str]) -> None:
        """Attach numbers to a persona, taking them from any other."""
        self.refuse_unknown(numbers)
        changed = any(persona.id not in self.numbers[phone].owners for phone in numbers)
        for phone in numbers:
            record = self.numbers[phone]
            for old in [owner for owner in record.owners if owner != persona.id]:
                self.detach(self.personas[old], [phone])
            if persona.id not in record.owners:
                persona.numbers[phone] = None
                record.owners.append(persona.id)
            # An attach replaces any pathway or prompt the number answered with (v2 attach docs).
            record.pathway_id = record.prompt = None
        if changed:
            persona.updated_at = now_iso()

    def detach(self, persona: PersonaRecord, numbers: Iterable[str]) -> int:
        """Detach those of ``numbers`` the persona has; returns how many that was."""
        held = [phone for phone in numbers if phone in persona.numbers]
        for phone in held:
            del persona.numbers[phone]
            self.numbers[phone].owners.remove(persona.id)
        if held:
            persona.updated_at = now_iso()
        return len(held)

    def link_twin(self, agent: AgentRecord, persona: PersonaRecord) -> None:
        agent.twin_id = persona.id
        persona.agent_id = agent.id
        persona.tags = [f"{TWIN_TAG}{agent.id}"]


# The record of each kind of state-file entry, in the order the kinds are loaded (an agent
# before its twin persona).
RECORDS = {"numbers": NumberRecord, "agents": AgentRecord, "personas": PersonaRecord}


def account_from_state(state: Mapping[str, Any], source: str = "state") -> Account:
    """Build an account from a state mapping, as examples/account.json; its values are served
    as they are. A state that makes no account raises StateError naming ``source`` and the
    entry."""
    if not isinstance(state, Mapping) or not set(state) <= set(RECORDS):
        raise StateError(f"{source}: expected a JSON object of {', '.join(RECORDS)}")
    account = Account()
    for kind, record_type in RECORDS.items():
        entries = state.get(kind, [])
        if not isinstance(entries, list):
            raise StateError(f'{source}: "{kind}" must be a list')
        for i, entry in enumerate(entries):
            try:
                _load(account, record_type, entry)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise StateError(f"{source}: {kind}[{i}]: {exc}") from None
    return account


def _load(account: Account, record_type: type[Any], entry: Any) -> None:
    """Add one entry of the state to the account: its id (``phone_number`` for a number, which
    may be given alone as a string) and the other fields its record takes."""
    id_name = fields(record_type)[0].name
    if record_type is NumberRecord and isinstance(entry, str):
        entry = {id_name: entry}
    if not (isinstance(entry, dict) and isinstance(entry.get(id_name), str) and entry[id_name]):
        raise ValueError(f"expected an object with a non-empty string {id_name!r}")
    record = record_type(
        **{f.name: entry[f.name] for f in fields(record_type) if f.init and f.name in entry}
    )
    if isinstance(record, NumberRecord):
        account.add_number(record)
        return
    if isinstance(record, AgentRecord):
        account.agents[record.id] = record
        return
    numbers, settings = entry.get("numbers", []), entry.get("persona_settings", {})
    if record.id in account.personas:
        raise ValueError(f"duplicate persona id {record.id!r}")
    if not (isinstance(numbers, list) and all(isinstance(n, str) and n for n in numbers)):
        raise ValueError("numbers must be a list of phone numbers")
    # A tag naming an agent makes the persona its twin; naming none, it is a plain tag.
    for tag in record.tags:
        if tag.startswith(TWIN_TAG) and tag.removeprefix(TWIN_TAG) in account.agents:
            account.link_twin(account.agents[tag.removeprefix(TWIN_TAG)], record)
    account.personas[record.id] = record
    account.order.append(record.id)
    for phone in numbers:
        if phone not in account.numbers:
            account.add_number(NumberRecord(phone))
        # A number listed under two personas is kept on both: that is how a state dump
        # taken after a non-exclusive attach round-trips.
        if record.id not in account.numbers[phone].owners:
            account.numbers[phone].owners.append(record.id)
        record.numbers[phone] = deepcopy(settings.get(phone))


def export_state(account: Account) -> JSONObject:
    """The state-file form of the account; ``account_from_state(export_state(a))`` round-trips."""
    numbers: list[JSONObject] = []
    for number in account.numbers.values():
        routing = {"pathway_id": number.pathway_id, "prompt": number.prompt}
        numbers.append({"phone_number": number.phone_number, "label": number.label})
        numbers[-1] |= {key: value for key, value in routing.items() if value is not None}
    personas: list[JSONObject] = []
    for persona in (account.personas[pid] for pid in account.order):
        settings = {n: s for n, s in persona.numbers.items() if s is not None}
        optional = {"persona_settings": deepcopy(settings), "tags": list(persona.tags)}
        personas.append({"id": persona.id, "name": persona.name, "deleted_at": persona.deleted_at})
        personas[-1]["numbers"] = list(persona.numbers)
        personas[-1] |= {key: value for key, value in optional.items() if value}
    state: JSONObject = {"numbers": numbers, "personas": personas}
    if account.agents:
        agents = account.agents.values()
        state["agents"] = [
            {f.name: getattr(a, f.name) for f in fields(a) if f.init} for a in agents
        ]
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
