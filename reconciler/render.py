"""Render a plan as text, Markdown or JSON (pure: plan in, string out)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from itertools import groupby

from reconciler.model import printable
from reconciler.plan import Action, Change, Plan
from reconciler.text import one_line

PLAN_FORMAT_VERSION = 1

Style = Callable[[str, str], str]

_SIGNS = {Action.ATTACH: ("+", "green"), Action.MOVE: ("~", "yellow"), Action.DETACH: ("-", "red")}


def _plain(text: str, _colour: str) -> str:
    return text


def render_text(
    plan: Plan, config_label: str, style: Style = _plain, warnings: Sequence[str] = ()
) -> str:
    """Changes grouped by persona, `+` attach, `~` move, `-` detach, warnings, the summary line."""
    if plan.is_empty:
        return f"No changes. The account matches {config_label}.\n"
    lines: list[str] = []
    for (persona_id, persona_name), changes in groupby(
        plan.changes, key=lambda change: (change.persona_id, change.persona_name)
    ):
        lines.append(style(f"{printable(persona_name)} ({printable(persona_id)})", "bold"))
        for change in changes:
            lines.append("  " + _change_line(change, style))
        lines.append("")
    lines.extend(style(warning, "red") for warning in warnings)
    lines.append(plan.summary_line())
    return "\n".join(lines) + "\n"


def _change_line(change: Change, style: Style) -> str:
    sign, colour = _SIGNS[change.action]
    text = f"{sign} {change.phone_number}"
    if change.action is Action.MOVE:
        source = printable(change.from_persona_name or change.from_persona_id or "")
        text += f" (from {source!r})"
    return style(text, colour)


def render_json(plan: Plan) -> str:
    """The plan as `{"format_version", "changes", "summary"}`, stable key order."""
    document = {
        "format_version": PLAN_FORMAT_VERSION,
        "changes": [change.to_json() for change in plan.changes],
        "summary": plan.summary(),
    }
    return json.dumps(document, indent=2) + "\n"


# GitHub refuses comments over 65,536 characters; the default leaves room for what a workflow
# adds around the plan (a marker to find the comment again, a footer with the run link).
MARKDOWN_MAX_CHARS = 60_000
# A persona with more changes than this is folded in <details> so the comment stays scannable.
MARKDOWN_FOLD_AFTER = 10
_MARKDOWN_MIN_CHARS = 1_000
# Backslash-escaped in Markdown text so a persona name cannot open a link, emphasis, a table
# cell, maths, an emoji shortcode or an @mention.
_MARKDOWN_SPECIAL = frozenset("\\`*_[]|#~@<>&!:$")
_TABLE_HEAD = "| action | number | from |\n| --- | --- | --- |\n"
# Room kept under max_chars for closing an open <details> and for the truncation note.
_MARKDOWN_RESERVE = 400
_MARKDOWN_LABEL_CHARS = 200


def mask_number(number: str) -> str:
    """Only the last four digits, the rest as `*` (fixed width, so the length is not shown)."""
    return "****" + number[-4:]


_E164 = re.compile(r"\+[0-9]{6,15}")


def mask_numbers_in(text: str) -> str:
    """Free text (a warning, a note) with every E.164 number in it masked."""
    return _E164.sub(lambda match: mask_number(match.group(0)), text)


def masked(plan: Plan) -> Plan:
    """The same plan with every phone number masked, for output that is made public."""
    changes = tuple(
        replace(change, phone_number=mask_number(change.phone_number)) for change in plan.changes
    )
    return replace(plan, changes=changes)


def _md_text(text: str) -> str:
    """Text shown as is in Markdown: escaped, on one line."""
    flat = one_line(text)
    return "".join(f"\\{char}" if char in _MARKDOWN_SPECIAL else char for char in flat)


def _md_code(text: str) -> str:
    """An inline code span; a code span cannot hold a backtick, so those become quotes."""
    return "`" + one_line(text.replace("`", "'")) + "`"


def _html_text(text: str) -> str:
    """Text inside an HTML element (GitHub does not read Markdown there), @ kept from mentioning."""
    return html.escape(one_line(text)).replace("@", "&#64;")


def _md_row(change: Change) -> str:
    source = ""
    if change.action is Action.MOVE:
        source = _md_text(change.from_persona_name or "") or _md_code(change.from_persona_id or "")
    return f"| {change.action.value} | {_md_code(change.phone_number)} | {source} |\n"


def _md_counts(changes: list[Change]) -> str:
    counts = {action: sum(change.action is action for change in changes) for action in Action}
    return ", ".join(f"{count} to {action.value}" for action, count in counts.items() if count)


def _md_section(persona_id: str, persona_name: str, changes: list[Change]) -> tuple[str, str]:
    """The opening (heading and table head) and closing of one persona's section."""
    if len(changes) > MARKDOWN_FOLD_AFTER:
        summary = (
            f"{_html_text(persona_name) or '(no name)'} (<code>{_html_text(persona_id)}</code>):"
            f" {_md_counts(changes)}"
        )
        return f"\n<details><summary>{summary}</summary>\n\n{_TABLE_HEAD}", "\n</details>\n"
    heading = f"{_md_text(persona_name) or '(no name)'} ({_md_code(persona_id)})"
    return f"\n#### {heading}\n\n{_TABLE_HEAD}", ""


def render_markdown(
    plan: Plan,
    config_label: str,
    *,
    warnings: Sequence[str] = (),
    max_chars: int = MARKDOWN_MAX_CHARS,
) -> str:
    """The plan as a pull-request comment: summary, then a table per persona, in plan order.

    Personas with many changes are folded in <details>. Output longer than max_chars is cut at a
    row boundary and ends with a note saying how many changes and personas were left out.
    """
    if len(config_label) > _MARKDOWN_LABEL_CHARS:  # many files: the size cap is for the plan
        config_label = config_label[: _MARKDOWN_LABEL_CHARS - 3] + "..."
    title = f"### reconciler plan for {_md_code(config_label)}\n\n"
    if plan.is_empty:
        return title + f"**No changes.** The account matches {_md_code(config_label)}.\n"
    budget = max(max_chars, _MARKDOWN_MIN_CHARS) - _MARKDOWN_RESERVE
    groups = [
        (persona_id, persona_name, list(changes))
        for (persona_id, persona_name), changes in groupby(
            plan.changes, key=lambda change: (change.persona_id, change.persona_name)
        )
    ]
    alerts = "".join(f"> [!WARNING]\n> {_md_text(warning)}\n\n" for warning in warnings)
    out = [title, alerts, f"**{plan.summary_line()}**\n"]
    used = sum(map(len, out))
    rows_shown = personas_started = 0
    cut_inside = False
    for persona_id, persona_name, changes in groups:
        opening, closing = _md_section(persona_id, persona_name, changes)
        rows = [_md_row(change) for change in changes]
        if used + len(opening) + len(rows[0]) + len(closing) > budget:
            break
        out.append(opening)
        used += len(opening) + len(closing)
        personas_started += 1
        for row in rows:
            if used + len(row) > budget:
                cut_inside = True
                break
            out.append(row)
            used += len(row)
            rows_shown += 1
        out.append(closing)
        if cut_inside:
            break
    left_out = len(plan.changes) - rows_shown
    if left_out:
        not_started = len(groups) - personas_started
        personas = f"{not_started} more persona{'s' if not_started != 1 else ''}"
        where = personas
        if cut_inside:
            where = "the rest of the last persona shown" + (
                f" and {personas}" if not_started else ""
            )
        out.append(
            f"\n> [!NOTE]\n> Truncated to fit a comment: {left_out} of {len(plan.changes)} "
            f"changes are not shown ({where}). The summary above counts every change; "
            "`reconciler plan` with the same files prints them all.\n"
        )
    return "".join(out)
