"""Whether a saved plan still holds for the live account: what is named, what is refused."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.errors import StalePlan
from reconciler.model import Live, LivePersona, RoutingSettings, routing_settings
from reconciler.plan import Action, Change, ManagedPersona, Plan
from reconciler.planfile import SavedPlan
from reconciler.staleness import already_applied, check_target, differences, plan_to_apply

SUPPORT, IVR, SALES = "p-support", "p-ivr", "p-sales"
N100, N101, N102 = "+14155550100", "+14155550101", "+14155550102"
NAMES = {SUPPORT: "Support", IVR: "Legacy IVR", SALES: "Sales"}
PW1 = routing_settings({"pathway_id": "pw_1"})
PW2 = routing_settings({"pathway_id": "pw_2"})


def live(*personas: LivePersona, extra: tuple[str, ...] = (), pages: int = 1) -> Live:
    numbers = {n for p in personas for n in p.numbers} | set(extra)
    return Live({p.id: p for p in personas}, frozenset(numbers), pages_read=pages)


def persona(pid: str, *numbers: str, deleted: bool = False) -> LivePersona:
    return LivePersona(pid, NAMES[pid], frozenset(numbers), deleted)


# Support has 100 and wants 101 too, which the IVR holds.
PLAN = Plan(
    changes=(Change(Action.MOVE, SUPPORT, "Support", N101, IVR, "Legacy IVR"),),
    managed=(ManagedPersona(SUPPORT, "Support", frozenset({N100}), frozenset({N100, N101})),),
    owners={N100: (SUPPORT,), N101: (IVR,)},
)
SAVED = SavedPlan("plan.json", PLAN, "https://api.bland.ai", "1.0.0", (), NAMES)
BEFORE = live(persona(SUPPORT, N100), persona(IVR, N101), persona(SALES))


def test_a_plan_for_another_api_is_refused_with_both_addresses() -> None:
    check_target(SAVED, "https://user:secret@api.bland.ai/")
    with pytest.raises(StalePlan) as refused:
        check_target(SAVED, "https://us.api.bland.ai")
    assert str(refused.value) == (
        "plan.json: the plan was made for https://api.bland.ai, not for https://us.api.bland.ai: "
        "nothing was written. Run plan again."
    )


def test_a_managed_persona_that_is_gone_is_named() -> None:
    now = live(persona(IVR, N101), persona(SALES), extra=(N100,))
    assert differences(SAVED, now) == [
        "persona 'Support' (p-support) no longer exists",
        "+14155550100 is now on no persona (it was on 'Support' when planned)",
    ]


def test_a_number_no_longer_on_the_account_is_named() -> None:
    now = live(persona(SUPPORT, N100), persona(SALES))
    assert differences(SAVED, now) == ["+14155550101 is no longer an inbound number of the account"]


@pytest.mark.parametrize(
    ("holders", "owners_text"),
    [
        ((IVR, SALES), "'Legacy IVR' and 'Sales'"),
        ((IVR, SALES, SUPPORT), "'Legacy IVR', 'Sales' and 'Support'"),
    ],
)
def test_a_number_now_held_by_several_personas_names_them_all(
    holders: tuple[str, ...], owners_text: str
) -> None:
    numbers = {SUPPORT: [N100], IVR: [], SALES: []}
    for holder in holders:
        numbers[holder].append(N101)
    now = live(*(persona(pid, *held) for pid, held in numbers.items()))
    assert differences(SAVED, now) == [
        f"+14155550101 is now on {owners_text} (it was on 'Legacy IVR' when planned)"
    ]


def test_past_twenty_differences_the_refusal_counts_the_rest() -> None:
    numbers = [f"+1415555{index:04d}" for index in range(200, 225)]
    plan = replace(PLAN, owners={**PLAN.owners, **{number: (IVR,) for number in numbers}})
    saved = replace(SAVED, plan=plan)
    now = live(persona(SUPPORT, N100), persona(IVR, N101), extra=tuple(numbers))

    with pytest.raises(StalePlan) as refused:
        plan_to_apply(saved, now)

    message = str(refused.value)
    assert message.startswith(
        "plan.json: the account changed since the plan was made, nothing was written: "
        "+14155550200 is now on no persona (it was on 'Legacy IVR' when planned); "
    )
    assert message.endswith(
        "+14155550219 is now on no persona (it was on 'Legacy IVR' when planned); "
        "and 5 more. Run plan again."
    )


def test_an_unchanged_plan_carries_what_the_account_says_now() -> None:
    now = replace(BEFORE, pages_read=3, inbound_owners={N102: "p-hidden"})

    fresh = plan_to_apply(SAVED, now)

    assert fresh.changes == PLAN.changes
    assert fresh.owners == now.owners()
    assert fresh.pages_read == 3
    assert fresh.unlisted == frozenset({"p-hidden"})


def test_an_empty_plan_is_never_already_applied() -> None:
    empty = replace(SAVED, plan=replace(PLAN, changes=()))
    assert not already_applied(empty, BEFORE)


def test_an_applied_plan_needs_every_owner_as_the_plan_leaves_it() -> None:
    after = live(persona(SUPPORT, N100, N101), persona(IVR), persona(SALES))
    held_twice = live(persona(SUPPORT, N100, N101), persona(IVR, N101), persona(SALES))

    assert already_applied(SAVED, after)
    assert not already_applied(SAVED, held_twice)


def test_changed_settings_are_named_and_a_number_moved_away_is_left_to_its_owners_line() -> None:
    """Support declared settings for 100 and 101: 100 has since moved to the IVR (named once,
    by its owners), and 101's settings were edited on the dashboard."""
    managed = ManagedPersona(
        SUPPORT,
        "Support",
        frozenset({N100, N101}),
        frozenset({N100, N101}),
        {N100: PW1, N101: None},
    )
    plan = Plan(
        changes=(),
        managed=(managed,),
        owners={N100: (SUPPORT,), N101: (SUPPORT,)},
        settings_seen={N100: PW1, N101: None},
    )
    now = live(
        LivePersona(SUPPORT, "Support", frozenset({N101}), settings={N101: PW2}),
        persona(IVR, N100),
    )
    assert differences(replace(SAVED, plan=plan), now) == [
        "+14155550100 is now on 'Legacy IVR' (it was on 'Support' when planned)",
        'the settings of +14155550101 are now {"pathway_id": "pw_2"} (they were none when planned)',
    ]


def test_a_label_that_was_empty_when_planned_is_named_as_none() -> None:
    managed = ManagedPersona(
        SUPPORT, "Support", frozenset({N100}), frozenset({N100}), labels={N100: "Front"}
    )
    plan = Plan(changes=(), managed=(managed,), owners={N100: (SUPPORT,)}, labels_seen={N100: ""})
    now = live(LivePersona(SUPPORT, "Support", frozenset({N100}), labels={N100: "Desk"}))
    assert differences(replace(SAVED, plan=plan), now) == [
        "the label of +14155550100 is now 'Desk' (it was none when planned)"
    ]


def test_a_move_after_a_number_write_in_plan_order_still_counts_as_applied() -> None:
    """Sales sorts before Support, so its settings write comes before Support's move."""
    plan = Plan(
        changes=(
            Change(Action.SETTINGS, SALES, "Sales", N100, before=None, after=PW1),
            Change(Action.MOVE, SUPPORT, "Support", N101, IVR, "Legacy IVR"),
        ),
        managed=(
            ManagedPersona(SALES, "Sales", frozenset({N100}), frozenset({N100}), {N100: PW1}),
            ManagedPersona(SUPPORT, "Support", frozenset(), frozenset({N101})),
        ),
        owners={N100: (SALES,), N101: (IVR,)},
    )
    after = live(
        LivePersona(SALES, "Sales", frozenset({N100}), settings={N100: PW1}),
        persona(SUPPORT, N101),
        persona(IVR),
    )
    assert already_applied(replace(SAVED, plan=plan), after)


@pytest.mark.parametrize(
    ("settings", "label", "applied"),
    [
        (PW2, "Front", True),
        (PW1, "Front", False),  # the settings are not written yet
        (PW2, "Old", False),  # the label is not written yet
    ],
)
def test_a_plan_is_applied_only_once_its_settings_and_labels_show(
    settings: RoutingSettings | None, label: str, applied: bool
) -> None:
    plan = Plan(
        changes=(
            Change(Action.SETTINGS, SUPPORT, "Support", N100, before=PW1, after=PW2),
            Change(Action.LABEL, SUPPORT, "Support", N100, before="Old", after="Front"),
        ),
        managed=(
            ManagedPersona(
                SUPPORT,
                "Support",
                frozenset({N100}),
                frozenset({N100}),
                {N100: PW2},
                {N100: "Front"},
            ),
        ),
        owners={N100: (SUPPORT,)},
    )
    now = live(
        LivePersona(
            SUPPORT, "Support", frozenset({N100}), settings={N100: settings}, labels={N100: label}
        )
    )
    assert already_applied(replace(SAVED, plan=plan), now) is applied


def test_a_number_write_for_a_persona_the_account_lacks_is_not_applied() -> None:
    plan = Plan(
        changes=(Change(Action.LABEL, "p-gone", "Gone", N100, before=None, after="Front"),),
        managed=(ManagedPersona(SUPPORT, "Support", frozenset({N100}), frozenset({N100})),),
        owners={N100: (SUPPORT,)},
    )
    now = live(LivePersona(SUPPORT, "Support", frozenset({N100}), labels={N100: "Front"}))
    assert already_applied(replace(SAVED, plan=plan), now) is False
