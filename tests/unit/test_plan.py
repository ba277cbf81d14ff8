"""A plan's own data: each change as JSON, the summary, the writes it groups, moves by source."""

from __future__ import annotations

import pytest

from reconciler.plan import Action, Change, ManagedPersona, Plan

MOVE = Change(Action.MOVE, "p-a", "A", "+14155550101", "p-u", "Front Desk")
ATTACH = Change(Action.ATTACH, "p-a", "A", "+14155550100")
DETACH = Change(Action.DETACH, "p-b", "B", "+14155550102")


@pytest.mark.parametrize(
    ("change", "json"),
    [
        (
            ATTACH,
            {
                "action": "attach",
                "kind": "persona",
                "persona_id": "p-a",
                "persona_name": "A",
                "phone_number": "+14155550100",
            },
        ),
        (
            MOVE,
            {
                "action": "move",
                "kind": "persona",
                "persona_id": "p-a",
                "persona_name": "A",
                "phone_number": "+14155550101",
                "from_kind": "persona",
                "from_persona_id": "p-u",
                "from_persona_name": "Front Desk",
            },
        ),
        (
            Change(Action.MOVE, "p-a", "A", "+14155550101"),
            {
                "action": "move",
                "kind": "persona",
                "persona_id": "p-a",
                "persona_name": "A",
                "phone_number": "+14155550101",
                "from_kind": "persona",
                "from_persona_id": "",
                "from_persona_name": "",
            },
        ),
    ],
    ids=["attach", "move", "move from an unknown persona"],
)
def test_to_json(change: Change, json: dict[str, str]) -> None:
    assert change.to_json() == json


def test_summary_gains_losses_and_names() -> None:
    plan = Plan(
        changes=(ATTACH, MOVE, DETACH),
        managed=(ManagedPersona("p-c", "C", frozenset(), frozenset()),),
    )
    assert not plan.is_empty
    assert Plan(changes=()).is_empty
    assert plan.summary() == {"attach": 1, "move": 1, "detach": 1, "settings": 0, "label": 0}
    assert plan.summary_line() == "Plan: 1 to attach, 1 to move, 1 to detach."
    assert plan.gains() == {"p-a": ["+14155550100", "+14155550101"]}
    assert plan.losses() == {"p-b": ["+14155550102"]}
    assert plan.persona_names() == {"p-c": "C", "p-a": "A", "p-u": "Front Desk", "p-b": "B"}


def test_changes_sort_by_persona_name_id_action_then_number() -> None:
    changes = [
        Change(Action.DETACH, "p-a", "A", "+14155550100"),
        Change(Action.ATTACH, "p-a", "A", "+14155550109"),
        Change(Action.MOVE, "p-a", "A", "+14155550105", "p-u", "U"),
        Change(Action.ATTACH, "p-0", "A", "+14155550199"),
        Change(Action.ATTACH, "p-z", "0", "+14155550198"),
    ]
    assert [c.phone_number for c in sorted(changes, key=Change.sort_key)] == [
        "+14155550198",
        "+14155550199",
        "+14155550109",
        "+14155550105",
        "+14155550100",
    ]


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
