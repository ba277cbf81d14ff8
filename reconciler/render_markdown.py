"""Render a plan as Markdown for a pull-request comment (pure: plan in, string out)."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import groupby

from reconciler.model import RoutingSettings, owner_id, owner_kind, owner_words
from reconciler.plan import NUMBER_WRITES, Action, Change, Plan
from reconciler.render import (
    arrival_notes,
    confirmation_notes,
    disagreement_warnings,
    dropped_note,
    partial_note,
    shown_value,
)
from reconciler.text import one_line

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
# A persona with settings or label writes: their `from` is the value now, `to` the one written.
_WIDE_TABLE_HEAD = "| action | number | from | to |\n| --- | --- | --- | --- |\n"
# Room kept under max_chars for closing an open <details> and for the truncation note.
_MARKDOWN_RESERVE = 400
_MARKDOWN_LABEL_CHARS = 200


@dataclass(frozen=True)
class _Escape:
    r"""The ways text is written into Markdown, each applying `redact` before it escapes.

    Escaping first would hide a secret from the redactor: `org_live_...` becomes `org\_live\_...`.
    """

    redact: Callable[[str], str] = str

    def text(self, text: str) -> str:
        """Text shown as is in Markdown: escaped, on one line."""
        flat = one_line(self.redact(text))
        return "".join(rf"\{char}" if char in _MARKDOWN_SPECIAL else char for char in flat)

    def code(self, text: str) -> str:
        """An inline code span; a code span cannot hold a backtick, so those become quotes."""
        return "`" + one_line(self.redact(text).replace("`", "'")) + "`"

    def html(self, text: str) -> str:
        """Text inside an HTML element (GitHub reads no Markdown there), @ kept from mentioning."""
        return html.escape(one_line(self.redact(text))).replace("@", "&#64;")


def _md_row(
    change: Change,
    escape: _Escape,
    wide: bool,
    arrival: Callable[[Change], str],
    dropped_settings: Mapping[str, RoutingSettings],
) -> str:
    source = target = ""
    if change.action is Action.MOVE:
        key = change.from_persona_id or ""
        source = escape.text(change.from_persona_name or "") or escape.code(owner_id(key))
        if owner_kind(key) != "persona":
            source = escape.text(owner_words(key, change.from_persona_name or ""))
        dropped = dropped_settings.get(change.phone_number)
        if dropped is not None:
            source += f" ({escape.text(dropped_note(dropped))})"
    elif change.action in NUMBER_WRITES:
        # GitHub ends a table cell at a "|", even inside a code span, unless it is escaped.
        source, target = (
            escape.code(shown_value(value)).replace("|", "\\|")
            for value in (change.before, change.after)
        )
        source += arrival(change)
        number = escape.code(change.phone_number)
        return f"| {change.action.value} | {number} | {source} | {target} |\n"
    tail = " |" if wide else ""
    return f"| {change.action.value} | {escape.code(change.phone_number)} | {source} |{tail}\n"


def _md_counts(changes: list[Change]) -> str:
    counts = {action: sum(change.action is action for change in changes) for action in Action}
    return ", ".join(f"{count} to {action.value}" for action, count in counts.items() if count)


def _md_section(
    persona_id: str, persona_name: str, changes: list[Change], escape: _Escape
) -> tuple[str, str]:
    """The opening (heading and table head) and closing of one persona's (or agent's) section."""
    head = _WIDE_TABLE_HEAD if _is_wide(changes) else _TABLE_HEAD
    kind = owner_kind(persona_id)
    where = owner_id(persona_id) if kind == "persona" else f"{kind} {owner_id(persona_id)}"
    if len(changes) > MARKDOWN_FOLD_AFTER:
        summary = (
            f"{escape.html(persona_name) or '(no name)'} (<code>{escape.html(where)}</code>):"
            f" {_md_counts(changes)}"
        )
        return f"\n<details><summary>{summary}</summary>\n\n{head}", "\n</details>\n"
    heading = f"{escape.text(persona_name) or '(no name)'} ({escape.code(where)})"
    return f"\n#### {heading}\n\n{head}", ""


def _is_wide(changes: list[Change]) -> bool:
    return any(change.action in NUMBER_WRITES for change in changes)


def render_markdown(
    plan: Plan,
    config_label: str,
    *,
    max_chars: int = MARKDOWN_MAX_CHARS,
    redact: Callable[[str], str] = str,
) -> str:
    """The plan as a pull-request comment: summary, then a table per persona, in plan order.

    Personas with many changes are folded in <details>. Output longer than max_chars is cut at a
    row boundary and ends with a note saying how many changes and personas were left out.
    `redact` is applied to every text taken from the plan, the label or a warning, before it is
    escaped.
    """
    escape = _Escape(redact)
    if len(config_label) > _MARKDOWN_LABEL_CHARS:  # many files: the size cap is for the plan
        config_label = config_label[: _MARKDOWN_LABEL_CHARS - 3] + "..."
    title = f"### reconciler plan for {escape.code(config_label)}\n\n"
    alerts = "".join(
        f"> [!{kind}]\n> {escape.text(line)}\n\n"
        for kind, lines in (
            ("NOTE", [*partial_note(plan), *confirmation_notes(plan)]),
            ("WARNING", [*disagreement_warnings(plan), *plan.warnings()]),
        )
        for line in lines
    )
    if plan.is_empty:
        return (
            title + alerts + f"**No changes.** The account matches {escape.code(config_label)}.\n"
        )
    budget = max(max_chars, _MARKDOWN_MIN_CHARS) - _MARKDOWN_RESERVE
    groups = [
        (persona_id, persona_name, list(changes))
        for (persona_id, persona_name), changes in groupby(
            plan.changes, key=lambda change: (change.persona_id, change.persona_name)
        )
    ]
    out = [title, alerts, f"**{plan.summary_line()}**\n"]
    used = sum(map(len, out))
    rows_shown = personas_started = 0
    cut_inside = False
    arrival = arrival_notes(plan)
    for persona_id, persona_name, changes in groups:
        opening, closing = _md_section(persona_id, persona_name, changes, escape)
        wide = _is_wide(changes)
        rows = [_md_row(change, escape, wide, arrival, plan.settings_dropped) for change in changes]
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
        out.append(_truncation_note(left_out, len(plan.changes), not_started, cut_inside))
    return "".join(out)


def _truncation_note(left_out: int, total: int, not_started: int, cut_inside: bool) -> str:
    """The closing note of a cut comment: how many changes, and whose, are not shown."""
    personas = f"{not_started} more persona{'s' if not_started != 1 else ''}"
    where = personas
    if cut_inside:
        where = "the rest of the last persona shown" + (f" and {personas}" if not_started else "")
    return (
        f"\n> [!NOTE]\n> Truncated to fit a comment: {left_out} of {total} "
        f"changes are not shown ({where}). The summary above counts every change; "
        "`reconciler plan` with the same files prints them all.\n"
    )
