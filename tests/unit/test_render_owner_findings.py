"""What the plan says about numbers confirmed by id and owners the two sources disagree on."""

from __future__ import annotations

import json
from dataclasses import replace

from reconciler.model import ConfirmedOwners, PersonaRef, SourcesDisagree
from reconciler.plan import Action, Change, Plan
from reconciler.render import (
    MAX_FINDINGS_SHOWN,
    mask_numbers_in,
    plan_document,
    plan_warnings,
    render_markdown,
    render_text,
)

N = "+14155550100"
X, Y = PersonaRef("p-x", "X"), PersonaRef("p-y", "Y")
HIDDEN = PersonaRef("p-hidden", "")
MOVE = Change(Action.MOVE, "p-x", "X", N, "p-y", "Y")
CONFIRMED = ConfirmedOwners(N, (X, Y), (Y,))
DISAGREE = SourcesDisagree("+14155550101", Y, ())
HIDDEN_OWNER = SourcesDisagree("+14155550102", HIDDEN, (X,))
PLAN = Plan(changes=(MOVE,), confirmed=(CONFIRMED,), disagreements=(DISAGREE, HIDDEN_OWNER))


def test_text_says_what_was_confirmed_and_where_the_sources_disagree() -> None:
    text = render_text(replace(PLAN, valves=("something",)), "p.yaml")
    assert text.splitlines()[-5:] == [
        f"Note: {N} was listed on 'X' and 'Y' (the list may have changed while it was read); "
        "read one by one, it is on 'Y', and the plan is made from that.",
        "Sources disagree: GET /v1/inbound names 'Y' as the persona of +14155550101, the persona "
        "list shows it on no persona: it counts as on 'Y', so taking it is a move.",
        "Sources disagree: GET /v1/inbound names p-hidden as the persona of +14155550102, the "
        "persona list shows it on 'X': the plan follows the persona list.",
        "Safety valve: something: apply will need --force.",
        "Plan: 0 to attach, 1 to move, 0 to detach.",
    ]


def test_an_empty_plan_still_says_so() -> None:
    plan = Plan(changes=(), confirmed=(ConfirmedOwners(N, (X, Y), ()),))
    assert render_text(plan, "p.yaml") == (
        f"Note: {N} was listed on 'X' and 'Y' (the list may have changed while it was read); "
        "read one by one, it is on no persona, and the plan is made from that.\n"
        "No changes. The account matches p.yaml.\n"
    )
    assert "> [!NOTE]" in render_markdown(plan, "p.yaml")


def test_json_has_a_field_for_each_only_when_there_is_something_in_it() -> None:
    document = plan_document(PLAN)
    assert document["confirmed_owners"] == [
        {"phone_number": N, "seen_on": ["p-x", "p-y"], "held_by": ["p-y"]}
    ]
    assert document["sources_disagree"] == [
        {"phone_number": "+14155550101", "inbound_owner": "p-y", "listed_on": []},
        {"phone_number": "+14155550102", "inbound_owner": "p-hidden", "listed_on": ["p-x"]},
    ]
    assert set(plan_document(Plan(changes=(MOVE,)))) == {
        "format_version",
        "changes",
        "summary",
        "safety",
    }


def test_markdown_puts_notes_and_disagreements_above_the_summary() -> None:
    comment = render_markdown(PLAN, "p.yaml")
    head = comment.split("**Plan:")[0]
    assert head.count("> [!NOTE]") == 1
    assert head.count("> [!WARNING]") == 2
    assert "Sources disagree" in head


def test_masking_hides_the_numbers_of_the_findings_too() -> None:
    text = mask_numbers_in(render_text(PLAN, "p.yaml") + json.dumps(plan_document(PLAN)))
    assert "+1415555" not in text
    assert "****0100" in text and "****0101" in text


def test_many_findings_are_counted_after_the_first_twenty() -> None:
    many = tuple(
        SourcesDisagree(f"+1415555{n:04d}", Y, (X,)) for n in range(MAX_FINDINGS_SHOWN + 5)
    )
    lines = plan_warnings(Plan(changes=(), disagreements=many))
    assert len(lines) == MAX_FINDINGS_SHOWN + 1
    assert lines[-1] == "Sources disagree on 5 more numbers (--format json lists them all)."
    assert len(plan_document(Plan(changes=(), disagreements=many))["sources_disagree"]) == 25
