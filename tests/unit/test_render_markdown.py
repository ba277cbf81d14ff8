"""The Markdown renderer as a pure function: snapshots of small, capped and masked plans."""

from __future__ import annotations

import pytest

from reconciler.plan import Action, Change, Plan
from reconciler.render import (
    MARKDOWN_FOLD_AFTER,
    MARKDOWN_MAX_CHARS,
    mask_numbers_in,
    render_markdown,
)

SUPPORT = "p-support"
SALES = "p-sales"
IVR = "p-ivr"

SMALL = Plan(
    (
        Change(Action.ATTACH, SALES, "Sales", "+14155550110"),
        Change(Action.ATTACH, SUPPORT, "Support Agent", "+14155550101"),
        Change(Action.MOVE, SUPPORT, "Support Agent", "+14155550102", IVR, "Legacy IVR"),
        Change(Action.DETACH, SUPPORT, "Support Agent", "+14155550103"),
    )
)

SMALL_MARKDOWN = """\
### reconciler plan for `personas.yaml`

**Plan: 2 to attach, 1 to move, 1 to detach.**

#### Sales (`p-sales`)

| action | number | from |
| --- | --- | --- |
| attach | `+14155550110` |  |

#### Support Agent (`p-support`)

| action | number | from |
| --- | --- | --- |
| attach | `+14155550101` |  |
| move | `+14155550102` | Legacy IVR |
| detach | `+14155550103` |  |
"""


def many_changes(personas: int, per_persona: int) -> Plan:
    """A plan with `per_persona` attaches on each of `personas` personas, in plan order."""
    changes = [
        Change(Action.ATTACH, f"p-{p:04d}", f"Persona {p:04d}", f"+1415{p:03d}{n:04d}")
        for p in range(personas)
        for n in range(per_persona)
    ]
    return Plan(tuple(sorted(changes, key=Change.sort_key)))


def test_small_plan_snapshot() -> None:
    assert render_markdown(SMALL, "personas.yaml") == SMALL_MARKDOWN


def test_no_changes() -> None:
    assert render_markdown(Plan(()), "personas/") == (
        "### reconciler plan for `personas/`\n\n**No changes.** The account matches `personas/`.\n"
    )


def test_masked_numbers_snapshot() -> None:
    """Masked as the command line masks it: each text before it is escaped."""
    text = render_markdown(SMALL, "personas.yaml", redact=mask_numbers_in)
    assert text == SMALL_MARKDOWN.replace("+1415555", "****")
    assert "+1415" not in text


@pytest.mark.parametrize(
    ("number", "shown"), [("+14155550110", "****0110"), ("+442071838750", "****8750")]
)
def test_mask_keeps_the_last_four_digits_only(number: str, shown: str) -> None:
    assert mask_numbers_in(number) == shown


def test_a_long_section_is_folded_in_details() -> None:
    plan = many_changes(1, MARKDOWN_FOLD_AFTER + 1)
    text = render_markdown(plan, "personas.yaml")
    assert "<details><summary>Persona 0000 (<code>p-0000</code>): 11 to attach</summary>" in text
    assert text.endswith("</details>\n")
    assert text.count("| attach |") == MARKDOWN_FOLD_AFTER + 1
    short = render_markdown(many_changes(1, MARKDOWN_FOLD_AFTER), "personas.yaml")
    assert "<details>" not in short
    assert "#### Persona 0000 (`p-0000`)" in short


def test_a_plan_over_the_cap_is_cut_at_a_row_with_a_note() -> None:
    plan = many_changes(4, 700)
    text = render_markdown(plan, "personas.yaml")
    assert len(text) <= MARKDOWN_MAX_CHARS
    shown = text.count("| attach |")
    assert 0 < shown < 2800
    assert f"> Truncated to fit a comment: {2800 - shown} of 2800 changes are not shown" in text
    # The summary still counts every change, and every opened <details> is closed.
    assert "**Plan: 2800 to attach, 0 to move, 0 to detach.**" in text
    assert text.count("<details>") == text.count("</details>")
    # Rows are whole: every table line ends with its closing pipe.
    assert all(line.endswith("|") for line in text.splitlines() if line.startswith("| "))


def test_the_cap_snapshot() -> None:
    text = render_markdown(many_changes(4, 700), "personas.yaml")
    tail = text[text.index("> [!NOTE]") :]
    assert tail == (
        "> [!NOTE]\n"
        "> Truncated to fit a comment: 894 of 2800 changes are not shown (the rest of the last "
        "persona shown and 1 more persona). The summary above counts every change; "
        "`reconciler plan` with the same files prints them all.\n"
    )
    # The first two personas whole (700 rows each), the third up to its 506th row, closed.
    assert text.count("| attach |") == 1906
    assert text.splitlines()[-6:-2] == ["| attach | `+14150020505` |  |", "", "</details>", ""]


def test_the_default_cap_holds_for_a_huge_plan() -> None:
    plan = many_changes(200, 60)  # 12,000 changes, far over a comment
    text = render_markdown(plan, "personas/")
    assert MARKDOWN_MAX_CHARS < 65_536
    assert len(text) <= MARKDOWN_MAX_CHARS
    assert "of 12000 changes are not shown" in text


def test_a_plan_under_the_cap_is_not_cut() -> None:
    plan = many_changes(3, 40)
    text = render_markdown(plan, "personas.yaml")
    assert "Truncated" not in text
    assert text.count("| attach |") == 120


def test_names_cannot_inject_markdown_html_or_mentions() -> None:
    name = "Sales | *EMEA* <script> @ops-team [x](http://e) `tick`"
    plan = Plan(
        (
            Change(Action.MOVE, SALES, name, "+14155550110", IVR, "IVR | @old"),
            *(
                Change(Action.DETACH, SUPPORT, "<b>@support</b>", f"+141555501{n:02d}")
                for n in range(MARKDOWN_FOLD_AFTER + 1)
            ),
        )
    )
    text = render_markdown(plan, "personas.yaml")
    assert "<script>" not in text and "<b>" not in text
    assert "\\| \\*EMEA\\* \\<script\\> \\@ops-team \\[x\\](http\\://e) \\`tick\\`" in text
    assert "| move | `+14155550110` | IVR \\| \\@old |" in text
    assert "<summary>&lt;b&gt;&#64;support&lt;/b&gt; (<code>p-support</code>)" in text


def test_no_terminal_colour_codes() -> None:
    assert "\x1b[" not in render_markdown(many_changes(2, 15), "personas.yaml")
