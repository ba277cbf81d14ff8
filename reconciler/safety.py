"""Safety valves and protected numbers, pure functions of the plan: a config edited by mistake
makes a valid plan that detaches lines people call, so plan and apply refuse a plan that takes
many numbers off their persona unless `--force` is given, and protected numbers even then."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from reconciler.errors import Refused
from reconciler.model import owner_kind, owner_words
from reconciler.plan import Action, Plan


@dataclass(frozen=True)
class Thresholds:
    """The valve thresholds in force, every value decided."""

    max_detach_percent: float = 25.0
    min_numbers: int = 8
    allow_emptying: bool = False

    def overridden(self, given: Mapping[str, Any]) -> Thresholds:
        """These thresholds with each value `given` (the config's `safety:`, the flags) instead;
        None keeps this one."""
        return replace(self, **{name: value for name, value in given.items() if value is not None})


def assess(plan: Plan, thresholds: Thresholds, *, force: bool = False) -> Plan:
    """The plan with what it trips: valves (`force` lets them through) and protected numbers."""
    valves, refusals = tuple(_valves(plan, thresholds)), tuple(_protected(plan))
    return replace(plan, valves=valves, refusals=refusals, forced=force)


def refusal(plan: Plan) -> str | None:
    """Why apply would refuse the plan before any write, or None when it would not."""
    if plan.refusals:
        return (
            "; ".join(plan.refusals)
            + " (remove the number from `protected:` first: --force does not override this)"
        )
    if plan.valves and not plan.forced:
        return "; ".join(plan.valves) + " (review the plan, then pass --force to apply it anyway)"
    return None


def enforce(plan: Plan) -> list[str]:
    """Raise Refused unless the plan may be applied; returns the valves --force overrode."""
    reason = refusal(plan)
    if reason is not None:
        head = "refused" if plan.refusals else "refused by a safety valve"
        raise Refused(f"{head}, nothing was written: {reason}")
    return list(plan.valves)


def _holdings(plan: Plan) -> list[tuple[str, str, frozenset[str], frozenset[str]]]:
    """(id, name, numbers now, numbers after) of each managed persona, and of each other one a
    number is moved or detached from: a one-word edit of an entry can reroute every line of a
    persona the file never mentions."""
    rows: list[tuple[str, str, frozenset[str], frozenset[str]]] = list(plan.managed)
    managed = {p.id for p in plan.managed}
    sources: dict[str, tuple[str, set[str]]] = {}
    for change in plan.changes:
        is_move = change.action is Action.MOVE
        source = change.from_persona_id if is_move else change.persona_id
        name = change.from_persona_name if is_move else change.persona_name
        if (is_move or change.action is Action.DETACH) and source and source not in managed:
            sources.setdefault(source, (name or source, set()))[1].add(change.phone_number)
    now: dict[str, set[str]] = {source: set() for source in sources}
    for number, owners in plan.owners.items() if sources else ():
        for owner in owners:
            if owner in now:
                now[owner].add(number)
    for source, (name, moved) in sources.items():
        held = frozenset(now[source] | moved)
        rows.append((source, name, held, held - moved))
    return rows


def _valves(plan: Plan, thresholds: Thresholds) -> list[str]:
    rows = _holdings(plan)
    # A number is taken when a persona has it now and not after: a detach, or a move to another
    # persona (managed or not); both take a line off the persona answering it. A plan that
    # takes none trips no valve, and the numbers held are not even gathered.
    taken = frozenset().union(*(now - after for _, _, now, after in rows if not now <= after))
    if not taken:
        return []
    found: list[str] = []
    held = frozenset().union(*(now for _, _, now, _ in rows))
    percent = thresholds.max_detach_percent
    if len(held) >= thresholds.min_numbers and len(taken) * 100 > percent * len(held):
        found.append(
            f"the plan takes {len(taken)} of the {len(held)} numbers on the personas it touches "
            f"off their persona ({len(taken) * 100 / len(held):.0f}%, more than the "
            f"{percent:g}% allowed)"
        )
    emptied = [row for row in rows if row[2] and not row[3] and not thresholds.allow_emptying]
    for key, name, now, _ in sorted(emptied, key=lambda row: (row[1], row[0])):
        # A pathway or a prompt bound to a number is no owner to leave without numbers.
        if owner_kind(key) in ("persona", "agent"):
            found.append(
                f"the plan leaves {owner_words(key, name)} with none of its "
                + ("1 number" if len(now) == 1 else f"{len(now)} numbers")
            )
    return found


def _protected(plan: Plan) -> list[str]:
    guarded = frozenset(plan.protected)
    found = []
    for change in plan.changes:
        if change.phone_number not in guarded or change.action not in (Action.DETACH, Action.MOVE):
            continue
        owner = owner_words(change.persona_id, change.persona_name)
        does = f"detaches it from {owner}"
        if change.action is Action.MOVE:
            source = owner_words(change.from_persona_id or "", change.from_persona_name or "")
            does = f"moves it from {source} to {owner}"
        found.append(f"{change.phone_number} is protected and the plan {does}")
    return found
