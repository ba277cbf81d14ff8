"""Plain data passed between the stages: what the file wants and what the account has."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any, Final, Literal, NamedTuple, cast


class SourceMark(NamedTuple):
    """A position in a config file (1-based); a tuple is cheap, and a file makes one per number."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Unread(Enum):
    """A value the API did not show: a persona listing that gives its numbers as bare strings."""

    UNREAD = "unread"


UNREAD: Final = Unread.UNREAD

# The keys of persona_settings the config knows, in the order they are shown and exported.
SETTING_KEYS = ("pathway_id", "pathway_version", "start_node_id")


@dataclass(frozen=True, order=True)
class RoutingSettings:
    """One number's persona_settings as canonical JSON text (nulls dropped, 2.0 read as 2)."""

    canonical: str

    def as_dict(self) -> dict[str, Any]:
        return cast(dict[str, Any], json.loads(self.canonical))

    def __str__(self) -> str:
        """Known keys first, e.g. `{"pathway_id": "pw_1", "pathway_version": 2}`."""
        value = self.as_dict()  # in key order, as canonical JSON is
        first = {key: value.pop(key) for key in SETTING_KEYS if key in value}
        return json.dumps({**first, **value}, ensure_ascii=False)


# One encoder for all settings: json.dumps with options would build one per number read.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def routing_settings(value: Mapping[str, Any] | None) -> RoutingSettings | None:
    """Settings from a JSON object; None for null or an object that sets nothing."""
    kept = {
        str(key): item if type(item) is str else _plain_json(item)
        for key, item in (value or {}).items()
        if item is not None
    }
    return RoutingSettings(_CANONICAL.encode(kept)) if kept else None


def _plain_json(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(key): _plain_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_json(item) for item in value]
    return value


SeenSettings = RoutingSettings | None | Literal[Unread.UNREAD]
SeenLabel = str | None | Literal[Unread.UNREAD]


def same_label(seen: SeenLabel, wanted: str) -> bool:
    """True when the label shown is the one wanted; no label and "" are the same."""
    return seen is not UNREAD and (seen or "") == wanted


# An owner is a kind plus an id, so that a move between kinds is a plain move. Its key is one
# string: a persona's id, else `kind:ID` (a pathway or a prompt bound to a number directly).
OwnerKind = Literal["persona", "agent"]
_KINDS = ("agent", "pathway", "prompt")


def owner_key(kind: str, owner_id: str) -> str:
    """The key of an owner of a kind: `agent:ID`, `pathway:ID`, `prompt:NUMBER`, or a persona id."""
    return owner_id if kind == "persona" else f"{kind}:{owner_id}"


def owner_kind(key: str) -> str:
    """The kind of owner a key names: persona, agent, pathway or prompt."""
    kind, colon, _ = key.partition(":")
    return kind if colon and kind in _KINDS else "persona"


def owner_id(key: str) -> str:
    """The id of the owner a key names (a persona id, an agent id, a pathway id, a number)."""
    return key.partition(":")[2] if owner_kind(key) != "persona" else key


def owner_words(key: str, name: str) -> str:
    """An owner as messages name it: `'Sales'`, `agent 'Bot'`, `pathway pw_1`, `its own prompt`."""
    kind, shown = owner_kind(key), repr(name or owner_id(key))
    words = {"persona": shown, "agent": f"agent {shown}", "pathway": f"pathway {owner_id(key)}"}
    return words.get(kind, "its own prompt")


@dataclass(frozen=True)
class DesiredPersona:
    """One entry of `personas:` or `agents:` (its `kind`): a reference (id and/or name), its
    numbers, and per number the settings (None clears) and label ("" clears) it declares."""

    id: str | None
    name: str | None
    numbers: tuple[str, ...]
    mark: SourceMark
    number_marks: Mapping[str, SourceMark] = field(default_factory=dict, compare=False)
    settings: Mapping[str, RoutingSettings | None] = field(default_factory=dict, hash=False)
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    kind: OwnerKind = "persona"

    @cached_property
    def number_set(self) -> frozenset[str]:
        return frozenset(self.numbers)


@dataclass(frozen=True)
class Desired:
    """The whole desired state, merged from one or more config files."""

    personas: tuple[DesiredPersona, ...]
    files: tuple[str, ...] = ()
    protected: tuple[str, ...] = ()
    protected_marks: Mapping[str, SourceMark] = field(default_factory=dict, compare=False)
    # The valve thresholds the config's `safety:` sets (docs/safety.md), by name.
    safety: Mapping[str, Any] = field(default_factory=dict, hash=False)
    digests: Mapping[str, str] = field(default_factory=dict, compare=False)  # sha256 of each file
    # The --target names this state was cut to, and the numbers the entries it left out declare
    # (a partial plan never detaches them).
    targets: tuple[str, ...] = ()
    elsewhere: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LivePersona:
    """A persona as the account reports it."""

    id: str
    name: str
    numbers: frozenset[str]
    deleted: bool = False
    # Per number, its persona_settings and label where the API showed them (else UNREAD).
    settings: Mapping[str, RoutingSettings | None] = field(default_factory=dict, hash=False)
    labels: Mapping[str, str | None] = field(default_factory=dict, hash=False)
    spellings: Mapping[str, str] = field(default_factory=dict, compare=False)  # see Live.spellings
    twin_of: str | None = None  # the agent its tags (`v2-agent:ID`) make it the hidden twin of

    def settings_of(self, number: str) -> SeenSettings:
        return self.settings.get(number, UNREAD)

    def label_of(self, number: str) -> SeenLabel:
        return self.labels.get(number, UNREAD)


@dataclass(frozen=True)
class LiveAgent:
    """A v2 agent; `production_version_id` is None when unpinned or not shown (the list never
    shows it). The twin persona holding its numbers is kept in `Live.twins`."""

    id: str
    name: str
    production_version_id: str | None = None


@dataclass(frozen=True)
class InboundRoute:
    """What answers one number, as GET /v1/inbound/{number} shows it; `persona_id` is
    undocumented there: UNREAD when not shown, which is not null (no persona)."""

    phone_number: str
    pathway_id: str | None
    prompt: str | None
    persona_id: str | Literal[Unread.UNREAD] | None = UNREAD


class PersonaRef(NamedTuple):
    """A persona as a note about it names it: its id, and its name where the account gave one."""

    id: str
    name: str


@dataclass(frozen=True)
class ConfirmedOwners:
    """A number the paged list may show wrong: the personas it showed on (`seen_on`; empty when a
    second listing found it) and those holding it when read again (`held_by`)."""

    phone_number: str
    seen_on: tuple[PersonaRef, ...]
    held_by: tuple[PersonaRef, ...]


@dataclass(frozen=True)
class SourcesDisagree:
    """GET /v1/inbound names a number's owner; the persona list does not show it there. Where no
    entry shows the number it counts as on `inbound_owner`; else the entry is followed."""

    phone_number: str
    inbound_owner: PersonaRef
    listed_on: tuple[PersonaRef, ...]


@dataclass(frozen=True)
class Live:
    """The live account: every persona (deleted ones flagged) and every inbound number it owns."""

    personas: Mapping[str, LivePersona]
    account_numbers: frozenset[str]
    pages_read: int = 0
    reads: int = 0  # requests this picture took
    # persona_id that GET /v1/inbound gives for a number, where it gives one (undocumented).
    inbound_owners: Mapping[str, str] = field(default_factory=dict)
    # Numbers the list showed on several personas, whose personas were read again by id.
    confirmed: tuple[ConfirmedOwners, ...] = ()
    # v2 agents by id, each holding its numbers in `personas` as `agent:ID`, never as its twin;
    # `twins`: twin id -> (its name, its agent id); `unverifiable`: agents whose numbers no read
    # shows; `agents_incomplete`: the agent list came back full.
    agents: Mapping[str, LiveAgent] = field(default_factory=dict)
    twins: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    unverifiable: frozenset[str] = frozenset()
    agents_incomplete: bool = False
    # Owners besides those agents that no read shows and may hold a number that looks free.
    unseen_owners: tuple[str, ...] = ()
    # What answers numbers that looked free, read one by one (GET /v1/inbound/{number}).
    routes: Mapping[str, InboundRoute] = field(default_factory=dict)
    # Each spelling GET /v1/inbound shows -> the canonical E.164 it reads as ("": none, unused).
    spellings: Mapping[str, str] = field(default_factory=dict)

    # Views built once per picture (`replace` makes a new one) and shared: never change one.
    @cached_property
    def active(self) -> tuple[LivePersona, ...]:
        return tuple(p for _, p in sorted(self.personas.items()) if not p.deleted)

    @cached_property
    def named(self) -> tuple[LivePersona, ...]:
        """The active owners a config can name: personas, and agents GET /v2/agents lists."""
        return tuple(
            o for o in self.active if owner_kind(o.id) != "agent" or owner_id(o.id) in self.agents
        )

    @cached_property
    def listed_owners(self) -> dict[str, tuple[str, ...]]:
        """Each number -> the active personas whose entry shows it."""
        held: dict[str, tuple[str, ...]] = {}
        for persona in self.active:
            # One tuple per persona, shared by its numbers; dict.update keeps the loop in C.
            held.update(dict.fromkeys(persona.numbers, (persona.id,)))
        if len(held) != sum(len(persona.numbers) for persona in self.active):
            held = {}  # a number is on two personas: build again, keeping every owner
            for persona in self.active:
                for number in persona.numbers:
                    held[number] = (*held.get(number, ()), persona.id)
        return held

    @cached_property
    def seen_twice(self) -> dict[str, tuple[str, ...]]:
        """The numbers the list shows on more than one active persona, with those personas."""
        if len(self.listed_owners) == sum(len(persona.numbers) for persona in self.active):
            return {}  # each number listed once: the usual case, known without a look at each
        return {number: held for number, held in self.listed_owners.items() if len(held) > 1}

    @cached_property
    def owners(self) -> dict[str, tuple[str, ...]]:
        """Each number -> the owners holding it: as listed, else as GET /v1/inbound names, else
        as its own record shows (a twin as its agent): the reading that makes it held wins, so
        that taking it is a move the valves see."""
        held = dict(self.listed_owners)
        for number, hinted in self.inbound_owners.items():
            held.setdefault(number, (hinted,))
        for number, route in self.routes.items():  # the persona named, a pathway, a prompt
            if isinstance(route.persona_id, str) and route.persona_id:
                agent = self.twins.get(route.persona_id, ("", ""))[1]
                held.setdefault(number, (owner_key("agent", agent) if agent else route.persona_id,))
            elif route.pathway_id:
                held.setdefault(number, (owner_key("pathway", route.pathway_id),))
            elif route.prompt:
                held.setdefault(number, (owner_key("prompt", number),))
        return held

    def disagreements(self) -> list[SourcesDisagree]:
        """Every number GET /v1/inbound gives an owner whose entry does not show it, by number."""
        listed = self.listed_owners
        return [
            SourcesDisagree(number, self.ref(hinted), tuple(map(self.ref, listed.get(number, ()))))
            for number, hinted in sorted(self.inbound_owners.items())
            if hinted not in listed.get(number, ())
        ]

    def ref(self, persona_id: str) -> PersonaRef:
        persona = self.personas.get(persona_id)
        return PersonaRef(persona_id, persona.name if persona is not None else "")
