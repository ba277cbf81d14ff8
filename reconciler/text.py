"""Text for messages: on one line, safe for a terminal, and a long value or list cut short."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

# Values are shown in messages, but a 5 MB string must not become a 5 MB line.
SHOWN_CHARS = 60

# C0 and C1 controls, DEL, the Unicode line and paragraph separators, and the bidirectional
# controls, which can make a line read in another order than it is written.
_BIDI_CONTROLS = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_UNPRINTABLE = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in (*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029, *_BIDI_CONTROLS)
}


def printable(text: str) -> str:
    """Text from the API made safe for one line of a terminal or CI log: controls are escaped
    (a persona name holding a newline or an ANSI sequence could fake plan lines)."""
    return text.translate(_UNPRINTABLE)


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """A value as it may appear in a message: on one line, and a very long one cut."""
    if not text.isprintable():
        # U+2028 and the like would break the message's line in some viewers.
        text = "".join(char if char.isprintable() else f"\\u{ord(char):04x}" for char in text)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}...({len(text):,} characters)"


def shown_json(value: Any) -> str:
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
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def one_line(text: str) -> str:
    return " ".join(text.split())


def and_more(items: Sequence[str], limit: int, separator: str = ", ") -> str:
    """The first `limit` items joined, then "and N more" when some are left out."""
    left_out = len(items) - limit
    return separator.join([*items[:limit], f"and {left_out} more"] if left_out > 0 else items)


def counted(number: int, singular: str, plural: str | None = None) -> str:
    """`1 read`, `2 reads`."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"
