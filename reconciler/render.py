"""Render a plan as text or JSON (pure: plan in, string out)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from itertools import groupby

from reconciler.plan import Action, Change, Plan

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
        lines.append(style(f"{persona_name} ({persona_id})", "bold"))
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
        source = change.from_persona_name or change.from_persona_id
        text += f" (from {source!r})"
    return style(text, colour)


def change_to_json(change: Change) -> dict[str, str]:
    """One change as the JSON object documented in the README."""
    item = {
        "action": change.action.value,
        "persona_id": change.persona_id,
        "persona_name": change.persona_name,
        "phone_number": change.phone_number,
    }
    if change.action is Action.MOVE:
        item["from_persona_id"] = change.from_persona_id or ""
        item["from_persona_name"] = change.from_persona_name or ""
    return item


def render_json(plan: Plan) -> str:
    """The plan as `{"format_version", "changes", "summary"}`, stable key order."""
    document = {
        "format_version": PLAN_FORMAT_VERSION,
        "changes": [change_to_json(change) for change in plan.changes],
        "summary": plan.summary(),
    }
    return json.dumps(document, indent=2) + "\n"
