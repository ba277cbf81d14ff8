"""Checks of number entries given as mappings that the schema cannot express."""

from __future__ import annotations

from typing import Any

from reconciler.config.document import Document, YamlPath, diagnostic_at
from reconciler.config.schema import OWNER_LISTS
from reconciler.errors import Diagnostic

# The API's limit on a label. The schema counts characters; a JavaScript server counts UTF-16
# units, in which an emoji is two: a label is held to both, so that the API cannot refuse it
# half-way through an apply.
MAX_LABEL = 150


def check_number_entries(document: Document, diagnostics: list[Diagnostic]) -> None:
    """Check what the schema cannot of each number given as a mapping, under either list."""
    for key in OWNER_LISTS:
        entries = document.value.get(key)
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            numbers = entry.get("numbers") if isinstance(entry, dict) else None
            for position, item in enumerate(numbers if isinstance(numbers, list) else []):
                if isinstance(item, dict):
                    path = (key, index, "numbers", position)
                    _check_entry(document, path, item, diagnostics)


def _check_entry(
    document: Document, path: YamlPath, item: dict[str, Any], diagnostics: list[Diagnostic]
) -> None:
    """An empty `settings:` (YAML reads it as null, which clears), and a label's UTF-16 length.

    An empty value is what a file looks like after the lines under `settings:` were deleted or
    commented out; clearing a live number's pathway must be written out as `settings: null`.
    """
    settings_path = (*path, "settings")
    # Under an agent, `settings` is refused whole by the schema: said once, not twice.
    if (
        path[0] == "personas"
        and "settings" in item
        and item["settings"] is None
        and document.raw.get(settings_path) == ""
    ):
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
