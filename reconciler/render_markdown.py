"""Render a plan as Markdown for a pull-request comment (pure: plan in, string out)."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate

from reconciler.model import owner_kind, owner_words
from reconciler.plan import NUMBER_WRITES, Action, Plan
from reconciler.render import Row, owner_rows, plan_notes, plan_warnings, where
from reconciler.text import counted, one_line

# GitHub refuses comments over 65,536 characters; the default leaves room for what a workflow
# adds around the plan (a marker to find the comment again, a footer with the run link).
MARKDOWN_MAX_CHARS = 60_000
# A persona with more changes than this is folded in <details> so the comment stays scannable.
MARKDOWN_FOLD_AFTER = 10
# Backslash-escaped in Markdown text so a persona name cannot open a link, emphasis, a table
# cell, maths, an emoji shortcode or an @mention.
_MARKDOWN_ESCAPES = {ord(char): f"\\{char}" for char in "\\`*_[]|#~@<>&!:$"}
_TABLE_HEAD = "| action | number | from |\n| --- | --- | --- |\n"
# A persona with settings or label writes: their `from` is the value now, `to` the one written.
_WIDE_TABLE_HEAD = "| action | number | from | to |\n| --- | --- | --- | --- |\n"
# Room kept under MARKDOWN_MAX_CHARS for closing an open <details> and for the truncation note.
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
        return one_line(self.redact(text)).translate(_MARKDOWN_ESCAPES)

    def code(self, text: str) -> str:
        """An inline code span; a code span cannot hold a backtick, so those become quotes."""
        return "`" + one_line(self.redact(text).replace("`", "'")) + "`"

    def html(self, text: str) -> str:
        """Text inside an HTML element (GitHub reads no Markdown there), @ kept from mentioning."""
        return html.escape(one_line(self.redact(text))).replace("@", "&#64;")


def _section(key: str, name: str, rows: list[Row], escape: _Escape) -> tuple[str, list[str], str]:
    """One owner's section: its opening (heading and table head), its rows and its closing."""
    wide = any(row.change.action in NUMBER_WRITES for row in rows)
    head = _WIDE_TABLE_HEAD if wide else _TABLE_HEAD
    lines = [_row(row, escape, wide) for row in rows]
    if len(rows) > MARKDOWN_FOLD_AFTER:
        counts = Counter(row.change.action for row in rows)
        summary = f"{escape.html(name) or '(no name)'} (<code>{escape.html(where(key))}</code>): "
        summary += ", ".join(f"{counts[act]} to {act.value}" for act in Action if counts[act])
        return f"\n<details><summary>{summary}</summary>\n\n{head}", lines, "\n</details>\n"
    title = f"{escape.text(name) or '(no name)'} ({escape.code(where(key))})"
    return f"\n#### {title}\n\n{head}", lines, ""


def _row(row: Row, escape: _Escape, wide: bool) -> str:
    change, source, target = row.change, "", ""
    if change.action is Action.MOVE:
        key, name = change.from_persona_id or "", change.from_persona_name or ""
        if owner_kind(key) == "persona":
            source = escape.text(name) or escape.code(key)
        else:
            source = escape.text(owner_words(key, name))
        if row.cleared:
            source += f" ({escape.text(row.cleared)})"
    elif change.action in NUMBER_WRITES:
        # GitHub ends a table cell at a "|", even inside a code span, unless it is escaped.
        source, target = (
            escape.code(value).replace("|", "\\|") for value in (row.before, row.after)
        )
        source += row.arrival
    cells = f"| {change.action.value} | {escape.code(change.phone_number)} | {source} |"
    if wide:
        cells += f" {target} |" if target else " |"
    return cells + "\n"


def render_markdown(plan: Plan, config_label: str, *, redact: Callable[[str], str] = str) -> str:
    """The plan as a pull-request comment: summary, then a table per persona, in plan order.

    Personas with many changes are folded in <details>. Output longer than MARKDOWN_MAX_CHARS is
    cut at a row boundary and ends with a note saying how many changes and personas were left
    out. `redact` is applied to every text taken from the plan, before it is escaped.
    """
    escape = _Escape(redact)
    if len(config_label) > _MARKDOWN_LABEL_CHARS:  # many files: the size cap is for the plan
        config_label = config_label[: _MARKDOWN_LABEL_CHARS - 3] + "..."
    title = f"### reconciler plan for {escape.code(config_label)}\n\n"
    alerts = "".join(
        f"> [!{kind}]\n> {escape.text(line)}\n\n"
        for kind, lines in (("NOTE", plan_notes(plan)), ("WARNING", plan_warnings(plan)))
        for line in lines
    )
    if plan.is_empty:
        return (
            title + alerts + f"**No changes.** The account matches {escape.code(config_label)}.\n"
        )
    out = [title, alerts, f"**{plan.summary_line()}**\n"]
    room = MARKDOWN_MAX_CHARS - _MARKDOWN_RESERVE - sum(map(len, out))
    groups = owner_rows(plan)
    rows_shown = personas_started = 0
    cut_inside = False
    for key, name, group in groups:
        opening, rows, closing = _section(key, name, group, escape)
        room -= len(opening) + len(closing)
        fits = sum(1 for used in accumulate(map(len, rows)) if used <= room)
        if not fits:  # not even its first row: the persona is not started
            break
        out += [opening, *rows[:fits], closing]
        room -= sum(map(len, rows[:fits]))
        rows_shown, personas_started = rows_shown + fits, personas_started + 1
        if cut_inside := fits < len(rows):
            break
    if left_out := len(plan.changes) - rows_shown:  # say how many changes, and whose, are cut
        whose = counted(len(groups) - personas_started, "more persona")
        if cut_inside:
            rest = len(groups) > personas_started
            whose = "the rest of the last persona shown" + (f" and {whose}" if rest else "")
        out.append(
            f"\n> [!NOTE]\n> Truncated to fit a comment: {left_out} of {len(plan.changes)} "
            f"changes are not shown ({whose}). The summary above counts every change; "
            "`reconciler plan` with the same files prints them all.\n"
        )
    return "".join(out)
