"""A config file as plain data with the position of every value, and how values read in messages."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from reconciler.model import SourceMark

# Where a value sits in a document: mapping keys and list indexes from the top level down.
YamlPath = tuple[str | int, ...]

# The lists of owner entries, written alike: a persona's and an agent's.
OWNER_LISTS = ("personas", "agents")
# Values are shown in messages, but a 5 MB string must not become a 5 MB line.
SHOWN_CHARS = 60


@dataclass
class Document:
    """A YAML document as plain data, with the position of every value and of every mapping key."""

    file: str
    value: Any = None
    marks: dict[YamlPath, SourceMark] = field(default_factory=dict)
    key_marks: dict[YamlPath, SourceMark] = field(default_factory=dict)
    # The text of a plain scalar YAML read as something other than a string (014 is octal 12).
    raw: dict[YamlPath, str] = field(default_factory=dict)
    # Values already reported as refused YAML (tags, aliases, merge keys): the schema and the
    # phone checks stay quiet about them rather than repeat the same mistake in other words.
    refused: set[YamlPath] = field(default_factory=set)

    def mark(self, path: YamlPath) -> SourceMark:
        """The position of the value at path, or of its nearest ancestor."""
        found = self.marks.get(path)
        while found is None and path:
            path = path[:-1]
            found = self.marks.get(path)
        return found if found is not None else SourceMark(self.file, 1, 1)

    def is_refused(self, path: YamlPath) -> bool:
        """True when the value at path, or one holding it, was already reported as refused YAML."""
        return bool(self.refused) and any(
            path[:size] in self.refused for size in range(len(path) + 1)
        )


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """A value as it may appear in a message: on one line, and a very long one cut."""
    if not text.isprintable():
        # U+2028 and the like would break the message's line in some viewers.
        text = "".join(char if char.isprintable() else f"\\u{ord(char):04x}" for char in text)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}...({len(text):,} characters)"


def shown_json(value: Any) -> str:
    """A value as JSON (strings quoted, non-ASCII kept), as it may appear in a message."""
    return shown(json.dumps(value, ensure_ascii=False))


_TYPE_NAMES = {
    type(None): "empty (null)",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a mapping",
}


def type_name(value: Any) -> str:
    """What kind of value this is, in the words of a message."""
    return _TYPE_NAMES.get(type(value), type(value).__name__)
