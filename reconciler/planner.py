"""Diff the config against the live account into a plan (pure); resolve.py matches the entries."""

from __future__ import annotations

import json
from collections.abc import Sequence

from reconciler.model import (
    UNREAD,
    Desired,
    DesiredPersona,
    Live,
    LivePersona,
    RoutingSettings,
    SeenLabel,
    SeenSettings,
    owner_id,
    owner_kind,
    same_label,
)
from reconciler.plan import Action, Change, ManagedPersona, Plan
from reconciler.resolve import resolve
from reconciler.text import printable

# Per field a number's entry declares besides its owner (settings, label): (as it is, as wanted).
_Declared = dict[str, tuple[SeenSettings | SeenLabel, RoutingSettings | str | None]]


def _differs(entry: DesiredPersona, persona: LivePersona, shared: frozenset[str]) -> bool:
    """Whether a managed persona may need a change: the cheap check before the diff."""
    if entry.number_set != persona.numbers or persona.numbers & shared:
        return True
    if any(persona.settings_of(n) != wanted for n, wanted in entry.settings.items()):
        return True
    return any(not same_label(persona.label_of(n), label) for n, label in entry.labels.items())


def diff(
    resolved: Sequence[tuple[DesiredPersona, LivePersona]],
    live: Live,
    elsewhere: frozenset[str] = frozenset(),
) -> list[Change]:
    """The changes that give each managed persona exactly its numbers, settings and labels.

    Each number of a persona that may differ gets a view on each side (its owner, and what its
    entry declares); each difference deepdiff reports between the views is read as a change.
    """
    owners = live.owners
    shared = frozenset(live.seen_twice)
    # Owners are JSON lists on both sides, so no id can read as another owner list; a value the
    # API did not show is None, which no declared text equals.
    # The views are keyed by (number, field): one flat level is a quarter of deepdiff's work
    # of a mapping per number, and its report names the same number and field.
    live_view: dict[tuple[str, str], str | None] = {}
    desired_view: dict[tuple[str, str], str | None] = {}
    wanted: dict[str, tuple[LivePersona, _Declared]] = {}
    for entry, persona in resolved:
        if not _differs(entry, persona, shared):
            continue
        for number in (*persona.numbers, *entry.numbers):
            live_view[number, "owner"] = json.dumps(sorted(owners.get(number, ())))
        for number in entry.numbers:
            declared = _declared(entry, persona, live, number)
            wanted[number] = (persona, declared)
            desired_view[number, "owner"] = json.dumps([persona.id])
            for field, (before, after) in declared.items():
                live_view[number, field] = None if before is UNREAD else _text(before)
                desired_view[number, field] = _text(after)
    if not live_view:
        return []
    # Imported here: a converged account never needs deepdiff, and importing it costs ~40 ms.
    from deepdiff import DeepDiff

    report = DeepDiff(live_view, desired_view, view="tree", threshold_to_diff_deeper=0)
    names = {persona.id: persona.name for persona in live.personas.values()}
    managed = {persona.id for _, persona in resolved}
    changes: list[Change] = []
    unshown = any(not number for number in live.spellings.values())
    for level in report.get("dictionary_item_removed", []):
        ((number, _),) = level.path(output_format="list")
        # Left as it is: a number an entry --target left out takes (detached, it would be
        # unrouted), and one GET /v1/inbound may show only in a spelling of no phone number.
        if number in elsewhere or (unshown and number not in live.account_numbers):
            continue
        detached = [owner for owner in owners[number] if owner in managed]
        changes.extend(Change(Action.DETACH, o, names.get(o, ""), number) for o in detached)
    for level in [*report.get("values_changed", []), *report.get("type_changes", [])]:
        ((number, field),) = level.path(output_format="list")
        persona, declared = wanted[number]
        if field == "owner":
            changes.extend(_routing(persona, number, owners.get(number, ()), names))
        else:  # a settings or label write, named as the field of the views is
            before, after = declared[field]
            changes.append(
                Change(Action(field), persona.id, persona.name, number, before=before, after=after)
            )
    return sorted(changes, key=Change.sort_key)


def _declared(entry: DesiredPersona, persona: LivePersona, live: Live, number: str) -> _Declared:
    """What the entry declares of a number besides its owner: (as it is, as wanted) per field.
    Settings are the wanting persona's (none until the number arrives); an empty label is none."""
    found: _Declared = {}
    if number in entry.settings:
        here = persona.settings_of(number) if number in persona.numbers else None
        found["settings"] = (here, entry.settings[number])
    if number in entry.labels:  # any listing that shows the number's label will do
        shown = (live.personas[o].labels for o in live.owners.get(number, ()) if o in live.personas)
        seen = next((labels[number] for labels in shown if number in labels), UNREAD)
        found["label"] = (None if seen == "" else seen, entry.labels[number])
    return found


def _text(value: RoutingSettings | str | None) -> str:
    return value.canonical if isinstance(value, RoutingSettings) else value or ""


def _routing(
    persona: LivePersona, number: str, holders: Sequence[str], names: dict[str, str]
) -> list[Change]:
    """The changes that leave a number on `persona` alone: an attach, or a move and detaches."""
    others = [owner for owner in holders if owner != persona.id]
    detaches = [Change(Action.DETACH, owner, names.get(owner, ""), number) for owner in others]
    if persona.id in holders:
        # Already here, but also held elsewhere (a non-exclusive attach): detach it there.
        # Attaching it here again could reset its per-number settings (the docs leave that
        # open), so the number is not written here at all.
        return detaches
    if not others:
        return [Change(Action.ATTACH, persona.id, persona.name, number)]
    source = others[0]
    move = Change(Action.MOVE, persona.id, persona.name, number, source, names.get(source, ""))
    return [move, *detaches[1:]]


def settings_dropped(
    resolved: Sequence[tuple[DesiredPersona, LivePersona]], live: Live
) -> dict[str, RoutingSettings]:
    """Numbers a move takes from a persona where they have settings the config does not
    declare: the move clears them, and the plan says so."""
    dropped: dict[str, RoutingSettings] = {}
    for entry, persona in resolved:
        for number in () if entry.number_set <= persona.numbers else entry.numbers:
            if number in persona.numbers or number in entry.settings:
                continue
            for owner in live.owners.get(number, ()):
                source = live.personas.get(owner)
                seen = source.settings_of(number) if source is not None else None
                if isinstance(seen, RoutingSettings):
                    dropped[number] = seen
                    break
    return dropped


def build_plan(desired: Desired, live: Live) -> Plan:
    """Resolve references, then diff desired against live into an ordered Plan."""
    resolved = resolve(desired, live)
    changes = diff(resolved, live, desired.elsewhere)
    return Plan(
        changes=tuple(changes),
        managed=tuple(ManagedPersona(p.id, p.name, p.numbers, e.number_set) for e, p in resolved),
        owners=live.owners,
        pages_read=live.pages_read,
        listed=frozenset(pid for pid in live.personas if owner_kind(pid) == "persona"),
        reads=live.reads,
        protected=desired.protected,
        settings_dropped=settings_dropped(resolved, live),
        notices=(*_unpinned(resolved, live), *_unreadable(live)),
        spellings=spellings_to_send(live),
    )


def spellings_to_send(live: Live) -> dict[str, str]:
    """Per number the account spells otherwise than E.164, the spelling to send: GET
    /v1/inbound's, else (for a number it does not show) a persona entry's."""
    sent = {
        number: spelling
        for persona in live.personas.values()
        for spelling, number in persona.spellings.items()
        if number and number not in live.account_numbers
    }
    sent.update({number: spelling for spelling, number in live.spellings.items() if number})
    return sent


def _unreadable(live: Live) -> list[str]:
    """A warning for each number the account shows in a spelling that is not a phone number."""
    shown = [("GET /v1/inbound", spelling) for spelling, n in live.spellings.items() if not n]
    shown += [
        (f"persona {persona.name!r} ({persona.id})", spelling)
        for persona in live.active
        for spelling, number in persona.spellings.items()
        if not number
    ]
    return [
        f'{where} shows the number "{printable(spelling)}", which cannot be read as a phone '
        "number: nothing is planned for it (correct it in the dashboard)"
        for where, spelling in sorted(shown)
    ]


def _unpinned(resolved: Sequence[tuple[DesiredPersona, LivePersona]], live: Live) -> list[str]:
    """A warning for each managed agent with no version pinned to production."""
    agents = [live.agents.get(owner_id(p.id)) for entry, p in resolved if entry.kind == "agent"]
    return [
        f"agent {agent.name!r} has no version pinned to production: its calls run the dev "
        "version saved when a number was attached, so attach again after saving a version, "
        "or promote one"
        for agent in agents
        if agent is not None and agent.production_version_id is None
    ]
