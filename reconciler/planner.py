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
    owner_id,
    owner_key,
    owner_kind,
    same_label,
)
from reconciler.plan import Action, Change, ManagedPersona, Plan
from reconciler.text import printable


def _diagnostic(mark: SourceMark, message: str) -> Diagnostic:
    return Diagnostic(mark.file, mark.line, mark.column, message)


def _resolve_one(
    entry: DesiredPersona, live: Live, by_name: dict[str, list[LivePersona]]
) -> LivePersona | str:
    """The live persona (or agent's holder) an entry names, or the reason it names none."""
    if entry.kind == "agent":
        return _resolve_agent(entry, live)
    twin = live.twins.get(entry.id or "") or next(
        (found for found in live.twins.values() if entry.id is None and found[0] == entry.name),
        None,
    )
    if twin is not None:
        agent = live.agents[twin[1]]
        return (
            f"persona {entry.name or entry.id!r} is the hidden "
            f"persona of agent {agent.name!r} ({agent.id}), which only the agent API may "
            "change: list the agent under `agents:` instead"
        )
    if entry.id is not None:
        persona = live.personas.get(entry.id) if owner_kind(entry.id) == "persona" else None
        if persona is None:
            return f"no persona with id {entry.id} on the account"
        if persona.deleted:
            return f"persona id {entry.id} ({persona.name!r}) is deleted"
        if entry.name is not None and persona.name != entry.name:
            return f"persona id {entry.id} is named {persona.name!r}, not {entry.name!r}"
        return persona
    assert entry.name is not None
    return _one_named(entry.name, by_name.get(entry.name, []), list(by_name), "persona")


def _resolve_agent(entry: DesiredPersona, live: Live) -> LivePersona | str:
    """The holder of an agent entry's numbers (`agent:ID`), or the reason there is none."""
    if entry.id is not None:
        agent = live.agents.get(entry.id)
        if agent is None:
            return f"no agent with id {entry.id} on the account"
        if entry.name is not None and agent.name != entry.name:
            return f"agent id {entry.id} is named {agent.name!r}, not {entry.name!r}"
    elif live.agents_incomplete:
        return (
            f"agent {entry.name!r} cannot be found by name: the account's agent list came back "
            "full (500, the most the API lists), so some agents are not in it; give its id"
        )
    else:
        by_name: dict[str, list[LivePersona]] = {}
        for found in live.agents.values():
            by_name.setdefault(found.name, []).append(live.personas[owner_key("agent", found.id)])
        assert entry.name is not None
        match = _one_named(entry.name, by_name.get(entry.name, []), list(by_name), "agent")
        if isinstance(match, str):
            return match
        agent = live.agents[owner_id(match.id)]
    if agent.id in live.unverifiable:
        return (
            f"cannot tell which numbers agent {agent.name!r} holds: its hidden persona is not in "
            "GET /v1/personas, cannot be read by id, and GET /v1/inbound names no owners, so "
            "nothing is planned for it rather than guessed"
        )
    return live.personas[owner_key("agent", agent.id)]


def _one_named(
    name: str, candidates: list[LivePersona], names: list[str], kind: str
) -> LivePersona | str:
    """The one active owner of a kind with that name, or why there is not exactly one."""
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        ids = ", ".join(sorted(owner_id(found.id) for found in candidates))
        return (
            f"{len(candidates)} active {kind}s are named {name!r} ({ids}): "
            "add the id of the one you mean"
        )
    close = difflib.get_close_matches(name, names, n=3)
    hint = (
        f" (did you mean {', '.join(repr(close_name) for close_name in close)}?)" if close else ""
    )
    return f"no active {kind} named {name!r}{hint}"


def resolve(desired: Desired, live: Live) -> list[tuple[DesiredPersona, LivePersona]]:
    """Match every config entry to one active persona and check every number is on the account.

    Raises ConfigError naming every entry that matches none or several, and every missing number.
    """
    by_name: dict[str, list[LivePersona]] = {}
    for persona in live.active():
        if owner_kind(persona.id) == "persona":
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
                    f"{entry.kind} {match.name!r} is listed twice (also at {seen[match.id].mark})",
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
    problems.extend(_hidden_by_agents(desired, live))
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


def _hidden_by_agents(desired: Desired, live: Live) -> list[Diagnostic]:
    """Declared numbers that may sit, unseen, on an agent whose numbers no read shows.

    Such a number looks free, and attaching it would take it from that agent unawares (a move no
    valve and no `protected:` saw): unless its own record says no persona holds it, nothing is
    planned for it.
    """
    past_the_list = live.agents_incomplete and not live.twins_listed
    if not live.unverifiable and not past_the_list:
        return []
    owners = live.owners()
    hidden = [f"agent {live.agents[agent].name!r}" for agent in sorted(live.unverifiable)]
    if past_the_list:
        hidden.append("an agent past the 500 GET /v2/agents lists")
    return [
        _diagnostic(
            entry.number_marks.get(number, entry.mark),
            f"{number} may be held by {' or '.join(hidden)}, whose numbers no read shows: "
            "nothing is planned for it rather than guessed",
        )
        for entry in desired.personas
        for number in entry.numbers
        if number in live.account_numbers
        and number not in owners
        and (number not in live.routes or live.routes[number].persona_id is UNREAD)
    ]


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
            before = _settings_here(persona, number)
            after = entry.settings[number]
            changes.append(
                Change(
                    Action.SETTINGS, persona.id, persona.name, number, before=before, after=after
                )
            )
        else:
            seen = label_seen(live, owners, number)
            before_label = None if seen == "" else seen  # no label, whichever way it is shown
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
        notices=(*_unpinned(resolved, live), *_unreadable(live)),
        spellings=spellings_to_send(live),
    )


def spellings_to_send(live: Live) -> dict[str, str]:
    """Per number the account spells otherwise than canonical E.164, the spelling to send.

    GET /v1/inbound's spelling, which is the account's; for a number it does not show, the
    spelling of a persona's entry.
    """
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
        for persona in live.active()
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
    found = []
    for entry, holder in resolved:
        agent = live.agents.get(owner_id(holder.id)) if entry.kind == "agent" else None
        if agent is not None and agent.production_version_id is None:
            found.append(
                f"agent {agent.name!r} has no version pinned to production: its calls run the "
                "dev version saved when a number was attached, so attach again after saving "
                "a version, or promote one"
            )
    return found
