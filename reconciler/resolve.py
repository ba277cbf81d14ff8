"""Match each config entry to the one live persona or agent it names (pure); every problem is
reported at once, each at its FILE:LINE:COL."""

from __future__ import annotations

import difflib

from reconciler.errors import ConfigError, Diagnostic
from reconciler.model import (
    UNREAD,
    Desired,
    DesiredPersona,
    Live,
    LivePersona,
    owner_id,
    owner_key,
    owner_kind,
    owner_words,
)


def _resolve_one(
    entry: DesiredPersona, live: Live, by_name: dict[str, list[LivePersona]]
) -> LivePersona | str:
    """The live persona (or agent's holder) an entry names, or the reason it names none."""
    kind, name = entry.kind, entry.name or ""
    if kind == "persona":
        twin = live.twins.get(entry.id) if entry.id else None
        if entry.id is None and entry.name not in by_name:  # a twin's name, unless a persona's
            twin = next((found for found in live.twins.values() if found[0] == entry.name), None)
        if twin is not None:
            agent = live.personas[owner_key("agent", twin[1])].name
            return (
                f"persona {entry.name or entry.id!r} is the hidden persona of agent {agent!r} "
                f"({twin[1]}), which only the agent API may change: list the agent under "
                "`agents:` instead"
            )
    if entry.id is not None:
        key = owner_key(kind, entry.id)
        known = entry.id in live.agents if kind == "agent" else owner_kind(key) == "persona"
        found = live.personas.get(key) if known else None
        if found is None:
            return f"no {kind} with id {entry.id} on the account"
        if found.deleted:
            return f"persona id {entry.id} ({found.name!r}) is deleted"
        if entry.name is not None and found.name != entry.name:
            return f"{kind} id {entry.id} is named {found.name!r}, not {entry.name!r}"
    elif kind == "agent" and live.agents_incomplete:
        return (
            f"agent {entry.name!r} cannot be found by name: the account's agent list came back "
            "full (500, the most the API lists), so some agents are not in it; give its id"
        )
    elif len(candidates := by_name.get(name, [])) == 1:
        found = candidates[0]
    elif candidates:
        ids = ", ".join(sorted(owner_id(found.id) for found in candidates))
        return (
            f"{len(candidates)} active {kind}s are named {name!r} ({ids}): "
            "add the id of the one you mean"
        )
    else:
        near = difflib.get_close_matches(name, list(by_name), 3)
        close = f" (did you mean {', '.join(map(repr, near))}?)" if near else ""
        return f"no active {kind} named {name!r}{close}"
    if found.twin_of and kind == "persona":  # a twin its agent's binding does not name
        return (
            f"persona {found.name!r} ({found.id}) is tagged v2-agent:{found.twin_of}, "
            "as an agent's hidden persona is: only the agent API may change it (list the "
            "agent under `agents:`, or take the tag off the persona)"
        )
    if owner_id(found.id) in live.unverifiable and kind == "agent":
        return (
            f"cannot tell which numbers agent {found.name!r} holds: its hidden persona is not in "
            "GET /v1/personas, cannot be read by id, and GET /v1/inbound names no owners, so "
            "nothing is planned for it rather than guessed"
        )
    return found


def resolve(desired: Desired, live: Live) -> list[tuple[DesiredPersona, LivePersona]]:
    """Match every config entry to one active owner and check every number is on the account;
    ConfigError names every entry that matches none or several, and every missing number."""
    by_name: dict[str, dict[str, list[LivePersona]]] = {"persona": {}, "agent": {}}
    for owner in live.named:  # an agent's numbers are held under its key (`agent:ID`)
        by_name[owner_kind(owner.id)].setdefault(owner.name, []).append(owner)
    problems: list[Diagnostic] = []
    resolved: dict[str, tuple[DesiredPersona, LivePersona]] = {}
    for entry in desired.personas:
        match = _resolve_one(entry, live, by_name[entry.kind])
        if isinstance(match, LivePersona) and match.id in resolved:
            also = resolved[match.id][0].mark
            match = f"{entry.kind} {match.name!r} is listed twice (also at {also})"
        if isinstance(match, str):
            problems.append(Diagnostic(*entry.mark, match))
        else:
            resolved[match.id] = (entry, match)
    on_account = live.account_numbers
    marks = [(n, desired.protected_marks.get(n)) for n in desired.protected]
    marks += [
        (number, entry.number_marks.get(number, entry.mark))
        for entry, _ in resolved.values()
        if not on_account.issuperset(entry.number_set)  # one set operation in the usual case
        for number in entry.numbers
    ]
    problems += [
        Diagnostic(*mark, f"{number} is not an inbound number of this account")
        for number, mark in marks
        if mark is not None and number not in on_account
    ]
    problems += _hidden_by_agents(desired, live)
    if problems:
        raise ConfigError(problems)
    return list(resolved.values())


def _hidden_by_agents(desired: Desired, live: Live) -> list[Diagnostic]:
    """Declared numbers an owner no read shows may hold, as docs/config.md lists them: nothing is
    planned for them, for attaching one would be a move no valve saw, and taking one from an
    owner no read shows cannot be written through v1."""
    hidden = [f"agent {live.agents[agent].name!r}" for agent in sorted(live.unverifiable)]
    hidden += [*live.unseen_owners]
    hidden += [
        f"{owner_words(owner.id, owner.name)}, which lists a number as {spelling!r}"
        for owner in live.active
        for spelling, number in sorted(owner.spellings.items())
        if not number
    ]
    listed = live.listed_owners
    # Each number either kind of problem may concern, so that the usual account, where there
    # are none, is not walked number by number.
    unseen = {
        number: owner
        for number, owner in live.inbound_owners.items()
        if owner and number in listed and owner not in live.personas
    }
    free = set(live.account_numbers.difference(live.owners)) if hidden else set()
    free -= {n for n, route in live.routes.items() if route.persona_id is not UNREAD}
    problems = []
    for entry in desired.personas if unseen or free else ():
        for number in entry.numbers:
            if number in unseen:
                shown = " and ".join(owner_words(pid, live.ref(pid).name) for pid in listed[number])
                problem = (
                    f"{number} is on {shown}, but GET /v1/inbound names {unseen[number]}, which "
                    "no read shows: it may be on both, and nothing is planned for it rather "
                    "than guessed (check it in the dashboard)"
                )
            elif number in free:
                problem = (
                    f"{number} may be held by {' or '.join(hidden)}, where no read shows it: "
                    "nothing is planned for it rather than guessed"
                )
            else:
                continue
            problems.append(Diagnostic(*entry.number_marks.get(number, entry.mark), problem))
    return problems
