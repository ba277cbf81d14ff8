"""Checks of number entries given as mappings that the schema cannot express."""

from __future__ import annotations

from typing import Any

from reconciler.config.document import Document, YamlPath, diagnostic_at
from reconciler.errors import Diagnostic

# The API's limit on a label. The schema counts characters; a JavaScript server counts UTF-16
# units, in which an emoji is two: a label is held to both, so that the API cannot refuse it
# half-way through an apply.
MAX_LABEL = 150


def check_number_entries(document: Document, diagnostics: list[Diagnostic]) -> None:
    """Check what the schema cannot of each number given as a mapping."""
    personas = document.value.get("personas")
    if not isinstance(personas, list):
        return
    for index, persona in enumerate(personas):
        numbers = persona.get("numbers") if isinstance(persona, dict) else None
        if not isinstance(numbers, list):
            continue
        for position, item in enumerate(numbers):
            if isinstance(item, dict):
                _check_entry(document, ("personas", index, "numbers", position), item, diagnostics)


def _check_entry(
    document: Document, path: YamlPath, item: dict[str, Any], diagnostics: list[Diagnostic]
) -> None:
    """An empty `settings:` (YAML reads it as null, which clears), and a label's UTF-16 length.

    An empty value is what a file looks like after the lines under `settings:` were deleted or
    commented out; clearing a live number's pathway must be written out as `settings: null`.
    """
    settings_path = (*path, "settings")
    if "settings" in item and item["settings"] is None and document.raw.get(settings_path) == "":
        diagnostics.append(
            diagnostic_at(
                document.key_marks.get(settings_path, document.mark(settings_path)),
                '"settings" is empty: write "settings: null" to clear the number\'s '
                'settings, or give them with "pathway_id"',
            )
        )
    label = item.get("label")
    if isinstance(label, str) and len(label) <= MAX_LABEL:
        units = len(label.encode("utf-16-le")) // 2
        if units > MAX_LABEL:
            diagnostics.append(
                diagnostic_at(
                    document.mark((*path, "label")),
                    f'"label" is {units} characters long as the API may count them (an emoji '
                    f"counts as two): at most {MAX_LABEL} are allowed",
                )
            )
