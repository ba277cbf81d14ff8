"""Verification of what the config declares per number: settings and labels, as read back."""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.model import (
    UNREAD,
    LivePersona,
    RoutingSettings,
    SeenLabel,
    SeenSettings,
    same_label,
)
from reconciler.plan import Plan
from reconciler.text import printable


def _shown(value: SeenSettings | SeenLabel) -> str:
    if value is UNREAD:
        return "(not shown)"
    if value is None or value == "":
        return "none"
    return printable(str(value) if isinstance(value, RoutingSettings) else repr(value))


def declared_mismatches(plan: Plan, personas: Mapping[str, LivePersona]) -> list[str]:
    """What read back differs from the settings and labels the config declares.

    Only numbers on their persona are checked (one that is not is reported as such); a value
    the API does not show cannot be verified and is reported, never passed.
    """
    found: list[str] = []
    for managed in plan.managed:
        persona = personas.get(managed.id)
        if persona is None or persona.deleted:
            continue
        name = printable(managed.name)
        for number, wanted in sorted(managed.settings.items()):
            seen = persona.settings_of(number)
            if number not in persona.numbers or (seen is not UNREAD and seen == wanted):
                continue
            if seen is UNREAD:
                found.append(
                    f"{name}: cannot read back the settings of {number}: the API lists the "
                    "persona's numbers without them"
                )
            else:
                found.append(
                    f"{name}: {number} has the settings {_shown(seen)}, not {_shown(wanted)}"
                )
        for number, label in sorted(managed.labels.items()):
            seen_label = persona.label_of(number)
            if number not in persona.numbers or same_label(seen_label, label):
                continue
            if seen_label is UNREAD:
                found.append(
                    f"{name}: cannot read back the label of {number}: the API lists the "
                    "persona's numbers without it"
                )
            else:
                found.append(
                    f"{name}: {number} has the label {_shown(seen_label)}, not {_shown(label)}"
                )
    return found
