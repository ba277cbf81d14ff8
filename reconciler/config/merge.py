"""Merge checked documents into one Desired state, reporting what two places both claim."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.config.document import (
    Document,
    YamlPath,
    diagnostic_at,
    number_items,
    owner_entries,
    shown,
)
from reconciler.config.phone import CANONICAL_E164
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


class _Merger:
    """What the documents merged so far hold, and where each thing was first given."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        self.personas: list[DesiredPersona] = []
        self.protected: dict[str, SourceMark] = {}
        self.safety: SafetySettings | None = None
        self.safety_mark: SourceMark | None = None
        # Numbers, and per kind (a persona and an agent are named apart) ids and lone names.
        self.first_marks: dict[Any, SourceMark] = {}

    def is_listed_twice(self, claim: Any, mark: SourceMark, what: str) -> bool:
        """True, reporting it at mark, when claim was made before; else claim is made at mark."""
        first = self.first_marks.get(claim)
        if first is None:
            self.first_marks[claim] = mark
            return False
        self.diagnostics.append(diagnostic_at(mark, f"{what} is listed twice (also at {first})"))
        return True

    def add_document(self, document: Document) -> None:
        value = document.value
        for path, entry in owner_entries(value):
            self.add_entry(document, path, entry)
        protected = value.get("protected")
        for position, number in enumerate(protected if isinstance(protected, list) else []):
            if isinstance(number, str) and CANONICAL_E164.fullmatch(number):
                mark = document.mark(("protected", position))
                if not self.is_listed_twice(
                    ("protected", number), mark, f"protected number {number}"
                ):
                    self.protected[number] = mark
        if isinstance(value.get("safety"), dict):
            self.set_safety(value["safety"], document.mark(("safety",)))

    def add_entry(self, document: Document, path: YamlPath, entry: dict[str, Any]) -> None:
        kind: OwnerKind = "agent" if path[0] == "agents" else "persona"
        mark = document.mark(path)
        owner_id, name = entry.get("id"), entry.get("name")
        owner_id = owner_id if isinstance(owner_id, str) and owner_id else None
        name = name if isinstance(name, str) and name else None
        if owner_id is not None:
            self.is_listed_twice((kind, "id", owner_id), mark, f"{kind} id {shown(owner_id)}")
        elif name is not None:
            # Only a name alone names a persona twice: two entries with ids may share a name
            # (Bland allows it), and the name then only checks each id.
            self.is_listed_twice((kind, "name", name), mark, f"{kind} {shown(repr(name))}")
        number_marks: dict[str, SourceMark] = {}
        settings: dict[str, RoutingSettings | None] = {}
        labels: dict[str, str] = {}
        for number_path, item in number_items(path, entry):
            number = item
            if isinstance(item, dict):
                number, number_path = item.get("number"), (*number_path, "number")
            if not isinstance(number, str) or not CANONICAL_E164.fullmatch(number):
                continue
            number_mark = document.mark(number_path)
            if self.is_listed_twice(number, number_mark, number):
                continue
            number_marks[number] = number_mark
            if not isinstance(item, dict):
                continue
            # What a mapping entry declares besides its number; an agent's has no settings.
            declared = item.get("settings", False)
            if kind == "persona" and (declared is None or isinstance(declared, dict)):
                settings[number] = routing_settings(declared)
            if isinstance(item.get("label"), str):
                labels[number] = item["label"]
        self.personas.append(
            DesiredPersona(
                owner_id, name, tuple(number_marks), mark, number_marks, settings, labels, kind
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
