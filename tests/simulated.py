"""The simulator as the tests drive it: the package's own, plus ways to read and change its
account in process, as the dashboard would between two requests, and to filter its request log;
in another process, ``POST /_sim/state`` replaces its account.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from copy import deepcopy
from typing import Any
from urllib.parse import unquote

from reconciler.simulator import RequestRecord
from reconciler.simulator.account import (
    JSONObject,
    NumberRecord,
    PersonaRecord,
    account_from_state,
    now_iso,
)
from reconciler.simulator.api import Reply, error_reply, json_reply
from tests import simulator_faults as simulator


class Simulator(simulator.Simulator):
    """A simulator with helpers for tests; each holds the simulator's lock (reentrant, so an
    ``on_write`` callback may call them)."""

    def handle(self, method: str, target: str, auth: str | None, raw_body: bytes) -> Reply:
        """The package's answer, but to ``POST /_sim/state``: the account replaced by the state
        sent, whose answer is the new state (the benchmarks reset the account so)."""
        if (method, target.rstrip("/"), auth) != ("POST", "/_sim/state", self.api_key):
            return super().handle(method, target, auth, raw_body)
        try:
            self.load(json.loads(raw_body))
        except ValueError as exc:
            return error_reply(400, "INVALID_BODY", str(exc))
        return json_reply(200, self.export_state())

    def load(self, state: Mapping[str, Any]) -> None:
        """Replace the whole account (the request log and faults are kept)."""
        account = account_from_state(state)
        with self.lock:
            self.account = account

    def reads(self) -> list[RequestRecord]:
        """The logged requests that were reads."""
        return [r for r in self.requests if r.kind == "read"]

    def writes(self) -> list[RequestRecord]:
        """The logged requests that were writes."""
        return [r for r in self.requests if r.kind == "write"]

    def owners(self) -> dict[str, list[str]]:
        """Each number of the account and the personas it is attached to."""
        with self.lock:
            return {phone: list(rec.owners) for phone, rec in self.account.numbers.items()}

    def persona_numbers(self, persona_id: str) -> list[str]:
        """The numbers attached to a persona, sorted."""
        with self.lock:
            return sorted(self.account.personas[persona_id].numbers)

    def persona_settings(self, persona_id: str, phone_number: str) -> JSONObject | None:
        """A copy of the persona_settings of one number of a persona."""
        with self.lock:
            return deepcopy(self.account.personas[persona_id].numbers[phone_number])

    def set_persona_settings(
        self, persona_id: str, phone_number: str, settings: Mapping[str, Any] | None
    ) -> None:
        """Set the persona_settings of a number the persona has (KeyError otherwise)."""
        with self.lock:
            numbers = self.account.personas[persona_id].numbers
            if phone_number not in numbers:
                raise KeyError(phone_number)
            numbers[phone_number] = None if settings is None else deepcopy(dict(settings))

    def label(self, phone_number: str) -> str | None:
        """The label of a number of the account (KeyError if it has no such number)."""
        with self.lock:
            return self.account.numbers[phone_number].label

    def add_persona(
        self, id: str, name: str, numbers: Iterable[str] = (), deleted: bool = False
    ) -> None:
        """Add a persona, taking the given numbers from whoever holds them (ValueError if the
        account has one of that id)."""
        with self.lock:
            if id in self.account.personas:
                raise ValueError(f"persona {id!r} already exists")
            persona = self.account.personas[id] = PersonaRecord(id, name, now_iso())
            self.account.order.append(id)
            for phone in numbers:
                self.set_owner(phone, id)
            if deleted:
                persona.deleted_at = now_iso()

    def delete_persona(self, id: str, detach_numbers: bool = False) -> None:
        """Soft-delete a persona, optionally detaching its numbers first."""
        with self.lock:
            persona = self.account.personas[id]
            if detach_numbers:
                self.account.detach(persona, list(persona.numbers))
            if persona.deleted_at is None:
                persona.deleted_at = persona.updated_at = now_iso()

    def add_number(self, phone_number: str, label: str | None = None) -> None:
        """Add an inbound number to the account, stamped now, or relabel it."""
        with self.lock:
            if phone_number not in self.account.numbers:
                self.account.add_number(NumberRecord(phone_number, created_at=now_iso()))
            self.account.numbers[phone_number].label = label

    def set_owner(self, phone_number: str, persona_id: str | None) -> None:
        """Make a persona the only holder of a number (None = no persona), adding the number
        to the account if it lacks it (KeyError for a persona it lacks)."""
        with self.lock:
            if persona_id is not None and persona_id not in self.account.personas:
                raise KeyError(persona_id)
            if phone_number not in self.account.numbers:
                self.add_number(phone_number)
            simulator.set_owner(self.account, phone_number, persona_id)


def persona_of(path: str) -> str | None:
    """The persona a request's path names (``/v1/personas/{id}...``), else None."""
    found = re.match(r"/v1/personas/([^/]+)", path)
    return unquote(found[1]) if found else None
