"""Message text: one line, safe for a terminal, long lists cut short, files' warnings."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.text import (
    and_more,
    one_line,
    printable,
    shown,
    type_name,
)


@pytest.mark.parametrize(
    ("text", "flat"),
    [
        ("plain", "plain"),
        ("  two\n lines \t", "two lines"),
        ("a\r\n\r\nb", "a b"),
        ("a\u2028b\u00a0c", "a b c"),
        ("", ""),
        (" \n\t", ""),
    ],
)
def test_one_line_joins_every_run_of_whitespace_with_one_space(text: str, flat: str) -> None:
    assert one_line(text) == flat


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Sales", "Sales"),
        ("Café 東京", "Café 東京"),
        ("two\nlines", "two\\x0alines"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("nul\x00del\x7f", "nul\\x00del\\x7f"),
        ("c1\x85\x9b", "c1\\x85\\x9b"),
        ("line\u2028paragraph\u2029", "line\\u2028paragraph\\u2029"),
        ("tab\there", "tab\\x09here"),
    ],
)
def test_printable_escapes_controls_and_line_separators(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_printable_leaves_a_single_line_that_cannot_move_the_cursor() -> None:
    text = "".join(chr(code) for code in (*range(0x250), 0x2028, 0x2029))
    result = printable(text)
    assert len(result.splitlines()) == 1
    assert not any(code < 0x20 or 0x7F <= code < 0xA0 for code in map(ord, result))


def test_and_more_shows_everything_within_the_limit() -> None:
    assert and_more(["a", "b", "c"], 3) == "a, b, c"
    assert and_more(["a"], 5) == "a"
    assert and_more([], 5) == ""


def test_and_more_counts_what_is_left_out() -> None:
    assert and_more(["a", "b", "c", "d"], 2) == "a, b, and 2 more"
    assert and_more([str(n) for n in range(30)], 20) == (
        ", ".join(str(n) for n in range(20)) + ", and 10 more"
    )


def test_printable_escapes_bidirectional_controls_that_reorder_a_line() -> None:
    # U+202E reverses what follows: "Sales<RLO>1010" would read as "Sales0101".
    assert printable("Sales\u202e1010") == "Sales\\u202e1010"
    assert printable("\u2066a\u2069\u200f") == "\\u2066a\\u2069\\u200f"
    assert printable("Café 📞") == "Café 📞"


def test_a_shown_value_stays_on_one_short_line() -> None:
    assert shown("Sales") == "Sales"
    assert shown("a\u2028b") == "a\\u2028b"
    long = shown("x" * 5000)
    assert long == "x" * 40 + "...(5,000 characters)"
    assert shown("x" * 300, 200) == "x" * 180 + "...(300 characters)"


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (None, "empty (null)"),
        (True, "a boolean"),
        (3, "a number"),
        (1.5, "a number"),
        ("x", "a string"),
        ([], "a list"),
        ({}, "a mapping"),
        (b"x", "bytes"),
    ],
)
def test_type_names(value: Any, name: str) -> None:
    assert type_name(value) == name
