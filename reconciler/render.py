"""Render a plan as text, JSON or Markdown for a pull-request comment, and mask its numbers for
public output (pure)."""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, is_dataclass
from itertools import accumulate, groupby
from operator import attrgetter
from typing import Any, NamedTuple

from reconciler.model import (
    UNREAD,
    PersonaRef,
    RoutingSettings,
    SeenLabel,
    SeenSettings,
    owner_kind,
    owner_words,
)
from reconciler.plan import NUMBER_WRITES, Action, Change, Plan
from reconciler.text import counted, one_line, printable

# Numbers confirmed by id, or with owners the sources disagree on, named one per line before a
# count of the rest: an account whose GET /v1/inbound disagrees everywhere stays readable.
MAX_FINDINGS_SHOWN = 20

Style = Callable[[str, str], str]

_SIGNS = {
    Action.ATTACH: ("+", "green"),
    Action.MOVE: ("~", "yellow"),
    Action.DETACH: ("-", "red"),
    Action.SETTINGS: ("*", "cyan"),
    Action.LABEL: ("*", "cyan"),
}


def render_text(plan: Plan, config_label: str, style: Style = lambda text, _colour: text) -> str:
    """Changes grouped by persona, `+` attach, `~` move, `-` detach, `*` settings and labels,
    notes and warnings, the summary line."""
    findings = [*plan_notes(plan), *(style(line, "red") for line in plan_warnings(plan))]
    if plan.is_empty:
        return "\n".join([*findings, f"No changes. The account matches {config_label}."]) + "\n"
    lines: list[str] = []
    for key, name, rows in owner_rows(plan):
        lines.append(style(f"{printable(name)} ({printable(where(key))})", "bold"))
        for change, arrival, cleared in rows:
            sign, colour = _SIGNS[change.action]
            text = f"{sign} {change.phone_number}"
            if change.action is Action.MOVE:
                source = owner_words(change.from_persona_id or "", change.from_persona_name or "")
                text += f" (from {printable(source)})"
            elif change.action in NUMBER_WRITES:
                before, after = shown_value(change.before), shown_value(change.after)
                text += f" {change.action.value}: {before}{arrival} -> {after}"
            lines.append("  " + style(text, colour))
            if cleared:
                lines.append("    " + style(cleared, "yellow"))
        lines.append("")
    return "\n".join([*lines, *findings, plan.summary_line()]) + "\n"


class Row(NamedTuple):
    """A change and what both renderers show beside it, not yet escaped."""

    change: Change
    arrival: str  # settings: ` (after the attach)` (or move) of a number the plan brings
    cleared: str  # a move: what it does to settings the config does not declare, if any


def owner_rows(plan: Plan) -> list[tuple[str, str, list[Row]]]:
    """The plan's changes by owner: its key, its name and its changes, in plan order."""
    arrivals = {  # a settings change of a number the plan brings: after the attach or move
        (change.persona_id, change.phone_number): f" (after the {change.action.value})"
        for change in plan.changes
        if change.action in (Action.ATTACH, Action.MOVE)
    }

    def row(change: Change) -> Row:
        arrival = cleared = ""
        if change.action is Action.SETTINGS:
            arrival = arrivals.get((change.persona_id, change.phone_number), "")
        dropped = plan.settings_dropped.get(change.phone_number)
        if change.action is Action.MOVE and dropped is not None:
            cleared = (
                f"its settings there, {shown_value(dropped)}, are cleared by the move "
                "(declare them under the number to keep them)"
            )
        return Row(change, arrival, cleared)

    by_owner = groupby(plan.changes, key=attrgetter("persona_id", "persona_name"))
    return [(key, name, list(map(row, changes))) for (key, name), changes in by_owner]


def where(key: str) -> str:
    """An owner's id as its heading shows it: `Sales (ID)`, or `Bot (agent ID)` for an agent
    (whose key, `agent:ID`, names its kind)."""
    return key if owner_kind(key) == "persona" else key.replace(":", " ", 1)


def shown_value(value: SeenSettings | SeenLabel) -> str:
    """A settings or label value on one line: JSON, `none`, or `(not shown by the API)`."""
    if value is UNREAD:
        return "(not shown by the API)"
    if value is None or value == "":
        return "none"
    if isinstance(value, RoutingSettings):
        return printable(str(value))
    return printable(json.dumps(value, ensure_ascii=False))


def _personas(refs: Sequence[PersonaRef]) -> str:
    shown = [repr(printable(ref.name)) if ref.name else printable(ref.id) for ref in refs]
    if not shown:
        return "no persona"
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def plan_notes(plan: Plan) -> list[str]:
    """What the reader should know: that a plan covers only the entries --target named, and each
    number whose owners were confirmed (listed on several personas and read again by id, or
    declared, listed on none and listed again), the first few, then a count."""
    lines = []
    if plan.targets:
        named = ", ".join(repr(printable(target)) for target in plan.targets)
        rest = "the rest of the config is not planned"
        lines.append(f"Note: a partial plan, of {named} only (--target): {rest}.")
    confirmed = []
    for found in plan.confirmed:
        how = "no persona: listed again"
        if found.seen_on:
            how = f"{_personas(found.seen_on)} (the list may have changed while it was read); "
            how += "read one by one"
        confirmed.append(
            f"Note: {found.phone_number} was listed on {how}, it is on "
            f"{_personas(found.held_by)}, and the plan is made from that."
        )
    more = "Note: and {} more numbers confirmed so (--format json lists them all)."
    return [*lines, *_at_most(confirmed, more)]


def plan_warnings(plan: Plan) -> list[str]:
    """Each number whose owner GET /v1/inbound and the persona list disagree on (the first few,
    then a count), then the plan's own warnings."""
    lines = []
    for found in plan.disagreements:
        owner = _personas((found.inbound_owner,))
        outcome = f"it counts as on {owner}, so taking it is a move"
        if found.listed_on:
            outcome = "the plan follows the persona list"
        lines.append(
            f"Sources disagree: GET /v1/inbound names {owner} as the persona of "
            f"{found.phone_number}, the persona list shows it on {_personas(found.listed_on)}: "
            f"{outcome}."
        )
    more = "Sources disagree on {} more numbers (--format json lists them all)."
    return [*_at_most(lines, more), *plan.warnings()]


def _at_most(lines: list[str], more: str) -> list[str]:
    if len(lines) <= MAX_FINDINGS_SHOWN:
        return lines
    return [*lines[:MAX_FINDINGS_SHOWN], more.format(len(lines) - MAX_FINDINGS_SHOWN)]


def plan_document(plan: Plan) -> dict[str, Any]:
    """Everything the plan shows, as the JSON object of `plan --format json` (stable key order,
    schemas/plan.schema.json). Two plans with the same document are the same plan."""
    changes = [change.to_json() for change in plan.changes]
    for item, change in zip(changes, plan.changes, strict=True):
        if change.action is Action.MOVE and change.phone_number in plan.settings_dropped:
            item["settings_cleared"] = plan.settings_dropped[change.phone_number].as_dict()
    document: dict[str, Any] = {
        "format_version": 1,
        "changes": changes,
        "summary": plan.summary(),
        "safety": {
            "apply_refuses": plan.refused,
            "valves": list(plan.valves),
            "protected": list(plan.refusals),
        },
    }
    shown_if_any = {
        "targets": plan.targets,
        "warnings": plan.notices,
        "confirmed_owners": plan.confirmed,
        "sources_disagree": plan.disagreements,
    }
    document.update({key: _as_json(items) for key, items in shown_if_any.items() if items})
    return document


def _as_json(value: Any) -> Any:
    """A value of the plan as JSON: a finding's personas by id (a plan file keeps their names)."""
    if isinstance(value, PersonaRef):
        return value.id
    if isinstance(value, tuple):
        return [_as_json(item) for item in value]
    if is_dataclass(value):
        return {field.name: _as_json(getattr(value, field.name)) for field in fields(value)}
    return value


_E164 = re.compile(r"\+[0-9]{6,15}")


def mask_numbers_in(text: str) -> str:
    """The text with every E.164 number in it masked: `****` and its last four digits (a fixed
    width, so the length is not shown)."""
    return _E164.sub(lambda match: "****" + match.group(0)[-4:], text)


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
            escape.code(shown_value(value)).replace("|", "\\|")
            for value in (change.before, change.after)
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
