"""In-memory account model of the simulator: inbound numbers, personas and who owns what.

Indexes are chosen so that every API request costs O(page), never O(account):
personas are kept in a dict plus a creation-ordered id list (list pages are slices), and each
number record knows its owners while each persona knows its numbers. Nothing here is
thread-safe on its own; the simulator serialises access with its lock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _encode_string
from pathlib import Path
from typing import Any

from .faults import AttachMode

JSONObject = dict[str, Any]

USER_ID = "00000000-0000-4000-8000-00000000b1a0"
# Objects loaded from a state file get a fixed timestamp so responses are reproducible.
EPOCH = "2025-01-01T00:00:00.000Z"


class StateError(ValueError):
    """The state file or state mapping is unusable."""


class ApiError(Exception):
    """A failure the Bland API reports inside its ``{"data": null, "errors": [...]}`` envelope."""

    def __init__(
        self, status: int, code: str, message: str, details: JSONObject | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def now_iso() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def persona_not_found() -> ApiError:
    return ApiError(404, "PERSONA_NOT_FOUND", "Persona not found or access denied")


class NumberRecord:
    __slots__ = ("created_at", "id", "label", "owners", "phone_number")

    def __init__(self, phone_number: str, label: str | None, number_id: int, created_at: str):
        self.phone_number = phone_number
        self.label = label
        self.id = number_id
        self.created_at = created_at
        # Normally zero or one persona; two only after a non-exclusive ("keep_old") attach.
        self.owners: list[str] = []


class PersonaRecord:
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


def _fail(source: str, message: str) -> StateError:
    return StateError(f"{source}: {message}")


class Account:
    def __init__(self) -> None:
        self.numbers: dict[str, NumberRecord] = {}
        self.personas: dict[str, PersonaRecord] = {}
        self.order: list[str] = []
        self._next_number_id = 1
        # Bumped whenever the legacy GET /v1/inbound body could change, to invalidate its cache.
        self.numbers_version = 0

    # ----------------------------------------------------------------- loading and export

    @classmethod
    def from_state(cls, state: Mapping[str, Any], source: str = "state") -> Account:
        # Hot path for 100k-number accounts: plain dict/str type checks (no ABC isinstance)
        # and number records built inline.
        if not isinstance(state, Mapping):
            raise _fail(source, "top level must be a JSON object")
        unknown = set(state) - {"numbers", "personas"}
        if unknown:
            raise _fail(source, f"unknown top-level keys: {sorted(unknown)}")
        account = cls()
        numbers = state.get("numbers", [])
        personas = state.get("personas", [])
        if not isinstance(numbers, list):
            raise _fail(source, '"numbers" must be a list')
        if not isinstance(personas, list):
            raise _fail(source, '"personas" must be a list')
        records = account.numbers
        next_id = account._next_number_id
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
                    raise _fail(source, f"numbers[{i}].label must be a string or null")
                if not isinstance(raw_created, str):
                    raise _fail(source, f"numbers[{i}].created_at must be a string")
                label, created = raw_label, raw_created
            else:
                raise _fail(source, f"numbers[{i}] must be an object or a string")
            if not isinstance(phone, str) or not phone:
                raise _fail(source, f"numbers[{i}].phone_number must be a non-empty string")
            record = records.get(phone)
            if record is None:
                records[phone] = NumberRecord(phone, label, next_id, created)
                next_id += 1
            else:
                record.label = label
        account._next_number_id = next_id
        for i, entry in enumerate(personas):
            account._load_persona(i, entry, source)
        return account

    def _load_persona(self, i: int, entry: object, source: str) -> None:
        where = f"personas[{i}]"
        if not isinstance(entry, dict):
            raise _fail(source, f"{where} must be an object")
        pid = entry.get("id")
        if not isinstance(pid, str) or not pid:
            raise _fail(source, f"{where}.id must be a non-empty string")
        if pid in self.personas:
            raise _fail(source, f"{where}: duplicate persona id {pid!r}")
        name = entry.get("name", "")
        if not isinstance(name, str):
            raise _fail(source, f"{where}.name must be a string")
        created = entry.get("created_at", EPOCH)
        if not isinstance(created, str):
            raise _fail(source, f"{where}.created_at must be a string")
        persona = PersonaRecord(pid, name, created)
        deleted = entry.get("deleted_at")
        if deleted is not None and not isinstance(deleted, str):
            raise _fail(source, f"{where}.deleted_at must be a string or null")
        persona.deleted_at = deleted
        if len(entry) > 4:
            self._load_persona_extras(persona, entry, f"{source}: {where}")
        numbers = entry.get("numbers", [])
        if not isinstance(numbers, list):
            raise _fail(source, f"{where}.numbers must be a list")
        self.personas[pid] = persona
        self.order.append(pid)
        records = self.numbers
        owned = persona.numbers
        for phone in numbers:
            if not isinstance(phone, str) or not phone:
                raise _fail(source, f"{where}.numbers must hold non-empty strings")
            record = records.get(phone)
            if record is None:
                record = self._put_number(phone, None, EPOCH)
            # A number listed under two personas is kept on both: that is how a state dump
            # taken after a non-exclusive attach round-trips.
            if pid not in record.owners:
                record.owners.append(pid)
            owned[phone] = None
        settings = entry.get("persona_settings")
        if settings is None:
            return
        if not isinstance(settings, dict):
            raise _fail(source, f"{where}.persona_settings must be an object")
        for phone, value in settings.items():
            if phone not in owned:
                raise _fail(source, f"{where}.persona_settings: {phone!r} is not on this persona")
            if value is not None and not isinstance(value, dict):
                raise _fail(source, f"{where}.persona_settings[{phone!r}] must be object or null")
            owned[phone] = _copy_json(value)

    @staticmethod
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

    def export(self) -> JSONObject:
        """The state-file form of the account; ``Account.from_state(export())`` round-trips."""
        personas: list[JSONObject] = []
        for pid in self.order:
            p = self.personas[pid]
            item: JSONObject = {
                "id": p.id,
                "name": p.name,
                "deleted_at": p.deleted_at,
                "numbers": list(p.numbers),
            }
            settings = {n: s for n, s in p.numbers.items() if s is not None}
            if settings:
                item["persona_settings"] = _copy_json(settings)
            personas.append(item)
        numbers = [
            {"phone_number": n.phone_number, "label": n.label} for n in self.numbers.values()
        ]
        return {"numbers": numbers, "personas": personas}

    # ----------------------------------------------------------------- mutation helpers

    def _put_number(self, phone: str, label: str | None, created_at: str) -> NumberRecord:
        record = self.numbers.get(phone)
        if record is None:
            record = NumberRecord(phone, label, self._next_number_id, created_at)
            self._next_number_id += 1
            self.numbers[phone] = record
        else:
            record.label = label
        self.numbers_version += 1
        return record

    def add_number(self, phone: str, label: str | None = None) -> NumberRecord:
        if not isinstance(phone, str) or not phone:
            raise ValueError("phone_number must be a non-empty string")
        return self._put_number(phone, label, now_iso())

    def add_persona(
        self, persona_id: str, name: str, numbers: Iterable[str] = (), deleted: bool = False
    ) -> PersonaRecord:
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
        return {phone: list(rec.owners) for phone, rec in self.numbers.items()}

    # ----------------------------------------------------------------- API operations

    def active_persona(self, persona_id: str) -> PersonaRecord:
        persona = self.personas.get(persona_id)
        if persona is None or persona.deleted_at is not None:
            raise persona_not_found()
        return persona

    def page(self, page: int, limit: int) -> list[PersonaRecord]:
        start = (page - 1) * limit
        return [self.personas[pid] for pid in self.order[start : start + limit]]

    def attach(self, persona_id: str, numbers: list[str], mode: AttachMode) -> PersonaRecord:
        persona = self.active_persona(persona_id)
        invalid = [n for n in numbers if n not in self.numbers]
        if invalid:
            raise ApiError(
                400,
                "INVALID_INBOUND_NUMBERS",
                "Some inbound numbers were not found or do not belong to you",
                {"invalid_numbers": invalid},
            )
        if mode in ("refuse", "refuse_as_invalid"):
            in_use = [n for n in numbers if any(o != persona_id for o in self.numbers[n].owners)]
            if in_use and mode == "refuse":
                raise ApiError(
                    409,
                    "INBOUND_NUMBER_IN_USE",
                    "Some inbound numbers are already attached to another persona",
                    {"phone_numbers": in_use},
                )
            if in_use:
                raise ApiError(
                    400,
                    "INVALID_INBOUND_NUMBERS",
                    "Some inbound numbers were not found or do not belong to you",
                    {"invalid_numbers": in_use},
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
        persona = self.active_persona(persona_id)
        if phone not in persona.numbers:
            raise ApiError(
                404, "INBOUND_NOT_FOUND", "Inbound number not found or not attached to this persona"
            )
        persona.numbers[phone] = _copy_json(settings)
        stamp = now_iso()
        return {
            "id": self.numbers[phone].id,
            "phone_number": phone,
            "persona_id": persona_id,
            "persona_settings": _copy_json(settings),
            "updated_at": stamp,
        }

    # ----------------------------------------------------------------- rendering

    def render_persona(self, persona: PersonaRecord, numbers_as_strings: bool) -> JSONObject:
        phones = sorted(persona.numbers)
        inbound: list[Any]
        if numbers_as_strings:
            inbound = phones
        else:
            inbound = [
                {
                    "phone_number": phone,
                    "label": self.numbers[phone].label,
                    "persona_id": persona.id,
                    "persona_settings": _copy_json(persona.numbers[phone]),
                }
                for phone in phones
            ]
        return {
            "id": persona.id,
            "name": persona.name,
            "role": persona.role,
            "description": persona.description,
            "tags": list(persona.tags),
            "image_url": None,
            "created_at": persona.created_at,
            "updated_at": persona.updated_at,
            "deleted_at": persona.deleted_at,
            "user_id": USER_ID,
            "current_production_version_id": None,
            "current_draft_version_id": None,
            "current_production_version": None,
            "current_draft_version": None,
            "inbound_numbers": inbound,
        }

    def render_legacy_inbound(self, include_persona: bool) -> bytes:
        """Body of GET /v1/inbound, already encoded.

        This is the one response that covers the whole account, so it is assembled from
        per-number JSON fragments instead of building 100k dicts and encoding them.
        """
        parts: list[str] = []
        for phone in sorted(self.numbers):
            record = self.numbers[phone]
            extra = ""
            if include_persona:
                owner = record.owners[0] if record.owners else None
                extra = f',"label":{_dumps(record.label)},"persona_id":{_dumps(owner)}'
            parts.append(
                f'{{"phone_number":{_dumps(phone)},"created_at":{_dumps(record.created_at)},'
                f"{_LEGACY_INBOUND_DEFAULTS}{extra}}}"
            )
        return ('{"inbound_numbers":[' + ",".join(parts) + "]}").encode("utf-8")


# Fields of a legacy inbound-number object that the simulator never varies.
_LEGACY_INBOUND_DEFAULTS = json.dumps(
    {
        "prompt": None,
        "webhook": None,
        "voice_id": None,
        "dynamic_data": None,
        "interruption_threshold": None,
        "first_sentence": None,
        "reduce_latency": True,
        "transfer_phone_number": None,
        "voice_settings": None,
        "record": False,
        "max_duration": 30,
    },
    separators=(",", ":"),
)[1:-1]


def _dumps(value: str | None) -> str:
    return "null" if value is None else _encode_string(value)


def _copy_json(value: Any) -> Any:
    """Deep copy of a JSON value, so callers can never alias the simulator's stored state."""
    if isinstance(value, Mapping):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    return value


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
    Account.from_state(state, str(path))
    return state
