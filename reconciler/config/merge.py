"""Merge checked documents into one Desired state, reporting what two places both claim."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.config.document import Document, diagnostic_at, shown
from reconciler.config.phone import CANONICAL_E164
from reconciler.config.schema import OWNER_LISTS
from reconciler.errors import Diagnostic
from reconciler.model import (
    Desired,
    DesiredPersona,
    OwnerKind,
    RoutingSettings,
    SafetySettings,
    SourceMark,
    routing_settings,
)


def merge(documents: Sequence[Document], diagnostics: list[Diagnostic]) -> Desired:
    """The documents' persona and agent entries, protected numbers and safety block, in file order.

    Agents' entries join the personas' (kind "agent"), in the order the file gives the two lists,
    so that a number is declared once across both. A persona, agent, number or safety block
    given twice is added to diagnostics at its second place.
    Values of the wrong type were reported by the schema; what is left of them is skipped here.
    """
    merger = _Merger(diagnostics)
    for document in documents:
        merger.add_document(document)
    return Desired(
        personas=tuple(merger.personas),
        files=tuple(document.file for document in documents),
        protected=tuple(merger.protected),
        protected_marks=merger.protected,
        safety=merger.safety or SafetySettings(),
    )


def _list_or_empty(mapping: dict[str, Any], key: str) -> list[Any]:
    found = mapping.get(key)
    return found if isinstance(found, list) else []


def _non_empty_string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _add_declared(
    item: dict[str, Any],
    number: str,
    settings: dict[str, RoutingSettings | None],
    labels: dict[str, str],
) -> None:
    """What a mapping entry declares besides its number (its label, its settings)."""
    if "settings" in item and (item["settings"] is None or isinstance(item["settings"], dict)):
        settings[number] = routing_settings(item["settings"])
    if isinstance(item.get("label"), str):
        labels[number] = item["label"]


class _Merger:
    """What the documents merged so far hold, and where each thing was first given."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        self.personas: list[DesiredPersona] = []
        self.protected: dict[str, SourceMark] = {}
        self.safety: SafetySettings | None = None
        self.safety_mark: SourceMark | None = None
        self.number_marks: dict[str, SourceMark] = {}
        # Per kind: a persona and an agent are named apart.
        self.id_marks: dict[tuple[OwnerKind, str], SourceMark] = {}
        self.name_marks: dict[tuple[OwnerKind, str], SourceMark] = {}

    def report_duplicate(self, mark: SourceMark, what: str, first: SourceMark) -> None:
        self.diagnostics.append(diagnostic_at(mark, f"{what} is listed twice (also at {first})"))

    def add_document(self, document: Document) -> None:
        value = document.value
        for key in [key for key in value if key in OWNER_LISTS]:
            for index, entry in enumerate(_list_or_empty(value, key)):
                if isinstance(entry, dict):
                    self.add_entry(document, key, index, entry)
        for position, number in enumerate(_list_or_empty(value, "protected")):
            if isinstance(number, str) and CANONICAL_E164.fullmatch(number):
                number_mark = document.mark(("protected", position))
                if number in self.protected:
                    self.report_duplicate(
                        number_mark, f"protected number {number}", self.protected[number]
                    )
                self.protected.setdefault(number, number_mark)
        if isinstance(value.get("safety"), dict):
            self.set_safety(value["safety"], document.mark(("safety",)))

    def add_entry(self, document: Document, key: str, index: int, entry: dict[str, Any]) -> None:
        kind: OwnerKind = "agent" if key == "agents" else "persona"
        mark = document.mark((key, index))
        persona_id = _non_empty_string(entry.get("id"))
        name = _non_empty_string(entry.get("name"))
        if persona_id is not None:
            if (kind, persona_id) in self.id_marks:
                first = self.id_marks[kind, persona_id]
                self.report_duplicate(mark, f"{kind} id {shown(persona_id)}", first)
            self.id_marks.setdefault((kind, persona_id), mark)
        if name is not None and persona_id is None:
            # Only a name alone names a persona twice: two entries with ids may share a name
            # (Bland allows it), and the name then only checks each id.
            if (kind, name) in self.name_marks:
                first = self.name_marks[kind, name]
                self.report_duplicate(mark, f"{kind} {shown(repr(name))}", first)
            self.name_marks.setdefault((kind, name), mark)
        numbers: list[str] = []
        number_marks: dict[str, SourceMark] = {}
        settings: dict[str, RoutingSettings | None] = {}
        labels: dict[str, str] = {}
        for position, item in enumerate(_list_or_empty(entry, "numbers")):
            path: tuple[str | int, ...] = (key, index, "numbers", position)
            number = item
            if isinstance(item, dict):
                number, path = item.get("number"), (*path, "number")
            if not isinstance(number, str) or not CANONICAL_E164.fullmatch(number):
                continue
            number_mark = document.mark(path)
            if number in self.number_marks:
                self.report_duplicate(number_mark, number, self.number_marks[number])
                continue
            self.number_marks[number] = number_mark
            numbers.append(number)
            number_marks[number] = number_mark
            if isinstance(item, dict):
                _add_declared(item, number, settings if kind == "persona" else {}, labels)
        self.personas.append(
            DesiredPersona(
                persona_id, name, tuple(numbers), mark, number_marks, settings, labels, kind
            )
        )

    def set_safety(self, block: dict[str, Any], mark: SourceMark) -> None:
        if self.safety_mark is not None:
            self.diagnostics.append(
                diagnostic_at(
                    mark, f"'safety' may be set in one file only (also at {self.safety_mark})"
                )
            )
        self.safety_mark = mark
        self.safety = SafetySettings(
            max_detach_percent=block.get("max_detach_percent"),
            min_numbers=block.get("min_numbers"),
            allow_emptying=block.get("allow_emptying"),
        )
