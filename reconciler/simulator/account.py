"""In-memory account of the simulator: inbound numbers, personas and who owns what.

Indexes are chosen so that every API request costs O(page), never O(account):
personas are kept in a dict plus a creation-ordered id list (list pages are slices), and each
number record knows its owners while each persona knows its numbers. Nothing here is
thread-safe on its own; the simulator serialises access with its lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from .fault_values import AttachMode
from .replies import JSONObject, SimulatedError, persona_not_found

USER_ID = "00000000-0000-4000-8000-00000000b1a0"
# Objects loaded from a state file get a fixed timestamp so responses are reproducible.
EPOCH = "2025-01-01T00:00:00.000Z"

_NOT_YOURS = "Some inbound numbers were not found or do not belong to you"


def now_iso() -> str:
    """The current UTC time in the API's millisecond ISO form."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def copy_json(value: Any) -> Any:
    """Deep copy of a JSON value, so callers can never alias the simulator's stored state."""
    if isinstance(value, Mapping):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


class NumberRecord:
    """One inbound number of the account."""

    __slots__ = ("created_at", "id", "label", "owners", "phone_number")

    def __init__(self, phone_number: str, label: str | None, number_id: int, created_at: str):
        self.phone_number = phone_number
        self.label = label
        self.id = number_id
        self.created_at = created_at
        # Normally zero or one persona; two only after a non-exclusive ("keep_old") attach.
        self.owners: list[str] = []


class PersonaRecord:
    """One persona and the numbers attached to it."""

    __slots__ = (
        "created_at",
        "deleted_at",
        "description",
        "id",
        "name",
        "numbers",
        "role",
        "tags",
        "updated_at",
    )

    def __init__(self, persona_id: str, name: str, created_at: str) -> None:
        self.id = persona_id
        self.name = name
        self.role: str | None = None
        self.description: str | None = None
        self.tags: list[str] = []
        self.created_at = created_at
        self.updated_at = created_at
        self.deleted_at: str | None = None
        # phone number -> persona_settings (None = fall back to the persona's defaults)
        self.numbers: dict[str, JSONObject | None] = {}


class Account:
    """The numbers and personas of one simulated account, and the API's operations on them."""

    def __init__(self) -> None:
        self.numbers: dict[str, NumberRecord] = {}
        self.personas: dict[str, PersonaRecord] = {}
        self.order: list[str] = []
        self.next_number_id = 1
        # Bumped whenever the legacy GET /v1/inbound body could change, to invalidate its cache.
        self.numbers_version = 0
        # (numbers_version, encoded body) of the last full GET /v1/inbound listing.
        self.inbound_body_cache: tuple[int, bytes] | None = None

    # ----------------------------------------------------------------- mutation helpers

    def put_number(self, phone: str, label: str | None, created_at: str) -> NumberRecord:
        """Add a number, or relabel it if the account already has it."""
        record = self.numbers.get(phone)
        if record is None:
            record = NumberRecord(phone, label, self.next_number_id, created_at)
            self.next_number_id += 1
            self.numbers[phone] = record
        else:
            record.label = label
        self.numbers_version += 1
        return record

    def add_number(self, phone: str, label: str | None = None) -> NumberRecord:
        """Add a number stamped now; ValueError on an empty number."""
        if not isinstance(phone, str) or not phone:
            raise ValueError("phone_number must be a non-empty string")
        return self.put_number(phone, label, now_iso())

    def add_persona(
        self, persona_id: str, name: str, numbers: Iterable[str] = (), deleted: bool = False
    ) -> PersonaRecord:
        """Add a persona stamped now, taking the given numbers from whoever holds them."""
        if not persona_id:
            raise ValueError("persona id must be a non-empty string")
        if persona_id in self.personas:
            raise ValueError(f"persona {persona_id!r} already exists")
        persona = PersonaRecord(persona_id, name, now_iso())
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
            persona.deleted_at = now_iso()
            persona.updated_at = persona.deleted_at

    def set_owner(self, phone: str, persona_id: str | None) -> None:
        """Make ``persona_id`` the only owner of ``phone`` (None = unrouted)."""
        if persona_id is not None and persona_id not in self.personas:
            raise KeyError(persona_id)
        record = self.numbers.get(phone) or self.add_number(phone)
        for old in list(record.owners):
            if old != persona_id:
                self._detach(self.personas[old], [phone])
        if persona_id is not None and persona_id not in record.owners:
            self.personas[persona_id].numbers[phone] = None
            record.owners.append(persona_id)

    def owners(self) -> dict[str, list[str]]:
        """Each number and the personas it is attached to."""
        return {phone: list(rec.owners) for phone, rec in self.numbers.items()}

    # ----------------------------------------------------------------- API operations

    def active_persona(self, persona_id: str) -> PersonaRecord:
        """The persona, unless it does not exist or is deleted (then PERSONA_NOT_FOUND)."""
        persona = self.personas.get(persona_id)
        if persona is None or persona.deleted_at is not None:
            raise persona_not_found()
        return persona

    def page(self, page: int, limit: int) -> list[PersonaRecord]:
        """Page ``page`` (from 1) of the personas in creation order, deleted ones included."""
        start = (page - 1) * limit
        return [self.personas[pid] for pid in self.order[start : start + limit]]

    def attach(self, persona_id: str, numbers: list[str], mode: AttachMode) -> PersonaRecord:
        """Attach numbers to a persona; ``mode`` says what happens to another persona's."""
        persona = self.active_persona(persona_id)
        invalid = [n for n in numbers if n not in self.numbers]
        if invalid:
            raise SimulatedError(
                400, "INVALID_INBOUND_NUMBERS", _NOT_YOURS, {"invalid_numbers": invalid}
            )
        if mode in ("refuse", "refuse_as_invalid"):
            in_use = [n for n in numbers if any(o != persona_id for o in self.numbers[n].owners)]
            if in_use and mode == "refuse":
                raise SimulatedError(
                    409,
                    "INBOUND_NUMBER_IN_USE",
                    "Some inbound numbers are already attached to another persona",
                    {"phone_numbers": in_use},
                )
            if in_use:
                raise SimulatedError(
                    400, "INVALID_INBOUND_NUMBERS", _NOT_YOURS, {"invalid_numbers": in_use}
                )
        changed = False
        for phone in numbers:
            record = self.numbers[phone]
            if mode == "steal":
                for old in list(record.owners):
                    if old != persona_id:
                        self._detach(self.personas[old], [phone])
            if persona_id not in record.owners:
                record.owners.append(persona_id)
                persona.numbers[phone] = None
                changed = True
        if changed:
            persona.updated_at = now_iso()
        return persona

    def detach(self, persona_id: str, numbers: list[str]) -> PersonaRecord:
        """Detach those of ``numbers`` the persona has; the others are ignored."""
        persona = self.active_persona(persona_id)
        self._detach(persona, numbers)
        return persona

    def _detach(self, persona: PersonaRecord, numbers: list[str]) -> None:
        changed = False
        for phone in numbers:
            if phone in persona.numbers:
                del persona.numbers[phone]
                owners = self.numbers[phone].owners
                if persona.id in owners:
                    owners.remove(persona.id)
                changed = True
        if changed:
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
        persona.numbers[phone] = copy_json(settings)
        stamp = now_iso()
        return {
            "id": self.numbers[phone].id,
            "phone_number": phone,
            "persona_id": persona_id,
            "persona_settings": copy_json(settings),
            "updated_at": stamp,
        }

    def update_label(self, phone: str, label: str) -> NumberRecord | None:
        """Set a number's label ("" clears it); None when the account has no such number."""
        record = self.numbers.get(phone)
        if record is None:
            return None
        record.label = label or None
        self.numbers_version += 1
        return record
