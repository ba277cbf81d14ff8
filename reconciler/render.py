"""Render a plan as text or JSON, and mask its numbers for public output (pure)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from itertools import groupby
from typing import TypeVar

from reconciler.model import UNREAD, RoutingSettings, SeenLabel, SeenSettings
from reconciler.plan import Action, Change, Plan
from reconciler.text import printable

PLAN_FORMAT_VERSION = 1

Style = Callable[[str, str], str]

_SIGNS = {
    Action.ATTACH: ("+", "green"),
    Action.MOVE: ("~", "yellow"),
    Action.DETACH: ("-", "red"),
    Action.SETTINGS: ("*", "cyan"),
    Action.LABEL: ("*", "cyan"),
}


def _plain(text: str, _colour: str) -> str:
    return text


def render_text(
    plan: Plan, config_label: str, style: Style = _plain, warnings: Sequence[str] = ()
) -> str:
    """Changes grouped by persona, `+` attach, `~` move, `-` detach, `*` settings and labels,
    warnings, the summary line."""
    if plan.is_empty:
        return f"No changes. The account matches {config_label}.\n"
    arriving = arrivals(plan)
    lines: list[str] = []
    for (persona_id, persona_name), changes in groupby(
        plan.changes, key=lambda change: (change.persona_id, change.persona_name)
    ):
        lines.append(style(f"{printable(persona_name)} ({printable(persona_id)})", "bold"))
        for change in changes:
            lines.append("  " + _change_line(change, style, arriving))
            dropped = plan.settings_dropped.get(change.phone_number)
            if change.action is Action.MOVE and dropped is not None:
                lines.append("    " + style(dropped_note(dropped), "yellow"))
        lines.append("")
    lines.extend(style(warning, "red") for warning in warnings)
    lines.append(plan.summary_line())
    return "\n".join(lines) + "\n"


def _change_line(change: Change, style: Style, arriving: dict[tuple[str, str], str]) -> str:
    sign, colour = _SIGNS[change.action]
    text = f"{sign} {change.phone_number}"
    if change.action is Action.MOVE:
        source = printable(change.from_persona_name or change.from_persona_id or "")
        text += f" (from {source!r})"
    elif change.action is Action.SETTINGS or change.action is Action.LABEL:
        before = shown_value(change.before)
        arrival = arriving.get((change.persona_id, change.phone_number))
        if arrival is not None and change.action is Action.SETTINGS:
            before += f" (after the {arrival})"
        text += f" {change.action.value}: {before} -> {shown_value(change.after)}"
    return style(text, colour)


def dropped_note(settings: RoutingSettings) -> str:
    """What a move does to settings the config does not declare."""
    return (
        f"its settings there, {shown_value(settings)}, are cleared by the move "
        "(declare them under the number to keep them)"
    )


def arrivals(plan: Plan) -> dict[tuple[str, str], str]:
    """(persona id, number) of each number an attach or move brings, and which it is."""
    return {
        (change.persona_id, change.phone_number): change.action.value
        for change in plan.changes
        if change.action is Action.ATTACH or change.action is Action.MOVE
    }


def shown_value(value: SeenSettings | SeenLabel) -> str:
    """A settings or label value on one line: JSON, `none`, or `(not shown by the API)`."""
    if value is UNREAD:
        return "(not shown by the API)"
    if value is None or value == "":
        return "none"
    if isinstance(value, RoutingSettings):
        return printable(str(value))
    return printable(json.dumps(value, ensure_ascii=False))


def render_json(plan: Plan) -> str:
    """The plan as `{"format_version", "changes", "summary"}`, stable key order."""
    document = {
        "format_version": PLAN_FORMAT_VERSION,
        "changes": [change.to_json() for change in plan.changes],
        "summary": plan.summary(),
    }
    return json.dumps(document, indent=2) + "\n"


def mask_number(number: str) -> str:
    """Only the last four digits, the rest as `*` (fixed width, so the length is not shown)."""
    return "****" + number[-4:]


_E164 = re.compile(r"\+[0-9]{6,15}")


def mask_numbers_in(text: str) -> str:
    """Free text (a warning, a note) with every E.164 number in it masked."""
    return _E164.sub(lambda match: mask_number(match.group(0)), text)


def masked(plan: Plan) -> Plan:
    """The same plan with every phone number masked, for output that is made public.

    Labels are free text that may hold a number too: numbers in them are masked as well.
    """
    changes = tuple(
        replace(
            change,
            phone_number=mask_number(change.phone_number),
            before=_masked_text(change.before),
            after=_masked_text(change.after),
        )
        if change.action is Action.LABEL
        else replace(change, phone_number=mask_number(change.phone_number))
        for change in plan.changes
    )
    # The move notes follow their numbers; two numbers that mask alike get none.
    masks = Counter(mask_number(number) for number in plan.settings_dropped)
    dropped = {
        mask_number(number): settings
        for number, settings in plan.settings_dropped.items()
        if masks[mask_number(number)] == 1
    }
    return replace(plan, changes=changes, settings_dropped=dropped)


_Value = TypeVar("_Value")


def _masked_text(value: _Value) -> _Value | str:
    return mask_numbers_in(value) if isinstance(value, str) else value
