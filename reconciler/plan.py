"""A plan: the ordered changes that take the live account to the desired state, and its summary."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from reconciler.model import (
    UNREAD,
    ConfirmedOwners,
    RoutingSettings,
    SeenLabel,
    SeenSettings,
    SourcesDisagree,
    owner_id,
    owner_kind,
    owner_words,
)


class Action(StrEnum):
    """What a change does to one number."""

    ATTACH = "attach"  # the number is on no persona and goes to a managed persona
    MOVE = "move"  # the number is on another persona and goes to a managed persona
    DETACH = "detach"  # the number is on a managed persona that must not have it
    SETTINGS = "settings"  # the number's persona_settings on its persona are written
    LABEL = "label"  # the number's label is written


_ACTION_ORDER = {action: order for order, action in enumerate(Action)}  # as listed above
NUMBER_WRITES = frozenset({Action.SETTINGS, Action.LABEL})


@dataclass(frozen=True)
class Change:
    """One number's change. For a move, `from_*` names the owner it leaves; both ids are owner
    keys (model.owner_key). A `settings` or `label` change writes `after` (settings None and
    label "" clear); `before` is what the number has then, UNREAD when the API did not show it.
    """

    action: Action
    persona_id: str
    persona_name: str
    phone_number: str
    from_persona_id: str | None = None
    from_persona_name: str | None = None
    before: SeenSettings | SeenLabel = None
    after: RoutingSettings | str | None = None

    def to_json(self) -> dict[str, Any]:
        """This change as the JSON object documented in the README (plans and plan files)."""
        item: dict[str, Any] = {
            "action": self.action.value,
            "kind": owner_kind(self.persona_id),
            "persona_id": owner_id(self.persona_id),
            "persona_name": self.persona_name,
            "phone_number": self.phone_number,
        }
        if self.action is Action.MOVE:
            source = self.from_persona_id or ""
            item["from_kind"] = owner_kind(source)
            item["from_persona_id"] = owner_id(source)
            item["from_persona_name"] = self.from_persona_name or ""
        if self.action in NUMBER_WRITES:
            item["before"] = None if self.before is UNREAD else value_json(self.before)
            item["before_known"] = self.before is not UNREAD
            item["after"] = value_json(self.after)
        return item

    def describe(self) -> str:
        """One line: `move +1... ('Sales') from 'Support'`, `settings +1... ('Sales') to {...}`."""
        text = f"{self.action.value} {self.phone_number} "
        text += f"({owner_words(self.persona_id, self.persona_name)})"
        if self.from_persona_id is not None:
            text += f" from {owner_words(self.from_persona_id, self.from_persona_name or '')}"
        if self.action in NUMBER_WRITES:
            before = "(not shown)" if self.before is UNREAD else _json_text(self.before)
            text += f" from {before} to {_json_text(self.after)}"
        return text

    def sort_key(self) -> tuple[str, str, int, str]:
        """Persona by name then id, then attaches, moves, detaches, settings, labels; number."""
        return (self.persona_name, self.persona_id, _ACTION_ORDER[self.action], self.phone_number)


def _json_text(value: RoutingSettings | str | None) -> str:
    return json.dumps(value_json(value), ensure_ascii=False)


def value_json(value: RoutingSettings | str | None) -> Any:
    """A settings or label value as JSON: settings as an object, a label as a string."""
    return value.as_dict() if isinstance(value, RoutingSettings) else value


class ManagedPersona(NamedTuple):
    """A persona the config manages: what it has now and what it must have (for the valves)."""

    id: str
    name: str
    live: frozenset[str]
    desired: frozenset[str]


@dataclass(frozen=True)
class Plan:
    """Ordered changes, and everything a plan shows beside them: notes, findings and warnings.
    Two plans that show the same are equal: the next plan is the check of the last one."""

    changes: tuple[Change, ...]
    managed: tuple[ManagedPersona, ...] = ()
    # Owners of every number when planned, for the valves to count unmanaged personas' numbers.
    owners: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)
    pages_read: int = field(default=0, compare=False)
    listed: frozenset[str] = field(default=frozenset(), compare=False)  # the personas read
    reads: int = field(default=0, compare=False)  # requests the picture of the account took
    protected: tuple[str, ...] = ()
    # Settings that moves clear and the config does not declare, by number: shown with the move.
    settings_dropped: Mapping[str, RoutingSettings] = field(default_factory=dict, compare=False)
    # What the owners rest on beyond the persona list: numbers read again by id, and numbers
    # whose owner GET /v1/inbound and the persona list disagree on.
    confirmed: tuple[ConfirmedOwners, ...] = field(default=(), compare=False)
    disagreements: tuple[SourcesDisagree, ...] = field(default=(), compare=False)
    # What safety.assess found: valves --force lets through, protected numbers nothing does.
    valves: tuple[str, ...] = ()
    refusals: tuple[str, ...] = ()
    forced: bool = False
    # The --target names of a partial plan: only those entries of the config were planned.
    targets: tuple[str, ...] = ()
    # What the reader should know that apply does not refuse (an agent with no production pin).
    notices: tuple[str, ...] = ()
    # Where the account spells a number otherwise than E.164, the spelling its writes send.
    spellings: Mapping[str, str] = field(default_factory=dict, compare=False)

    def spelled(self, numbers: Iterable[str]) -> list[str]:
        """The numbers as the account spells them, for a write to send."""
        return [self.spellings.get(number, number) for number in numbers]

    @property
    def refused(self) -> bool:
        """True when apply would refuse this plan before any write."""
        return bool(self.refusals) or (bool(self.valves) and not self.forced)

    def warnings(self) -> list[str]:
        """The safety lines of the plan output, shown above the summary line."""
        lines = [f"Warning: {notice}" for notice in self.notices]
        lines += [f"Safety valve: {valve}: apply will need --force." for valve in self.valves]
        lines += [
            f"Protected: {problem}: apply will refuse it, --force included "
            "(remove the number from `protected:` first)."
            for problem in self.refusals
        ]
        return lines

    @property
    def is_empty(self) -> bool:
        """True when the account already matches the config."""
        return not self.changes

    def summary(self) -> dict[str, int]:
        """Number of changes of each action, every action present."""
        counts = Counter(change.action for change in self.changes)
        return {action.value: counts.get(action, 0) for action in Action}

    def summary_line(self) -> str:
        """One line, e.g. `Plan: 2 to attach, 1 to move, 1 to detach, 1 settings to write.`"""
        counts = self.summary()
        parts = [f"{counts[action]} to {action}" for action in ("attach", "move", "detach")]
        if counts["settings"]:
            parts.append(f"{counts['settings']} settings to write")
        if counts["label"]:
            parts.append(f"{counts['label']} label{'s' if counts['label'] > 1 else ''} to write")
        return f"Plan: {', '.join(parts)}."

    def _grouped(self, key: str, *actions: Action) -> dict[str, list[Change]]:
        """The changes of those actions, in plan order, per owner key in `key` (where known)."""
        grouped: dict[str, list[Change]] = {}
        for change in self.changes:
            owner = getattr(change, key)
            if change.action in actions and owner is not None:
                grouped.setdefault(owner, []).append(change)
        return grouped

    def gains(self) -> dict[str, list[str]]:
        """Per persona id, the numbers one attach call must carry (attaches and moves)."""
        return _numbers(self._grouped("persona_id", Action.ATTACH, Action.MOVE))

    def losses(self) -> dict[str, list[str]]:
        """Per persona id, the numbers one detach call must carry."""
        return _numbers(self._grouped("persona_id", Action.DETACH))

    def moves_by_source(self) -> dict[str, list[Change]]:
        """Per persona id a move takes a number from, those moves in plan order."""
        return self._grouped("from_persona_id", Action.MOVE)

    def number_writes(self) -> list[Change]:
        """The settings and label changes, in plan order."""
        return [change for change in self.changes if change.action in NUMBER_WRITES]

    def persona_names(self) -> dict[str, str]:
        """Names of every persona the plan mentions, by id."""
        names = {persona.id: persona.name for persona in self.managed}
        for change in self.changes:
            names.setdefault(change.persona_id, change.persona_name)
            if change.from_persona_id is not None:
                names.setdefault(change.from_persona_id, change.from_persona_name or "")
        return names


def _numbers(grouped: dict[str, list[Change]]) -> dict[str, list[str]]:
    return {key: [change.phone_number for change in found] for key, found in grouped.items()}
