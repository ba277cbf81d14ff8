"""Resolve the config's persona references against the live account and diff the two (pure)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from reconciler.errors import ConfigError, Diagnostic
from reconciler.model import (
    UNREAD,
    Desired,
    DesiredPersona,
    Live,
    LivePersona,
    RoutingSettings,
    SourceMark,
    label_seen,
    same_label,
)
from reconciler.plan import Action, Change, ManagedPersona, Plan


def _diagnostic(mark: SourceMark, message: str) -> Diagnostic:
    return Diagnostic(mark.file, mark.line, mark.column, message)


def _resolve_one(
    entry: DesiredPersona, live: Live, by_name: dict[str, list[LivePersona]]
) -> LivePersona | str:
    """The live persona an entry names, or the reason it names none."""
    if entry.id is not None:
        persona = live.personas.get(entry.id)
        if persona is None:
            return f"no persona with id {entry.id} on the account"
        if persona.deleted:
            return f"persona id {entry.id} ({persona.name!r}) is deleted"
        if entry.name is not None and persona.name != entry.name:
            return f"persona id {entry.id} is named {persona.name!r}, not {entry.name!r}"
        return persona
    assert entry.name is not None
    candidates = by_name.get(entry.name, [])
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        ids = ", ".join(sorted(persona.id for persona in candidates))
        return (
            f"{len(candidates)} active personas are named {entry.name!r} ({ids}): "
            "add the id of the one you mean"
        )
    close = difflib.get_close_matches(entry.name, list(by_name), n=3)
    hint = f" (did you mean {', '.join(repr(name) for name in close)}?)" if close else ""
    return f"no active persona named {entry.name!r}{hint}"


def resolve(desired: Desired, live: Live) -> list[tuple[DesiredPersona, LivePersona]]:
    """Match every config entry to one active persona and check every number is on the account.

    Raises ConfigError naming every entry that matches none or several, and every missing number.
    """
    by_name: dict[str, list[LivePersona]] = {}
    for persona in live.active():
        by_name.setdefault(persona.name, []).append(persona)
    problems: list[Diagnostic] = []
    resolved: list[tuple[DesiredPersona, LivePersona]] = []
    seen: dict[str, DesiredPersona] = {}
    for entry in desired.personas:
        match = _resolve_one(entry, live, by_name)
        if isinstance(match, str):
            problems.append(_diagnostic(entry.mark, match))
            continue
        if match.id in seen:
            problems.append(
                _diagnostic(
                    entry.mark,
                    f"persona {match.name!r} is listed twice (also at {seen[match.id].mark})",
                )
            )
            continue
        seen[match.id] = entry
        resolved.append((entry, match))
        for number in entry.numbers:
            if number not in live.account_numbers:
                problems.append(
                    _diagnostic(
                        entry.number_marks.get(number, entry.mark),
                        f"{number} is not an inbound number of this account",
                    )
                )
    for number in desired.protected:
        if number not in live.account_numbers:
            mark = desired.protected_marks.get(number)
            if mark is not None:
                problems.append(
                    _diagnostic(mark, f"{number} is not an inbound number of this account")
                )
    if problems:
        raise ConfigError(problems)
    return resolved


def diff(
    resolved: Sequence[tuple[DesiredPersona, LivePersona]],
    live: Live,
    owners: dict[str, tuple[str, ...]] | None = None,
) -> list[Change]:
    """The changes that make every managed persona hold exactly its declared numbers.

    Personas whose number sets already match are skipped by a set comparison, so deepdiff only
    sees the ones that differ, keyed by number: a converged account costs one pass of set checks.
    `owners` is live.owners(), passed in when the caller has it already.
    """
    if owners is None:
        owners = live.owners()
    # Numbers on more than one persona (a non-exclusive attach); normally none, which the
    # count shows without looking at every number.
    held_count = sum(len(p.numbers) for p in live.personas.values() if not p.deleted)
    shared = (
        frozenset(number for number, held in owners.items() if len(held) > 1)
        if held_count != len(owners)
        else frozenset()
    )
    names = {persona.id: persona.name for persona in live.personas.values()}
    live_view: dict[str, dict[str, bool]] = {}
    desired_view: dict[str, dict[str, bool]] = {}
    changes: list[Change] = []
    for entry, persona in resolved:
        desired_numbers = frozenset(entry.numbers)
        if desired_numbers != persona.numbers:
            # Only the numbers on one side: deepdiff costs tens of microseconds per item it
            # walks, and the numbers both sides share can never be in its report.
            live_view[persona.id] = dict.fromkeys(sorted(persona.numbers - desired_numbers), True)
            desired_view[persona.id] = dict.fromkeys(
                sorted(desired_numbers - persona.numbers), True
            )
        for number in desired_numbers & persona.numbers & shared if shared else ():
            # Already here, but also held elsewhere (a non-exclusive attach): detach it there.
            # Attaching it here again could reset its per-number settings (the docs leave that
            # open), so the number is not written here at all.
            others = [owner for owner in owners.get(number, ()) if owner != persona.id]
            changes.extend(_detach_from(others, number, names))
    if not live_view:
        return sorted(changes, key=Change.sort_key)
    # Imported here: a converged account never needs deepdiff, and importing it costs ~40 ms.
    from deepdiff import DeepDiff

    report = DeepDiff(live_view, desired_view, view="tree", threshold_to_diff_deeper=0)
    wanted_by = {number: persona.id for entry, persona in resolved for number in entry.numbers}
    for level in report.get("dictionary_item_added", []):
        persona_id, number = level.path(output_format="list")
        persona = live.personas[persona_id]
        others = [owner for owner in owners.get(number, ()) if owner != persona_id]
        if others:
            changes.append(_move(persona, number, others[0], names))
            changes.extend(_detach_from(others[1:], number, names))
        else:
            changes.append(Change(Action.ATTACH, persona_id, persona.name, number))
    for level in report.get("dictionary_item_removed", []):
        persona_id, number = level.path(output_format="list")
        if wanted_by.get(number) not in (None, persona_id):
            continue  # the persona that wants it takes it with its attach: a move, not a detach
        changes.append(Change(Action.DETACH, persona_id, live.personas[persona_id].name, number))
    return sorted(changes, key=Change.sort_key)


def _detach_from(owners: Sequence[str], number: str, names: dict[str, str]) -> list[Change]:
    """Detaches of a number from extra owners (it can only be on one persona when done)."""
    return [Change(Action.DETACH, owner, names.get(owner, ""), number) for owner in owners]


def _move(persona: LivePersona, number: str, source: str, names: dict[str, str]) -> Change:
    return Change(Action.MOVE, persona.id, persona.name, number, source, names.get(source, ""))


def settings_changes(
    resolved: Sequence[tuple[DesiredPersona, LivePersona]],
    live: Live,
    owners: dict[str, tuple[str, ...]],
) -> list[Change]:
    """The settings and label writes that give each number what its mapping entry declares.

    A number not yet on its persona arrives by an attach or a move, which leaves it with no
    settings (a detach clears them): its `before` is None. A value the API did not show is
    written, as it cannot be known to match. Plain entries declare nothing and get nothing.
    """
    changes: list[Change] = []
    for entry, persona in resolved:
        for number, wanted in entry.settings.items():
            before = persona.settings_of(number) if number in persona.numbers else None
            if before is UNREAD or before != wanted:
                changes.append(
                    Change(
                        Action.SETTINGS,
                        persona.id,
                        persona.name,
                        number,
                        before=before,
                        after=wanted,
                    )
                )
        for number, label in entry.labels.items():
            seen = label_seen(live, owners, number)
            if not same_label(seen, label):
                changes.append(
                    Change(Action.LABEL, persona.id, persona.name, number, before=seen, after=label)
                )
    return changes


def settings_dropped(
    resolved: Sequence[tuple[DesiredPersona, LivePersona]],
    live: Live,
    owners: dict[str, tuple[str, ...]],
) -> dict[str, RoutingSettings]:
    """Numbers a move takes from a persona where they have settings the config does not declare.

    The move clears them (a detach does, and so may the API's reassignment): the plan says so,
    as the config can keep them only by declaring them.
    """
    dropped: dict[str, RoutingSettings] = {}
    for entry, persona in resolved:
        for number in entry.numbers:
            if number in persona.numbers or number in entry.settings:
                continue
            for owner in owners.get(number, ()):
                source = live.personas.get(owner)
                seen = source.settings_of(number) if source is not None else None
                if isinstance(seen, RoutingSettings):
                    dropped[number] = seen
                    break
    return dropped


def build_plan(desired: Desired, live: Live) -> Plan:
    """Resolve references, then diff desired against live into an ordered Plan."""
    resolved = resolve(desired, live)
    owners = live.owners()
    changes = diff(resolved, live, owners)
    changes = sorted(changes + settings_changes(resolved, live, owners), key=Change.sort_key)
    managed = tuple(
        ManagedPersona(persona.id, persona.name, persona.numbers, frozenset(entry.numbers))
        for entry, persona in resolved
    )
    return Plan(
        changes=tuple(changes),
        managed=managed,
        owners=owners,
        pages_read=live.pages_read,
        reads=live.reads,
        protected=desired.protected,
        settings_dropped=settings_dropped(resolved, live, owners),
    )
