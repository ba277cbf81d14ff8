"""Match each config entry to the one live persona or agent it names (pure).

Every problem is reported at once, at the entry's FILE:LINE:COL: an entry that names no owner
of its kind, or several, a persona entry naming an agent's hidden twin, an owner listed twice, a
number not on the account, and a declared number that may sit unseen on an agent no read shows,
or on an owner only GET /v1/inbound names.
"""

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
    if entry.kind == "agent":
        return _resolve_agent(entry, live)
    twin = live.twins.get(entry.id) if entry.id else None
    if entry.id is None and entry.name not in by_name:  # a twin's name, unless a persona's too
        twin = next((found for found in live.twins.values() if found[0] == entry.name), None)
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
    else:
        assert entry.name is not None
        named = _one_named(entry.name, by_name.get(entry.name, []), list(by_name), "persona")
        if isinstance(named, str):
            return named
        persona = named
    if persona.twin_of:  # a twin its agent's binding does not name may still be one
        return (
            f"persona {persona.name!r} ({persona.id}) is tagged v2-agent:{persona.twin_of}, "
            "as an agent's hidden persona is: only the agent API may change it (list the "
            "agent under `agents:`, or take the tag off the persona)"
        )
    return persona


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
    resolved: dict[str, tuple[DesiredPersona, LivePersona]] = {}
    for entry in desired.personas:
        match = _resolve_one(entry, live, by_name)
        if isinstance(match, str):
            problems.append(Diagnostic(*entry.mark, match))
        elif match.id in resolved:
            also = resolved[match.id][0].mark
            twice = f"{entry.kind} {match.name!r} is listed twice (also at {also})"
            problems.append(Diagnostic(*entry.mark, twice))
        else:
            resolved[match.id] = (entry, match)
    on_account = live.account_numbers
    marks = [(n, desired.protected_marks.get(n)) for n in desired.protected]
    marks += [
        (number, entry.number_marks.get(number, entry.mark))
        for entry, _ in resolved.values()
        if not on_account.issuperset(entry.numbers)  # one set operation in the usual case
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
    """Declared numbers an owner no read shows may hold: nothing is planned for them.

    One that looks free may sit on an agent whose numbers cannot be read, or on an owner that
    lists a number in a spelling that cannot be read as a phone number: attaching it would take
    it from that owner unawares (a move no valve and no `protected:` saw), unless its own record
    says no persona holds it. One the listing shows on a persona while GET /v1/inbound names an
    owner no read shows may be on both (a non-exclusive attach leaves it so), and that owner
    (an unlisted agent's twin, say) can be neither read nor written through v1.
    """
    hidden = [f"agent {live.agents[agent].name!r}" for agent in sorted(live.unverifiable)]
    if live.agents_incomplete and not live.twins_listed:
        hidden.append("an agent past the 500 GET /v2/agents lists")
    hidden += [
        f"{owner_words(owner.id, owner.name)}, which lists a number as {spelling!r}"
        for owner in live.active()
        for spelling, number in sorted(owner.spellings.items())
        if not number
    ]
    owners, listed = live.owners(), live.listed_owners()
    problems = []
    for entry in desired.personas:
        for number in entry.numbers:
            mark = entry.number_marks.get(number, entry.mark)
            hinted = live.inbound_owners.get(number, "") if number in listed else ""
            if hinted and hinted not in live.personas:
                shown = " and ".join(owner_words(pid, live.ref(pid).name) for pid in listed[number])
                problems.append(
                    Diagnostic(
                        *mark,
                        f"{number} is on {shown}, but GET /v1/inbound names {hinted}, which no "
                        "read shows: it may be on both, and nothing is planned for it rather "
                        "than guessed (check it in the dashboard)",
                    )
                )
            elif (
                hidden
                and number in live.account_numbers
                and number not in owners
                and (number not in live.routes or live.routes[number].persona_id is UNREAD)
            ):
                problems.append(
                    Diagnostic(
                        *mark,
                        f"{number} may be held by {' or '.join(hidden)}, where no read shows "
                        "it: nothing is planned for it rather than guessed",
                    )
                )
    return problems
