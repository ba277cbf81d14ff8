"""Settings and label changes in the plan's text, Markdown and JSON, masked or not."""

from __future__ import annotations

from reconciler.model import UNREAD, routing_settings
from reconciler.plan import Action, Change, Plan
from reconciler.render import mask_numbers_in, plan_document, render_markdown, render_text

SUPPORT, IVR, SALES = "p-support", "p-ivr", "p-sales"
PW = routing_settings({"start_node_id": "node_1", "pathway_id": "pw_123", "pathway_version": 2})

PLAN = Plan(
    (
        Change(Action.ATTACH, SALES, "Sales", "+14155550110"),
        Change(Action.MOVE, SUPPORT, "Support", "+14155550102", IVR, "Legacy IVR"),
        Change(Action.SETTINGS, SUPPORT, "Support", "+14155550100", before=PW, after=None),
        Change(Action.SETTINGS, SUPPORT, "Support", "+14155550102", before=None, after=PW),
        Change(Action.LABEL, SUPPORT, "Support", "+14155550100", before=UNREAD, after="A | B"),
        Change(
            Action.LABEL,
            SUPPORT,
            "Support",
            "+14155550102",
            before="Call +14155550199\x1b[2J",
            after="",
        ),
    )
)

TEXT = """\
Sales (p-sales)
  + +14155550110

Support (p-support)
  ~ +14155550102 (from 'Legacy IVR')
  * +14155550100 settings: {"pathway_id": "pw_123", "pathway_version": 2, "start_node_id": "node_1"} -> none
  * +14155550102 settings: none (after the move) -> {"pathway_id": "pw_123", "pathway_version": 2, "start_node_id": "node_1"}
  * +14155550100 label: (not shown by the API) -> "A | B"
  * +14155550102 label: "Call +14155550199\\u001b[2J" -> none

Plan: 1 to attach, 1 to move, 0 to detach, 2 settings to write, 2 labels to write.
"""  # noqa: E501

MARKDOWN = """\
### reconciler plan for `personas.yaml`

**Plan: 1 to attach, 1 to move, 0 to detach, 2 settings to write, 2 labels to write.**

#### Sales (`p-sales`)

| action | number | from |
| --- | --- | --- |
| attach | `+14155550110` |  |

#### Support (`p-support`)

| action | number | from | to |
| --- | --- | --- | --- |
| move | `+14155550102` | Legacy IVR | |
| settings | `+14155550100` | `{"pathway_id": "pw_123", "pathway_version": 2, "start_node_id": "node_1"}` | `none` |
| settings | `+14155550102` | `none` (after the move) | `{"pathway_id": "pw_123", "pathway_version": 2, "start_node_id": "node_1"}` |
| label | `+14155550100` | `(not shown by the API)` | `"A \\| B"` |
| label | `+14155550102` | `"Call +14155550199\\u001b[2J"` | `none` |
"""  # noqa: E501


def test_text_shows_before_and_after_of_each_number_write() -> None:
    assert render_text(PLAN, "personas.yaml") == TEXT


def test_markdown_adds_a_to_column_where_a_persona_has_number_writes() -> None:
    assert render_markdown(PLAN, "personas.yaml") == MARKDOWN


def test_json_carries_before_after_and_whether_before_was_shown() -> None:
    document = plan_document(PLAN)
    assert document["format_version"] == 1
    assert document["summary"] == {"attach": 1, "move": 1, "detach": 0, "settings": 2, "label": 2}
    settings = document["changes"][3]
    assert settings == {
        "action": "settings",
        "kind": "persona",
        "persona_id": SUPPORT,
        "persona_name": "Support",
        "phone_number": "+14155550102",
        "before": None,
        "before_known": True,
        "after": {"pathway_id": "pw_123", "pathway_version": 2, "start_node_id": "node_1"},
    }
    assert document["changes"][4]["before_known"] is False


def test_masking_hides_numbers_in_labels_too() -> None:
    text = mask_numbers_in(render_text(PLAN, "personas.yaml"))
    assert "+1415" not in text
    assert 'label: "Call ****0199\\u001b[2J" -> none' in text


def test_a_move_says_which_undeclared_settings_it_clears() -> None:
    plan = Plan(
        (Change(Action.MOVE, SUPPORT, "Support", "+14155550102", IVR, "Legacy IVR"),),
        settings_dropped={"+14155550102": routing_settings({"pathway_id": "pw_ivr"})},
    )
    note = (
        'its settings there, {"pathway_id": "pw_ivr"}, are cleared by the move (declare them '
        "under the number to keep them)"
    )
    assert f"  ~ +14155550102 (from 'Legacy IVR')\n    {note}\n" in render_text(plan, "c.yaml")
    markdown = render_markdown(plan, "c.yaml")
    assert "| move | `+14155550102` | Legacy IVR (its settings there, " in markdown
    assert "pw\\_ivr" in markdown  # escaped like any text from the account
    hidden = mask_numbers_in(render_text(plan, "c.yaml"))
    assert f"  ~ ****0102 (from 'Legacy IVR')\n    {note}\n" in hidden


def test_masked_moves_whose_numbers_end_alike_keep_each_its_settings_note() -> None:
    numbers = ("+14155550102", "+14165550102")
    plan = Plan(
        tuple(Change(Action.MOVE, SUPPORT, "Support", n, IVR, "Legacy IVR") for n in numbers),
        settings_dropped=dict.fromkeys(numbers, routing_settings({"pathway_id": "pw_ivr"})),
    )
    hidden = mask_numbers_in(render_text(plan, "c.yaml"))
    assert hidden.count("  ~ ****0102 (from 'Legacy IVR')\n    its settings there, ") == 2
