"""Plan.moves_by_source: moves grouped by the persona they take a number from."""

from __future__ import annotations

from reconciler.plan import Action, Change, Plan

SUPPORT, SALES, IVR, OLD = "p-support", "p-sales", "p-ivr", "p-old"


def move(persona_id: str, number: str, source: str) -> Change:
    return Change(Action.MOVE, persona_id, persona_id.title(), number, source, source.title())


def test_moves_are_grouped_by_their_source_in_plan_order() -> None:
    first = move(SALES, "+14155550110", IVR)
    second = move(SUPPORT, "+14155550102", OLD)
    third = move(SUPPORT, "+14155550101", IVR)
    plan = Plan((first, second, third))

    grouped = plan.moves_by_source()

    assert grouped == {IVR: [first, third], OLD: [second]}
    assert list(grouped) == [IVR, OLD]


def test_attaches_and_detaches_leave_no_persona_behind() -> None:
    plan = Plan(
        (
            Change(Action.ATTACH, SUPPORT, "Support", "+14155550101"),
            Change(Action.DETACH, SUPPORT, "Support", "+14155550103"),
            Change(Action.DETACH, IVR, "Legacy IVR", "+14155550102"),
        )
    )

    assert plan.moves_by_source() == {}


def test_a_move_with_no_known_source_is_left_out() -> None:
    sourceless = Change(Action.MOVE, SUPPORT, "Support", "+14155550102")
    known = move(SUPPORT, "+14155550104", IVR)

    assert Plan((sourceless, known)).moves_by_source() == {IVR: [known]}


def test_an_empty_plan_has_no_sources() -> None:
    assert Plan(()).moves_by_source() == {}
