"""The text and JSON renderers and the masking of numbers, as pure functions of a plan."""

from __future__ import annotations

import json
from dataclasses import replace

from jsonschema import Draft202012Validator

from reconciler.model import ConfirmedOwners, PersonaRef, SourcesDisagree
from reconciler.plan import Action, Change, Plan
from reconciler.render import mask_numbers_in, plan_document, render_text
from tests.conftest import ROOT

SUPPORT, SALES, IVR = "p-support", "p-sales", "p-ivr"
PLAN = Plan(
    (
        Change(Action.ATTACH, SALES, "Sales", "+14155550110"),
        Change(Action.ATTACH, SUPPORT, "Support", "+14155550101"),
        Change(Action.MOVE, SUPPORT, "Support", "+14155550102", IVR, "Legacy IVR"),
        Change(Action.DETACH, SUPPORT, "Support", "+14155550103"),
    )
)


def test_text_groups_changes_by_persona_with_a_sign_each_and_ends_with_the_summary() -> None:
    assert render_text(PLAN, "personas.yaml") == (
        "Sales (p-sales)\n"
        "  + +14155550110\n"
        "\n"
        "Support (p-support)\n"
        "  + +14155550101\n"
        "  ~ +14155550102 (from 'Legacy IVR')\n"
        "  - +14155550103\n"
        "\n"
        "Plan: 2 to attach, 1 to move, 1 to detach.\n"
    )


def test_an_empty_plan_says_the_account_matches_the_files() -> None:
    assert (
        render_text(Plan(()), "a.yaml, b.yaml")
        == "No changes. The account matches a.yaml, b.yaml.\n"
    )


def test_warnings_stand_above_the_summary_in_the_style_given() -> None:
    warned = replace(PLAN, valves=("careful",), refusals=("guarded",))
    text = render_text(warned, "p.yaml", style=lambda text, colour: f"<{colour}>{text}")
    lines = text.splitlines()
    assert lines[-3:] == [
        "<red>Safety valve: careful: apply will need --force.",
        "<red>Protected: guarded: apply will refuse it, --force included (remove the number "
        "from `protected:` first).",
        "Plan: 2 to attach, 1 to move, 1 to detach.",
    ]
    assert "<bold>Sales (p-sales)" in lines
    assert "  <yellow>~ +14155550102 (from 'Legacy IVR')" in lines


def test_a_move_from_a_persona_without_a_name_names_its_id() -> None:
    plan = Plan((Change(Action.MOVE, SUPPORT, "Support", "+14155550102", IVR, ""),))
    assert "  ~ +14155550102 (from 'p-ivr')\n" in render_text(plan, "p.yaml")


def test_control_characters_in_names_cannot_fake_plan_lines() -> None:
    plan = Plan((Change(Action.ATTACH, SUPPORT, "Evil\n  - +14155550199", "+14155550101"),))
    text = render_text(plan, "p.yaml")
    assert "Evil\\x0a  - +14155550199 (p-support)" in text
    assert "\n  - +14155550199" not in text


def test_json_carries_the_format_version_every_change_and_the_counts() -> None:
    document = plan_document(PLAN)
    assert document["format_version"] == 1
    assert document["summary"] == {"attach": 2, "move": 1, "detach": 1, "settings": 0, "label": 0}
    assert [change["action"] for change in document["changes"]] == [
        "attach",
        "attach",
        "move",
        "detach",
    ]
    assert document["changes"][2]["from_persona_id"] == IVR


def test_masking_keeps_the_last_four_digits_at_a_fixed_width() -> None:
    assert mask_numbers_in("+14155550102") == "****0102"
    assert mask_numbers_in("+442071234567") == "****4567"
    assert mask_numbers_in("+14155550102 is on +442071234567") == "****0102 is on ****4567"
    assert mask_numbers_in("no number, +123 too short") == "no number, +123 too short"


def test_a_masked_plan_shows_no_whole_number() -> None:
    text = mask_numbers_in(render_text(PLAN, "p.yaml") + json.dumps(plan_document(PLAN)))
    for change in PLAN.changes:
        assert change.phone_number not in text
    assert "****0102" in text


def test_the_plan_schema_describes_every_key_the_json_may_carry() -> None:
    """The optional keys too: a partial plan's targets, warnings, and the owner findings."""
    schema = json.loads((ROOT / "schemas" / "plan.schema.json").read_text(encoding="utf-8"))
    found = (ConfirmedOwners("+14155550102", (PersonaRef(IVR, ""),), ()),)
    differ = (SourcesDisagree("+14155550103", PersonaRef(SALES, ""), ()),)
    full = replace(PLAN, targets=("Sales",), notices=("agent 'Bot' has no production version",))
    document = plan_document(replace(full, confirmed=found, disagreements=differ))
    assert {"targets", "warnings", "confirmed_owners", "sources_disagree"} <= set(document)
    Draft202012Validator(schema).validate(document)
