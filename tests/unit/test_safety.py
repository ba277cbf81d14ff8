"""The safety valves and protected numbers as pure functions of a plan."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.errors import Refused
from reconciler.plan import Action, Change, ManagedPersona, Plan
from reconciler.safety import Thresholds, assess, enforce, refusal

A, B, U = "p-a", "p-b", "p-unmanaged"


def numbers(first: int, count: int) -> frozenset[str]:
    return frozenset(f"+1415555{first + offset:04d}" for offset in range(count))


def plan_of(
    *managed: ManagedPersona, changes: tuple[Change, ...] = (), protected: tuple[str, ...] = ()
) -> Plan:
    return Plan(changes=changes, managed=managed, protected=protected)


def keeping(held: frozenset[str], kept: int) -> ManagedPersona:
    """Persona A holding `held` and keeping the first `kept` of them."""
    return ManagedPersona(A, "A", held, frozenset(sorted(held)[:kept]))


def test_thresholds_layers_override_in_order_and_none_keeps() -> None:
    assert Thresholds() == Thresholds(25.0, 8, False)
    config = {"max_detach_percent": 50, "min_numbers": 3}
    flags = {"max_detach_percent": 10, "min_numbers": None, "allow_emptying": True}
    assert Thresholds().overridden(config) == Thresholds(50, 3, False)
    assert Thresholds().overridden(config).overridden(flags) == Thresholds(10, 3, True)


@pytest.mark.parametrize(
    ("held", "kept", "trips"),
    [
        (8, 6, False),  # 2 of 8 is exactly 25%: not more than 25%
        (8, 5, True),  # 3 of 8 is 37.5%
        (7, 1, False),  # fewer than 8 numbers: the percentage valve does not apply
        (100, 75, False),
        (100, 74, True),
    ],
)
def test_percentage_valve(held: int, kept: int, trips: bool) -> None:
    assessed = assess(plan_of(keeping(numbers(100, held), kept)), Thresholds())
    assert bool(assessed.valves) is trips
    assert assessed.refused is trips
    if trips:
        assert assessed.valves[0].startswith(
            f"the plan takes {held - kept} of the {held} numbers on the personas it touches"
        )


def test_a_move_between_managed_personas_counts_as_taken_away() -> None:
    held = numbers(100, 8)
    moved = frozenset(sorted(held)[:3])
    a = ManagedPersona(A, "A", held, held - moved)
    b = ManagedPersona(B, "B", frozenset(), moved)
    assessed = assess(plan_of(a, b), Thresholds())
    assert len(assessed.valves) == 1
    assert "takes 3 of the 8 numbers" in assessed.valves[0]


def moves_from_unmanaged(held: frozenset[str], moved: int) -> Plan:
    """U (unmanaged) holds `held`; the plan moves the first `moved` of them to managed A."""
    taken = sorted(held)[:moved]
    changes = tuple(Change(Action.MOVE, A, "A", number, U, "Front Desk") for number in taken)
    a = ManagedPersona(A, "A", frozenset(), frozenset(taken))
    return Plan(changes=changes, managed=(a,), owners={number: (U,) for number in held})


def test_rerouting_every_line_of_an_unmanaged_persona_trips_the_valves() -> None:
    valves = assess(moves_from_unmanaged(numbers(100, 10), 10), Thresholds()).valves
    assert valves == (
        "the plan takes 10 of the 10 numbers on the personas it touches off their persona "
        "(100%, more than the 25% allowed)",
        "the plan leaves 'Front Desk' with none of its 10 numbers",
    )


def passes(plan: Plan) -> bool:
    """Nothing trips: no valve, no protected number, so apply would not refuse it."""
    return plan.valves == () and plan.refusals == () and refusal(plan) is None


def test_a_few_numbers_moved_from_a_large_unmanaged_persona_pass() -> None:
    assert passes(assess(moves_from_unmanaged(numbers(100, 20), 2), Thresholds()))


def test_thresholds_change_the_percentage_valve() -> None:
    plan = plan_of(keeping(numbers(100, 4), 2))
    assert passes(assess(plan, Thresholds()))  # 4 numbers: under the default minimum of 8
    assert assess(plan, Thresholds(max_detach_percent=25, min_numbers=4)).valves
    assert passes(assess(plan, Thresholds(max_detach_percent=50, min_numbers=4)))


def test_emptying_a_persona_trips_a_valve_unless_allowed() -> None:
    emptied = ManagedPersona(A, "Support", numbers(100, 2), frozenset())
    already_empty = ManagedPersona(B, "Sales", frozenset(), frozenset())
    assessed = assess(plan_of(emptied, already_empty), Thresholds())
    assert assessed.valves == ("the plan leaves 'Support' with none of its 2 numbers",)
    assert passes(assess(plan_of(emptied), Thresholds(allow_emptying=True)))


def test_protected_numbers_cannot_be_detached_or_moved_away() -> None:
    changes = (
        Change(Action.ATTACH, A, "A", "+14155550100"),
        Change(Action.MOVE, A, "A", "+14155550101", U, "Legacy"),
        Change(Action.DETACH, B, "B", "+14155550102"),
    )
    protected = ("+14155550100", "+14155550101", "+14155550102")
    assessed = assess(plan_of(changes=changes, protected=protected), Thresholds())
    # Attaching a protected number that is on no persona takes it from nobody: allowed.
    assert assessed.refusals == (
        "+14155550101 is protected and the plan moves it from 'Legacy' to 'A'",
        "+14155550102 is protected and the plan detaches it from 'B'",
    )


def test_enforce_lets_valves_through_with_force_but_never_protected_numbers() -> None:
    emptying = plan_of(ManagedPersona(A, "A", numbers(100, 1), frozenset()))
    valve = assess(emptying, Thresholds())
    assert valve.refused and not valve.forced
    with pytest.raises(Refused, match="pass --force") as refused:
        enforce(valve)
    assert refused.value.exit_code == 3
    forced = assess(emptying, Thresholds(), force=True)
    assert forced.forced and not forced.refused
    assert enforce(forced) == list(forced.valves) == list(valve.valves)

    change = Change(Action.DETACH, A, "A", "+14155550100")
    plan = plan_of(changes=(change,), protected=("+14155550100",))
    guarded = assess(plan, Thresholds(), force=True)
    assert guarded.refused
    with pytest.raises(Refused, match="--force does not override this"):
        enforce(guarded)


def test_warnings_say_what_apply_will_need() -> None:
    change = Change(Action.DETACH, A, "A", "+14155550100")
    assessed = assess(
        plan_of(
            ManagedPersona(A, "A", frozenset({"+14155550100"}), frozenset()),
            changes=(change,),
            protected=("+14155550100",),
        ),
        Thresholds(),
    )
    assert assessed.warnings() == [
        "Safety valve: the plan leaves 'A' with none of its 1 number: apply will need --force.",
        "Protected: +14155550100 is protected and the plan detaches it from 'A': apply will "
        "refuse it, --force included (remove the number from `protected:` first).",
    ]


def test_an_attach_first_does_not_stop_counting_moves_and_detaches_from_an_unmanaged_persona() -> (
    None
):
    """U holds 10 numbers: 5 move to A, and 5 that A holds too are detached from U (a number on
    two personas). Sorted, A's attach of a free number comes first: all 10 must still count."""
    held = sorted(numbers(100, 10))
    moved, shared = held[:5], held[5:]
    changes = (
        Change(Action.ATTACH, A, "A", "+14155550999"),
        *(Change(Action.MOVE, A, "A", number, U, "Front Desk") for number in moved),
        *(Change(Action.DETACH, U, "Front Desk", number) for number in shared),
    )
    wanted = frozenset({"+14155550999", *moved, *shared})
    a = ManagedPersona(A, "A", frozenset(shared), wanted)
    owners = {number: (U,) for number in moved} | {number: (A, U) for number in shared}
    assessed = assess(Plan(changes=changes, managed=(a,), owners=owners), Thresholds())
    assert assessed.valves == (
        "the plan takes 10 of the 10 numbers on the personas it touches off their persona "
        "(100%, more than the 25% allowed)",
        "the plan leaves 'Front Desk' with none of its 10 numbers",
    )
    assert assessed.refused


def flagged(
    valves: tuple[str, ...] = (), refusals: tuple[str, ...] = (), forced: bool = False
) -> Plan:
    return Plan(changes=(), valves=valves, refusals=refusals, forced=forced)


@pytest.mark.parametrize(
    ("valves", "protected", "forced", "refused"),
    [
        ((), (), False, False),
        (("a valve",), (), False, True),
        (("a valve",), (), True, False),
        ((), ("a protected number",), False, True),
        ((), ("a protected number",), True, True),
    ],
)
def test_refused_unless_nothing_trips_or_force_covers_every_valve(
    valves: tuple[str, ...], protected: tuple[str, ...], forced: bool, refused: bool
) -> None:
    plan = flagged(valves, protected, forced)
    assert plan.refused is refused
    assert (refusal(plan) is not None) is refused


def test_assess_records_force_and_replaces_earlier_findings() -> None:
    stale = replace(
        plan_of(keeping(numbers(100, 8), 8)), valves=("old",), refusals=("old",), forced=True
    )
    assessed = assess(stale, Thresholds())
    assert (assessed.valves, assessed.refusals, assessed.forced) == ((), (), False)
    assert assess(stale, Thresholds(), force=True).forced is True


def test_refusal_and_enforce_say_exactly_why() -> None:
    assert refusal(flagged()) is None
    assert enforce(flagged()) == []
    two = flagged(valves=("valve one", "valve two"))
    assert refusal(two) == (
        "valve one; valve two (review the plan, then pass --force to apply it anyway)"
    )
    with pytest.raises(Refused) as refused:
        enforce(two)
    assert str(refused.value) == (
        "refused by a safety valve, nothing was written: valve one; valve two "
        "(review the plan, then pass --force to apply it anyway)"
    )
    assert enforce(flagged(valves=("valve one",), forced=True)) == ["valve one"]
    guarded = flagged(valves=("valve one",), refusals=("first", "second"), forced=True)
    assert refusal(guarded) == (
        "first; second (remove the number from `protected:` first: --force does not override this)"
    )
    with pytest.raises(Refused) as stopped:
        enforce(guarded)
    assert str(stopped.value) == (
        "refused, nothing was written: first; second (remove the number from `protected:` "
        "first: --force does not override this)"
    )


def test_emptied_personas_are_named_in_name_then_id_order() -> None:
    managed = (
        ManagedPersona("p-0", "Zed", numbers(100, 1), frozenset()),
        ManagedPersona("p-b", "Amy", numbers(110, 2), frozenset()),
        ManagedPersona(A, "Amy", numbers(120, 1), frozenset()),
    )
    assert assess(plan_of(*managed), Thresholds()).valves == (
        "the plan leaves 'Amy' with none of its 1 number",
        "the plan leaves 'Amy' with none of its 2 numbers",
        "the plan leaves 'Zed' with none of its 1 number",
    )


@pytest.mark.parametrize(("name", "shown"), [("Front Desk", "Front Desk"), ("", U)])
def test_a_persona_emptied_by_detaches_alone_is_named_or_else_given_by_id(
    name: str, shown: str
) -> None:
    """U is unmanaged and holds one number A holds too: its detach empties U."""
    number = "+14155550100"
    a = ManagedPersona(A, "A", frozenset({number}), frozenset({number}))
    plan = Plan(
        changes=(Change(Action.DETACH, U, name, number),),
        managed=(a,),
        owners={number: (A, U)},
    )
    assert assess(plan, Thresholds()).valves == (
        f"the plan leaves {shown!r} with none of its 1 number",
    )
