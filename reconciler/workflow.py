"""From config files or a saved plan to a plan checked against the live account.

Never prints and never chooses an exit status: every refusal is an exception (errors.py).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Protocol

from reconciler.confirm import confirm_owners, relisted
from reconciler.errors import InputError, StalePlan
from reconciler.model import Desired, Live, LivePersona
from reconciler.plan import NUMBER_WRITES, Action, Change, Plan, value_json
from reconciler.planfile import SavedPlan, is_plan_file
from reconciler.planner import build_plan
from reconciler.staleness import check_target, plan_to_apply

# How many differences a refusal names before "and N more".
MAX_DIFFERENCES_SHOWN = 5


class AccountReader(Protocol):
    """What planning needs of the API client: where it points, and one read of the account."""

    @property
    def base_url(self) -> str: ...

    def read_live(self) -> Live: ...

    def get_persona(self, persona_id: str) -> LivePersona: ...

    def list_personas(self, pages_hint: int = 0) -> tuple[dict[str, LivePersona], int]: ...


def refuse_saved_plans(files: Sequence[str]) -> None:
    """A saved plan is not a config: say what it is instead of a dozen schema errors about it."""
    plans = [file for file in files if is_plan_file(file)]
    if plans:
        raise InputError(
            "\n".join(
                f"{file}: this is a saved plan, not a config file: "
                f"apply it with 'reconciler apply {file}'"
                for file in plans
            )
        )


def saved_plan_among(files: Sequence[str]) -> str | None:
    """The plan file among the arguments (recognised by its content), if there is one."""
    plans = [file for file in files if is_plan_file(file)]
    if not plans:
        return None
    if len(files) > 1:
        raise InputError(f"{plans[0]}: a plan file is applied alone, without config files")
    return plans[0]


def read_confirmed(account: AccountReader, protected: Collection[str] = ()) -> Live:
    """One read of the account, with every number the list shows on two personas confirmed by id.

    A `protected` number the list shows on no persona may have moved onto a page already read:
    then the personas are listed once more, so that taking it is never a plain attach unawares.
    """
    live = confirm_owners(account.read_live(), account.get_persona)
    if protected:
        owners = live.owners()
        looks_free = [number for number in protected if number not in owners]
        if looks_free:
            listing, _ = account.list_personas(live.pages_read)
            live = confirm_owners(relisted(live, listing, looks_free), account.get_persona)
    return live


def with_owner_findings(plan: Plan, live: Live) -> Plan:
    """The plan, saying what its picture of the owners rests on beyond the persona list.

    Numbers confirmed by id, and the numbers it concerns (changed, declared or protected) whose
    owner GET /v1/inbound and the persona list disagree on.
    """
    concerned = {change.phone_number for change in plan.changes}.union(
        plan.protected, *(persona.desired for persona in plan.managed)
    )
    disagreements = tuple(
        found for found in live.disagreements() if found.phone_number in concerned
    )
    return replace(plan, confirmed=live.confirmed, disagreements=disagreements)


def plan_from_config(desired: Desired, account: AccountReader) -> Plan:
    """The changes that make the live account match the config."""
    declared = {number for entry in desired.personas for number in entry.numbers}
    live = read_confirmed(account, sorted(declared.intersection(desired.protected)))
    return with_owner_findings(build_plan(desired, live), live)


def plan_from_saved(saved: SavedPlan, account: AccountReader) -> Plan:
    """A saved plan checked against its target and a fresh read of the account (StalePlan if not).

    A plan already applied comes back with no changes.
    """
    check_target(saved, account.base_url)
    attached = {
        change.phone_number for change in saved.plan.changes if change.action is Action.ATTACH
    }
    live = read_confirmed(account, sorted(attached.intersection(saved.plan.protected)))
    return with_owner_findings(plan_to_apply(saved, live), live)


def check_unchanged(shown: Plan, fresh: Plan) -> None:
    """Refuse when the account changed while the user read the plan: apply only what was shown."""
    if fresh.changes == shown.changes:
        return
    before, after = set(shown.changes), set(fresh.changes)
    differ = [
        f"no longer {_describe_change(change)}"
        for change in sorted(before - after, key=Change.sort_key)
    ] + [
        f"now also {_describe_change(change)}"
        for change in sorted(after - before, key=Change.sort_key)
    ]
    shown_differ = "; ".join(differ[:MAX_DIFFERENCES_SHOWN])
    if len(differ) > MAX_DIFFERENCES_SHOWN:
        shown_differ += f"; and {len(differ) - MAX_DIFFERENCES_SHOWN} more"
    raise StalePlan(
        f"the account changed while the plan waited for confirmation ({shown_differ}): "
        "nothing was written. Run apply again to see the new plan."
    )


def _describe_change(change: Change) -> str:
    text = f"{change.action.value} {change.phone_number} ({change.persona_name!r})"
    if change.from_persona_name is not None:
        text += f" from {change.from_persona_name!r}"
    if change.action in NUMBER_WRITES:
        text += f" to {json.dumps(value_json(change.after), ensure_ascii=False)}"
    return text
