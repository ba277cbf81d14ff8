"""A plan's behaviours that mutation testing found no other test pinning down."""

from __future__ import annotations

import pytest

from reconciler.model import UNREAD, routing_settings
from reconciler.plan import Action, Change, Plan

N100 = "+14155550100"
PW1 = routing_settings({"pathway_id": "pw_1"})


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (
            Change(Action.LABEL, "p-a", "A", N100, before="Café", after="Accueil ☎"),
            f'label {N100} (\'A\') from "Café" to "Accueil ☎"',
        ),
        (
            Change(Action.SETTINGS, "p-a", "A", N100, before=None, after=PW1),
            f'settings {N100} (\'A\') from null to {{"pathway_id": "pw_1"}}',
        ),
        (
            Change(Action.LABEL, "p-a", "A", N100, before=UNREAD, after=""),
            f"label {N100} ('A') from (not shown) to \"\"",
        ),
    ],
    ids=["label, not ASCII", "settings", "label not shown"],
)
def test_a_number_write_describes_its_values_as_json(change: Change, line: str) -> None:
    assert change.describe() == line


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (Change(Action.ATTACH, "p-a", "A", N100), f"attach {N100} ('A')"),
        (
            Change(Action.MOVE, "agent:ag-1", "Bot", N100, "p-u", "Front Desk"),
            f"move {N100} (agent 'Bot') from 'Front Desk'",
        ),
        (Change(Action.MOVE, "p-a", "", N100, "p-u"), f"move {N100} ('p-a') from 'p-u'"),
        (Change(Action.MOVE, "p-a", "A", N100), f"move {N100} ('A')"),
    ],
    ids=["attach", "move", "move between nameless personas", "move from no known persona"],
)
def test_a_routing_change_names_its_owners(change: Change, line: str) -> None:
    assert change.describe() == line


def test_a_source_with_no_name_is_named_by_nothing() -> None:
    plan = Plan((Change(Action.MOVE, "p-a", "A", N100, "p-u"),))
    assert plan.persona_names() == {"p-a": "A", "p-u": ""}
