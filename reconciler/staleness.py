"""Whether a saved plan still holds for the live account it is about to be applied to.

A plan file records the owners of every number it covers when it was made. Before it is
applied, the account is read again: any difference there refuses the plan with every difference
named, and an account already as the plan leaves it makes the plan apply as nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from reconciler.errors import StalePlan
from reconciler.model import UNREAD, Live, SeenLabel, SeenSettings, label_seen, same_label
from reconciler.plan import NUMBER_WRITES, ROUTING, Action, Change, Plan
from reconciler.planfile import RUN_PLAN_AGAIN, SavedPlan, public_url

_MAX_DIFFERENCES_SHOWN = 20


def check_target(saved: SavedPlan, api_base_url: str) -> None:
    """Refuse a plan made for another API base URL (another account's plan, or the simulator's)."""
    if public_url(api_base_url) != saved.api_base_url:
        raise StalePlan(
            f"{saved.path}: the plan was made for {saved.api_base_url}, not for "
            f"{public_url(api_base_url)}: nothing was written. {RUN_PLAN_AGAIN}"
        )


def _owners_text(ids: Iterable[str], names: Mapping[str, str]) -> str:
    shown = [repr(names.get(pid) or pid) for pid in sorted(ids, key=lambda p: (names.get(p), p))]
    if not shown:
        return "no persona"
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def differences(saved: SavedPlan, live: Live) -> list[str]:
    """Every way the live account differs from what the plan's fingerprint recorded."""
    plan = saved.plan
    names_now = {persona.id: persona.name for persona in live.personas.values()}
    owners_now = live.owners()
    found: list[str] = []
    for persona in plan.managed:
        current = live.personas.get(persona.id)
        name = saved.names.get(persona.id, persona.name)
        if current is None:
            found.append(f"persona {name!r} ({persona.id}) no longer exists")
        elif current.deleted:
            found.append(f"persona {name!r} ({persona.id}) has been deleted")
    for number, planned in sorted(plan.owners.items()):
        if number not in live.account_numbers:
            found.append(f"{number} is no longer an inbound number of the account")
            continue
        now = owners_now.get(number, ())
        if set(now) != set(planned):
            found.append(
                f"{number} is now on {_owners_text(now, names_now)} "
                f"(it was on {_owners_text(planned, saved.names)} when planned)"
            )
    for persona in plan.managed:
        current = live.personas.get(persona.id)
        if current is None or current.deleted:
            continue
        for number in sorted(current.numbers - persona.live - plan.owners.keys()):
            found.append(
                f"{number} is now on {current.name!r} (it was on no managed persona when planned)"
            )
    found.extend(declared_differences(saved, live, owners_now))
    return found


def _seen_text(value: SeenSettings | SeenLabel) -> str:
    if value is UNREAD:
        return "not shown"
    if value is None or value == "":
        return "none"
    return str(value) if not isinstance(value, str) else repr(value)


def declared_differences(
    saved: SavedPlan, live: Live, owners_now: Mapping[str, tuple[str, ...]]
) -> list[str]:
    """How the settings and labels the config declares differ from when the plan was made.

    A dashboard edit of one of them makes the plan's `before` wrong, and its writes would
    overwrite what the reviewer never saw.
    """
    plan = saved.plan
    found: list[str] = []
    declared_on = {number: persona.id for persona in plan.managed for number in persona.settings}
    for number, planned in sorted(plan.settings_seen.items()):
        current = live.personas.get(declared_on.get(number, ""))
        if current is None or number not in current.numbers:
            continue  # moved or gone: the owners above say so
        now = current.settings_of(number)
        if now != planned:
            found.append(
                f"the settings of {number} are now {_seen_text(now)} "
                f"(they were {_seen_text(planned)} when planned)"
            )
    for number, planned_label in sorted(plan.labels_seen.items()):
        now_label = label_seen(live, owners_now, number)
        unchanged = (
            now_label is planned_label
            if UNREAD in (now_label, planned_label)
            else (now_label or "") == (planned_label or "")
        )
        if not unchanged:
            found.append(
                f"the label of {number} is now {_seen_text(now_label)} "
                f"(it was {_seen_text(planned_label)} when planned)"
            )
    return found


def _owners_after(plan: Plan) -> dict[str, set[str]]:
    """The owners of every covered number once the plan has been applied."""
    after = {number: set(ids) for number, ids in plan.owners.items()}
    for change in plan.changes:
        if change.action not in ROUTING:
            continue
        owners = after.setdefault(change.phone_number, set())
        if change.action is Action.DETACH:
            owners.discard(change.persona_id)
        else:
            if change.from_persona_id is not None:
                owners.discard(change.from_persona_id)
            owners.add(change.persona_id)
    return after


def already_applied(saved: SavedPlan, live: Live) -> bool:
    """True when the account is exactly as the plan leaves it (it was applied already)."""
    plan = saved.plan
    if plan.is_empty:
        return False
    for persona in plan.managed:
        current = live.personas.get(persona.id)
        if current is None or current.deleted or current.numbers != persona.desired:
            return False
    owners_now = live.owners()
    return all(
        set(owners_now.get(number, ())) == owners for number, owners in _owners_after(plan).items()
    ) and all(_written(change, live) for change in plan.changes if change.action in NUMBER_WRITES)


def _written(change: Change, live: Live) -> bool:
    """True when the live account shows what a settings or label change writes."""
    persona = live.personas.get(change.persona_id)
    if persona is None or change.phone_number not in persona.numbers:
        return False
    if change.action is Action.LABEL:
        label = persona.label_of(change.phone_number)
        return isinstance(change.after, str) and same_label(label, change.after)
    seen = persona.settings_of(change.phone_number)
    return seen is not UNREAD and seen == change.after


def plan_to_apply(saved: SavedPlan, live: Live) -> Plan:
    """The saved plan, checked against the live account, ready for the applier.

    Raises StalePlan naming every difference when anything the fingerprint covers changed.
    An already applied plan comes back with no changes, so that applying it twice writes once.
    """
    if already_applied(saved, live):
        settled = tuple(replace(persona, live=persona.desired) for persona in saved.plan.managed)
        return replace(
            saved.plan,
            changes=(),
            managed=settled,
            owners=live.owners(),
            pages_read=live.pages_read,
            unlisted=live.unlisted_owners(),
        )
    found = differences(saved, live)
    if found:
        shown = found[:_MAX_DIFFERENCES_SHOWN]
        if len(found) > len(shown):
            shown.append(f"and {len(found) - len(shown)} more")
        raise StalePlan(
            f"{saved.path}: the account changed since the plan was made, nothing was written: "
            + "; ".join(shown)
            + f". {RUN_PLAN_AGAIN}"
        )
    return replace(
        saved.plan,
        owners=live.owners(),
        pages_read=live.pages_read,
        unlisted=live.unlisted_owners(),
    )
