"""Plain data passed between the stages: what the file wants and what the account has."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

# Re-exported: applier, render and cli import it from here.


class SourceMark(NamedTuple):
    """A position in a config file (1-based line and column).

    A named tuple rather than a frozen dataclass: a large file makes one per number, and a
    tuple is several times cheaper to build.
    """

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class DesiredPersona:
    """One persona entry of the config: a reference (id and/or name) and its numbers."""

    id: str | None
    name: str | None
    numbers: tuple[str, ...]
    mark: SourceMark
    number_marks: Mapping[str, SourceMark] = field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        """How to name this entry in messages."""
        if self.name is not None:
            return repr(self.name)
        return f"id {self.id}"


@dataclass(frozen=True)
class SafetySettings:
    """Thresholds of the safety valves; None leaves the default."""

    max_detach_percent: float | None = None
    min_numbers: int | None = None
    allow_emptying: bool | None = None


@dataclass(frozen=True)
class Desired:
    """The whole desired state, merged from one or more config files."""

    personas: tuple[DesiredPersona, ...]
    files: tuple[str, ...] = ()
    protected: tuple[str, ...] = ()
    protected_marks: Mapping[str, SourceMark] = field(default_factory=dict, compare=False)
    safety: SafetySettings = SafetySettings()


@dataclass(frozen=True)
class LivePersona:
    """A persona as the account reports it."""

    id: str
    name: str
    numbers: frozenset[str]
    deleted: bool = False


class PersonaRef(NamedTuple):
    """A persona as a note about it names it: its id, and its name where the account gave one."""

    id: str
    name: str


@dataclass(frozen=True)
class ConfirmedOwners:
    """A number whose owners the persona list may show wrong, and who holds it, checked again.

    The list is read a page at a time with no snapshot, so a number moved between two page reads
    shows on its old persona and on its new one (`seen_on`); reads by id say which holds it now
    (`held_by`). A protected number that showed on no persona (`seen_on` empty) was listed again.
    """

    phone_number: str
    seen_on: tuple[PersonaRef, ...]
    held_by: tuple[PersonaRef, ...]


@dataclass(frozen=True)
class SourcesDisagree:
    """GET /v1/inbound names a persona as a number's owner; the persona list does not show it there.

    Where no persona's entry shows the number, the reading that makes it held wins: it counts as
    on `inbound_owner`. Where another persona's entry shows it, that entry is followed.
    """

    phone_number: str
    inbound_owner: PersonaRef
    listed_on: tuple[PersonaRef, ...]


@dataclass(frozen=True)
class Live:
    """The live account: every persona (deleted ones flagged) and every inbound number it owns."""

    personas: Mapping[str, LivePersona]
    account_numbers: frozenset[str]
    pages_read: int = 0
    # persona_id that GET /v1/inbound gives for a number, where it gives one (the docs do not
    # promise it): a second source of owners, besides the persona list.
    inbound_owners: Mapping[str, str] = field(default_factory=dict)
    # Numbers the list showed on several personas, confirmed by reading those personas by id
    # (the personas read replace their listed entries in `personas`).
    confirmed: tuple[ConfirmedOwners, ...] = ()

    def unlisted_owners(self) -> frozenset[str]:
        """Persona ids that GET /v1/inbound names but the persona list does not show."""
        return frozenset(
            owner for owner in self.inbound_owners.values() if owner not in self.personas
        )

    def active(self) -> list[LivePersona]:
        """Personas that are not soft-deleted, in id order."""
        return [p for _, p in sorted(self.personas.items()) if not p.deleted]

    def listed_owners(self) -> dict[str, tuple[str, ...]]:
        """Map each number to the active personas whose entry shows it (normally exactly one)."""
        active = self.active()
        held: dict[str, tuple[str, ...]] = {}
        for persona in active:
            # One tuple per persona, shared by its numbers; dict.update keeps the loop in C.
            held.update(dict.fromkeys(persona.numbers, (persona.id,)))
        if len(held) != sum(len(persona.numbers) for persona in active):
            held = {}  # a number is on two personas: build again, keeping every owner
            for persona in active:
                owner = (persona.id,)
                for number in persona.numbers:
                    held[number] = held[number] + owner if number in held else owner
        return held

    def owners(self) -> dict[str, tuple[str, ...]]:
        """Map each number to the personas holding it: as listed, else as GET /v1/inbound names.

        A number no active persona's entry shows, but that GET /v1/inbound gives an owner (one the
        list does not show, or one whose entry lacks it), counts as held by that owner: where the
        sources disagree, the reading that makes the number held wins, so that taking it is a move
        that protected numbers and the safety valves see, never a plain attach.
        """
        held = self.listed_owners()
        for number, hinted in self.inbound_owners.items():
            if number not in held:
                held[number] = (hinted,)
        return held

    def disagreements(self) -> list[SourcesDisagree]:
        """Every number GET /v1/inbound gives an owner whose entry does not show it, by number."""
        if not self.inbound_owners:
            return []
        listed = self.listed_owners()
        return [
            SourcesDisagree(
                number,
                self.ref(hinted),
                tuple(self.ref(pid) for pid in listed.get(number, ())),
            )
            for number, hinted in sorted(self.inbound_owners.items())
            if hinted not in listed.get(number, ())
        ]

    def ref(self, persona_id: str) -> PersonaRef:
        """The persona's id and its name ("" for one the list does not show)."""
        persona = self.personas.get(persona_id)
        return PersonaRef(persona_id, persona.name if persona is not None else "")
