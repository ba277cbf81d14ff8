"""The positioned document and how values read in messages."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.config.document import Document, shown, type_name
from reconciler.model import SourceMark


def test_a_mark_falls_back_to_the_nearest_ancestor_then_the_file_start() -> None:
    document = Document("f.yaml", marks={("personas",): SourceMark("f.yaml", 2, 1)})
    assert document.mark(("personas", 3, "numbers")) == SourceMark("f.yaml", 2, 1)
    assert document.mark(("protected", 0)) == SourceMark("f.yaml", 1, 1)


def test_a_value_inside_a_refused_one_is_refused() -> None:
    document = Document("f.yaml", refused={("personas", 0)})
    assert document.is_refused(("personas", 0))
    assert document.is_refused(("personas", 0, "numbers", 2))
    assert not document.is_refused(("personas", 1))
    assert not document.is_refused(())
    assert not Document("f.yaml").is_refused(("personas", 0))


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
