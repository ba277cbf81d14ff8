"""Checks of number entries given as mappings that the schema cannot express."""

from __future__ import annotations

from reconciler.config.document import Document, diagnostic_at
from reconciler.errors import Diagnostic


def check_number_entries(document: Document, diagnostics: list[Diagnostic]) -> None:
    """Refuse a `settings:` left empty: YAML reads it as null, which clears the settings.

    An empty value is what a file looks like after the lines under `settings:` were deleted or
    commented out; clearing a live number's pathway must be written out as `settings: null`.
    """
    personas = document.value.get("personas")
    if not isinstance(personas, list):
        return
    for index, persona in enumerate(personas):
        numbers = persona.get("numbers") if isinstance(persona, dict) else None
        if not isinstance(numbers, list):
            continue
        for position, item in enumerate(numbers):
            if not isinstance(item, dict) or "settings" not in item or item["settings"] is not None:
                continue
            path = ("personas", index, "numbers", position, "settings")
            if document.raw.get(path) == "":
                diagnostics.append(
                    diagnostic_at(
                        document.key_marks.get(path, document.mark(path)),
                        '"settings" is empty: write "settings: null" to clear the number\'s '
                        'settings, or give them with "pathway_id"',
                    )
                )
