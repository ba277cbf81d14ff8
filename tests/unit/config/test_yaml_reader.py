"""Strict, positioned YAML: every value keeps its place, what plain data never needs is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config.load import load_config
from reconciler.config.yaml_reader import MAX_DEPTH, Document, parse_yaml
from reconciler.errors import ConfigError
from reconciler.model import SourceMark
from tests.conftest import EXAMPLES


def test_nesting_is_capped_in_block_style_too(tmp_path: Path) -> None:
    config = tmp_path / "deep.yaml"
    lines = ["version: 1", "personas: []", "x:"]
    lines += ["  " * depth + f"k{depth}:" for depth in range(1, MAX_DEPTH + 10)]
    config.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as raised:
        load_config([config])
    assert f"nested more than {MAX_DEPTH} levels deep" in str(raised.value)


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    config = tmp_path / "bom.yaml"
    config.write_bytes(b"\xef\xbb\xbf" + (EXAMPLES / "personas.yaml").read_bytes())
    assert len(load_config([config]).personas) == 3


def test_windows_line_endings_are_accepted(tmp_path: Path) -> None:
    config = tmp_path / "crlf.yaml"
    config.write_bytes((EXAMPLES / "personas.yaml").read_bytes().replace(b"\n", b"\r\n"))
    assert len(load_config([config]).personas) == 3


def test_marks_of_numbers_and_plain_values_point_at_the_source() -> None:
    text = (
        "version: 1\n"
        "personas:\n"
        "  - id: p-1\n"
        "    numbers:\n"
        '      - "+14155550100"\n'
        "      - '+14155550101'\n"
        "  - name: Sales\n"
        '    numbers: ["+14155550102"]\n'
    )
    document, problems = parse_yaml("f.yaml", text.encode())
    assert problems == []
    assert document is not None
    assert document.value["personas"][0]["numbers"] == ["+14155550100", "+14155550101"]
    assert document.mark(("personas", 0, "numbers", 1)) == SourceMark("f.yaml", 6, 9)
    assert document.mark(("personas", 1, "numbers", 0)) == SourceMark("f.yaml", 8, 15)
    assert document.mark(("personas", 1, "name")) == SourceMark("f.yaml", 7, 11)


def test_an_anchored_number_is_still_refused() -> None:
    text = 'version: 1\npersonas:\n  - id: p\n    numbers: [&n "+14155550100", *n]\n'
    _, problems = parse_yaml("f.yaml", text.encode())
    messages = [str(problem) for problem in problems]
    assert "f.yaml:4:15: anchors (&n) are not allowed: write values out" in messages
    assert any("aliases (*n) are not allowed" in message for message in messages)


def test_the_value_of_a_list_used_as_a_key_is_dropped_with_it() -> None:
    """The value after a refused key is read as that key's value, never as the next key."""
    text = "version: 1\npersonas: []\n? [a]\n: b\nc: d\n"
    document, problems = parse_yaml("f.yaml", text.encode())
    assert [str(problem) for problem in problems] == [
        "f.yaml:3:3: a mapping key must be a plain value, not a list or mapping"
    ]
    assert document is not None
    assert document.value == {"version": 1, "personas": [], "c": "d"}
    assert document.key_marks[("c",)] == SourceMark("f.yaml", 5, 1)


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
