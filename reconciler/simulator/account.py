"""The simulated account: inbound numbers, v1 personas, v2 agents, and the API's rules on them.

Every API request costs O(page), never O(account): personas are kept in a dict plus a
creation-ordered id list (list pages are slices), each number knows its owners and each persona
its numbers. Nothing here is thread-safe on its own; the simulator serialises access.

A v2 agent answers its numbers through a hidden twin persona, tagged ``v2-agent:<agent id>``,
made by its first attach (bland-api-v2.md, section 2): the twin holds the agent's numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args
from uuid import NAMESPACE_URL, uuid5

JSONObject = dict[str, Any]
AttachMode = Literal["steal", "refuse", "refuse_as_invalid", "keep_old"]
ATTACH_MODES: tuple[str, ...] = get_args(AttachMode)

USER_ID = "00000000-0000-4000-8000-00000000b1a0"
# Objects loaded from a state file get a fixed timestamp so responses are reproducible.
EPOCH = "2025-01-01T00:00:00.000Z"
TWIN_TAG = "v2-agent:"
_NOT_YOURS = "Some inbound numbers were not found or do not belong to you"


@dataclass(eq=False)
class SimulatedError(Exception):
    """A failure the simulated API reports in its ``{"data": null, "errors": [...]}`` envelope
    (the server's own, unrelated to any exception the reconciler raises on its side)."""

    status: int
    code: str
    message: str
    details: JSONObject | None = None


def persona_not_found() -> SimulatedError:
    """The error for a persona that does not exist or is deleted."""
    return SimulatedError(404, "PERSONA_NOT_FOUND", "Persona not found or access denied")


def now_iso() -> str:
    """The current UTC time in the API's millisecond ISO form."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class NumberRecord:
    """One inbound number of the account."""

    phone_number: str
    label: str | None
    id: int
    created_at: str
    # Routing set outside personas (dashboard, POST /v1/inbound/{number}); an attach clears it.
    pathway_id: str | None = None
    prompt: str | None = None
    # Normally zero or one persona; two only after a non-exclusive ("keep_old") attach.
    owners: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PersonaRecord:
    """One persona and the numbers attached to it."""

    id: str
    name: str
    created_at: str
    updated_at: str
    deleted_at: str | None = None
    role: str | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    # phone number -> persona_settings (None = fall back to the persona's defaults)
    numbers: dict[str, JSONObject | None] = field(default_factory=dict)
    # The v2 agent whose twin this persona is, if it is one.
    agent_id: str | None = None


@dataclass(slots=True)
class AgentRecord:
    """One v2 agent: its saved versions, pinned environments and twin persona."""

    id: str
    name: str
    created_at: str
    updated_at: str
    deleted_at: str | None = None
    versions: int = 1
    production_version_id: str | None = None
    staging_version_id: str | None = None
    twin_id: str | None = None


class Account:
    """The numbers, personas and agents of one simulated account, and the API's operations."""

    def __init__(self) -> None:
        self.numbers: dict[str, NumberRecord] = {}
        self.personas: dict[str, PersonaRecord] = {}
        self.order: list[str] = []
        self.agents: dict[str, AgentRecord] = {}
        # Bumped whenever the GET /v1/inbound body could change, to invalidate its cache.
        self.numbers_version = 0
        # (numbers_version, encoded body) of the last plain GET /v1/inbound listing.
        self.inbound_body_cache: tuple[int, bytes] | None = None

    def put_number(self, phone: str, label: str | None, created_at: str = "") -> NumberRecord:
        """Add a number (stamped now unless ``created_at``), or relabel it if it exists."""
        if not isinstance(phone, str) or not phone:
            raise ValueError("phone_number must be a non-empty string")
        record = self.numbers.get(phone)
        if record is None:
            record = NumberRecord(phone, label, len(self.numbers) + 1, created_at or now_iso())
            self.numbers[phone] = record
        record.label = label
        self.numbers_version += 1
        return record

    def add_persona(
        self, persona_id: str, name: str, numbers: Iterable[str] = (), deleted: bool = False
    ) -> PersonaRecord:
        """Add a persona stamped now, taking the given numbers from whoever holds them."""
        if not persona_id:
            raise ValueError("persona id must be a non-empty string")
        if persona_id in self.personas:
            raise ValueError(f"persona {persona_id!r} already exists")
        stamp = now_iso()
        persona = PersonaRecord(persona_id, name, stamp, stamp)
        self.personas[persona_id] = persona
        self.order.append(persona_id)
        for phone in numbers:
            self.set_owner(phone, persona_id)
        if deleted:
            persona.deleted_at = now_iso()
        return persona

    def delete_persona(self, persona_id: str, detach_numbers: bool = False) -> None:
        """Soft-delete a persona, optionally detaching its numbers first."""
        persona = self.personas[persona_id]
        if detach_numbers:
            self._detach(persona, list(persona.numbers))
        if persona.deleted_at is None:
            persona.deleted_at = persona.updated_at = now_iso()

    def set_owner(self, phone: str, persona_id: str | None, exclusive: bool = True) -> None:
        """Make ``persona_id`` an owner of ``phone``, the only one if ``exclusive`` (None =
        unrouted)."""
        if persona_id is not None and persona_id not in self.personas:
            raise KeyError(persona_id)
        record = self.numbers.get(phone) or self.put_number(phone, None)
        for old in [owner for owner in record.owners if exclusive and owner != persona_id]:
            self._detach(self.personas[old], [phone])
        if persona_id is not None and persona_id not in record.owners:
            self.personas[persona_id].numbers[phone] = None
            record.owners.append(persona_id)

    def active_persona(self, persona_id: str) -> PersonaRecord:
        """The persona, unless it does not exist or is deleted (then PERSONA_NOT_FOUND)."""
        persona = self.personas.get(persona_id)
        if persona is None or persona.deleted_at is not None:
            raise persona_not_found()
        return persona

    def page(self, page: int, limit: int, with_twins: bool) -> list[PersonaRecord]:
        """Page ``page`` (from 1) of the personas in creation order, deleted ones included."""
        start = (page - 1) * limit
        order = self.order
        if not with_twins and any(agent.twin_id for agent in self.agents.values()):
            order = [pid for pid in order if self.personas[pid].agent_id is None]
        return [self.personas[pid] for pid in order[start : start + limit]]

    def attach(self, persona_id: str, numbers: list[str], mode: AttachMode) -> PersonaRecord:
        """Attach numbers to a persona; ``mode`` says what happens to another persona's."""
        persona = self.active_persona(persona_id)
        self._refuse_unknown(numbers)
        in_use = [n for n in numbers if any(o != persona_id for o in self.numbers[n].owners)]
        if in_use and mode == "refuse":
            raise SimulatedError(
                409,
                "INBOUND_NUMBER_IN_USE",
                "Some inbound numbers are already attached to another persona",
                {"phone_numbers": in_use},
            )
        if in_use and mode == "refuse_as_invalid":
            raise SimulatedError(
                400, "INVALID_INBOUND_NUMBERS", _NOT_YOURS, {"invalid_numbers": in_use}
            )
        changed = any(persona_id not in self.numbers[phone].owners for phone in numbers)
        for phone in numbers:
            self.set_owner(phone, persona_id, exclusive=mode == "steal")
            record = self.numbers[phone]
            # An attach replaces any pathway or prompt the number answered with (v2 attach docs).
            if record.pathway_id is not None or record.prompt is not None:
                record.pathway_id = record.prompt = None
                self.numbers_version += 1
        if changed:
            persona.updated_at = now_iso()
        return persona

    def detach(self, persona_id: str, numbers: list[str]) -> PersonaRecord:
        """Detach those of ``numbers`` the persona has; the others are ignored."""
        persona = self.active_persona(persona_id)
        self._detach(persona, numbers)
        return persona

    def live_agent(self, agent_id: str) -> AgentRecord:
        """The agent, unless it does not exist or is deleted (then NOT_FOUND)."""
        agent = self.agents.get(agent_id)
        if agent is None or agent.deleted_at is not None:
            raise SimulatedError(404, "NOT_FOUND", "Agent not found")
        return agent

    def link_twin(self, agent: AgentRecord, persona: PersonaRecord) -> None:
        """Make ``persona`` the twin of ``agent``."""
        agent.twin_id = persona.id
        persona.agent_id = agent.id
        persona.tags = [f"{TWIN_TAG}{agent.id}"]

    def attach_to_agent(self, agent_id: str, numbers: list[str]) -> PersonaRecord:
        """Move numbers to the agent's twin persona (made now if it has none) from any owner.

        Bland documents no error code for an agent without a saved version: 404 NO_VERSIONS, a
        code the v2 docs list, is a guess.
        """
        agent = self.live_agent(agent_id)
        if agent.versions < 1:
            raise SimulatedError(404, "NO_VERSIONS", "Agent has no saved version to attach")
        self._refuse_unknown(numbers)
        if agent.twin_id is None:
            twin_id = str(uuid5(NAMESPACE_URL, f"{TWIN_TAG}{agent.id}"))
            self.link_twin(agent, self.add_persona(twin_id, agent.name))
        return self.attach(str(agent.twin_id), numbers, "steal")

    def detach_from_agent(self, agent_id: str, numbers: list[str]) -> int:
        """Detach those of ``numbers`` the agent has; returns how many that was."""
        twin = self.personas.get(self.live_agent(agent_id).twin_id or "")
        on_agent = [phone for phone in numbers if twin is not None and phone in twin.numbers]
        if twin is not None:
            self._detach(twin, on_agent)
        return len(on_agent)

    def _refuse_unknown(self, numbers: list[str]) -> None:
        invalid = [n for n in numbers if n not in self.numbers]
        if invalid:
            raise SimulatedError(
                400, "INVALID_INBOUND_NUMBERS", _NOT_YOURS, {"invalid_numbers": invalid}
            )

    def _detach(self, persona: PersonaRecord, numbers: list[str]) -> None:
        held = [phone for phone in numbers if phone in persona.numbers]
        for phone in held:
            del persona.numbers[phone]
            owners = self.numbers[phone].owners
            if persona.id in owners:
                owners.remove(persona.id)
        if held:
            persona.updated_at = now_iso()

    def update_settings(
        self, persona_id: str, phone: str, settings: JSONObject | None
    ) -> JSONObject:
        """Replace one number's persona_settings; returns the inbound-number object."""
        persona = self.active_persona(persona_id)
        if phone not in persona.numbers:
            raise SimulatedError(
                404, "INBOUND_NOT_FOUND", "Inbound number not found or not attached to this persona"
            )
        persona.numbers[phone] = deepcopy(settings)
        return {
            "id": self.numbers[phone].id,
            "phone_number": phone,
            "persona_id": persona_id,
            "persona_settings": deepcopy(settings),
            "updated_at": now_iso(),
        }
