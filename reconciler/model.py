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
    # sha256 of each file's bytes as read and checked: a saved plan records these, never a
    # second read of the file, which could see an edit that was never validated.
    digests: Mapping[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class LivePersona:
    """A persona as the account reports it."""

    id: str
    name: str
    numbers: frozenset[str]
    deleted: bool = False


@dataclass(frozen=True)
class Live:
    """The live account: every persona (deleted ones flagged) and every inbound number it owns."""

    personas: Mapping[str, LivePersona]
    account_numbers: frozenset[str]
    pages_read: int = 0
    # persona_id that GET /v1/inbound gives for a number, where it gives one (the docs do not
    # promise it): the only sign of an owner the persona list does not show.
    inbound_owners: Mapping[str, str] = field(default_factory=dict)

    def unlisted_owners(self) -> frozenset[str]:
        """Persona ids that GET /v1/inbound names but the persona list does not show."""
        return frozenset(
            owner for owner in self.inbound_owners.values() if owner not in self.personas
        )

    def active(self) -> list[LivePersona]:
        """Personas that are not soft-deleted, in id order."""
        return [p for _, p in sorted(self.personas.items()) if not p.deleted]

    def owners(self) -> dict[str, tuple[str, ...]]:
        """Map each number to the active personas holding it (normally exactly one)."""
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
        if self.inbound_owners:
            active_ids = {persona.id for persona in active}
            for number, hinted in self.inbound_owners.items():
                # An owner no active persona's list shows (deleted, or hidden behind a v2
                # agent): counting it makes a take-over a move the plan names, not an attach.
                if number not in held and hinted not in active_ids:
                    held[number] = (hinted,)
        return held
