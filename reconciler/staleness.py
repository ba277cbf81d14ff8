"""Whether a saved plan still holds for the live account it is about to be applied to.

A plan file records the owners of every number it covers when it was made. Before it is
applied, the account is read again: any difference there refuses the plan with every difference
named, and an account already as the plan leaves it makes the plan apply as nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from reconciler.errors import StalePlan
from reconciler.model import Live
from reconciler.plan import Action, Plan
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
    return found


def _owners_after(plan: Plan) -> dict[str, set[str]]:
    """The owners of every covered number once the plan has been applied."""
    after = {number: set(ids) for number, ids in plan.owners.items()}
    for change in plan.changes:
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
    )


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
