"""Safety checks' behaviours that mutation testing found no other test pinning down."""

from __future__ import annotations

import pytest

from reconciler.plan import Action, Change, Plan
from reconciler.safety import Thresholds, assess

A = "p-a"
N100, N101 = "+14155550100", "+14155550101"


@pytest.mark.parametrize(
    ("source", "source_name", "words"),
    [
        ("p-u", "Front Desk", "'Front Desk'"),
        ("p-u", None, "'p-u'"),  # a source with no name is named by its id
        (None, None, "''"),  # a saved plan's move may name no source
    ],
)
def test_a_protected_move_names_its_source(
    source: str | None, source_name: str | None, words: str
) -> None:
    move = Change(Action.MOVE, A, "A", N100, source, source_name)
    plan = assess(Plan(changes=(move,), protected=(N100,)), Thresholds())
    assert plan.refusals == (f"{N100} is protected and the plan moves it from {words} to 'A'",)


def test_every_change_is_checked_for_protected_numbers() -> None:
    # A change of an unprotected number first does not end the check.
    changes = (
        Change(Action.DETACH, A, "A", N100),
        Change(Action.DETACH, A, "A", N101),
    )
    plan = assess(Plan(changes=changes, protected=(N101,)), Thresholds())
    assert plan.refusals == (f"{N101} is protected and the plan detaches it from 'A'",)
