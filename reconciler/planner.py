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
    SeenSettings,
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


# In the per-number views, a value the API did not show: it never equals a declared one.
_NOT_SHOWN = "(not shown)"


def _differs(entry: DesiredPersona, persona: LivePersona, shared: frozenset[str]) -> bool:
    """Whether a managed persona may need a change: the cheap check before the diff."""
    if frozenset(entry.numbers) != persona.numbers or persona.numbers & shared:
        return True
    if any(persona.settings_of(n) != wanted for n, wanted in entry.settings.items()):
        return True
    return any(not same_label(persona.label_of(n), label) for n, label in entry.labels.items())


def diff(
    resolved: Sequence[tuple[DesiredPersona, LivePersona]],
    live: Live,
    owners: dict[str, tuple[str, ...]] | None = None,
) -> list[Change]:
    """The changes that give each managed persona exactly its numbers, settings and labels.

    Each number of a persona that may differ gets a view on each side, its owner and what its
    entry declares (settings, label); deepdiff compares the two views and each difference it
    reports is read as a change. A persona found equal by a cheap check is left out, so a
    converged account never reaches deepdiff. `owners` is live.owners(), passed in when the
    caller has it already.
    """
    if owners is None:
        owners = live.owners()
    shared = frozenset(number for number, held in owners.items() if len(held) > 1)
    live_view: dict[str, dict[str, str]] = {}
    desired_view: dict[str, dict[str, str]] = {}
    wanted: dict[str, tuple[DesiredPersona, LivePersona]] = {}
    for entry, persona in resolved:
        if not _differs(entry, persona, shared):
            continue
        for number in (*persona.numbers, *entry.numbers):
            live_view.setdefault(number, {"owner": ",".join(owners.get(number, ()))})
        for number in entry.numbers:
            wanted[number] = (entry, persona)
            desired_view[number] = {"owner": persona.id}
            if number in entry.settings:
                live_view[number]["settings"] = _settings_text(_settings_here(persona, number))
                desired_view[number]["settings"] = _settings_text(entry.settings[number])
            if number in entry.labels:
                label = label_seen(live, owners, number)
                live_view[number]["label"] = _NOT_SHOWN if label is UNREAD else label or ""
                desired_view[number]["label"] = entry.labels[number]
    if not live_view:
        return []
    # Imported here: a converged account never needs deepdiff, and importing it costs ~40 ms.
    from deepdiff import DeepDiff

    report = DeepDiff(live_view, desired_view, view="tree", threshold_to_diff_deeper=0)
    names = {persona.id: persona.name for persona in live.personas.values()}
    managed = {persona.id for _, persona in resolved}
    changes: list[Change] = []
    for level in report.get("dictionary_item_removed", []):
        (number,) = level.path(output_format="list")
        changes.extend(_detach_from([o for o in owners[number] if o in managed], number, names))
    for level in [*report.get("values_changed", []), *report.get("type_changes", [])]:
        number, field = level.path(output_format="list")
        entry, persona = wanted[number]
        if field == "owner":
            changes.extend(_routing(persona, number, owners.get(number, ()), names))
        elif field == "settings":
            here = (
                number in persona.numbers and number in live_view and persona.id in owners[number]
            )
            before = persona.settings_of(number) if here else None
            after = entry.settings[number]
            changes.append(
                Change(
                    Action.SETTINGS, persona.id, persona.name, number, before=before, after=after
                )
            )
        else:
            before_label = label_seen(live, owners, number)
            changes.append(
                Change(
                    Action.LABEL,
                    persona.id,
                    persona.name,
                    number,
                    before=before_label,
                    after=entry.labels[number],
                )
            )
    return sorted(changes, key=Change.sort_key)


def _settings_here(persona: LivePersona, number: str) -> SeenSettings:
    """A number's settings on the persona that wants it: none until it arrives (a move clears
    them), UNREAD where the API did not show them."""
    return persona.settings_of(number) if number in persona.numbers else None


def _settings_text(value: SeenSettings) -> str:
    if value is UNREAD:
        return _NOT_SHOWN
    return "" if value is None else value.canonical


def _routing(
    persona: LivePersona, number: str, holders: Sequence[str], names: dict[str, str]
) -> list[Change]:
    """The changes that leave a number on `persona` alone: an attach, or a move and detaches."""
    others = [owner for owner in holders if owner != persona.id]
    if persona.id in holders:
        # Already here, but also held elsewhere (a non-exclusive attach): detach it there.
        # Attaching it here again could reset its per-number settings (the docs leave that
        # open), so the number is not written here at all.
        return _detach_from(others, number, names)
    if not others:
        return [Change(Action.ATTACH, persona.id, persona.name, number)]
    move = Change(
        Action.MOVE, persona.id, persona.name, number, others[0], names.get(others[0], "")
    )
    return [move, *_detach_from(others[1:], number, names)]


def _detach_from(owners: Sequence[str], number: str, names: dict[str, str]) -> list[Change]:
    """Detaches of a number from extra owners (it can only be on one persona when done)."""
    return [Change(Action.DETACH, owner, names.get(owner, ""), number) for owner in owners]


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
