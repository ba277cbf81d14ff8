"""The shortcuts config loading takes for large files give the same answers as the long way."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from reconciler.config import load_schema, parse_yaml
from reconciler.config.phone import _impossible_reason
from reconciler.config.schema import _inline_refs, _plainly_valid_persona, _schema_errors
from reconciler.model import SourceMark

ENTRIES: list[Any] = [
    {"id": "p-1", "numbers": []},
    {"name": "Sales", "numbers": ["+14155550100"]},
    {"id": "p-1", "name": "Sales", "numbers": []},
    {"numbers": []},
    {"id": "", "numbers": []},
    {"name": "", "numbers": []},
    {"id": 7, "numbers": []},
    {"name": None, "numbers": []},
    {"id": "p-1"},
    {"id": "p-1", "numbers": "+14155550100"},
    {"id": "p-1", "numbers": [], "nubmers": []},
    {"id": "p-1", "numbers": None},
    ["not", "a", "mapping"],
    "a string",
    None,
]


def _full_schema_errors(value: Any) -> set[tuple[tuple[Any, ...], str, str]]:
    """Errors of the whole schema in one validator, as the loader used to run it."""
    schema = load_schema()
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(_inline_refs(schema, schema["$defs"]), format_checker=cls.FORMAT_CHECKER)
    return {
        (tuple(error.absolute_path), error.validator, error.message)
        for error in validator.iter_errors(value)
    }


@pytest.mark.parametrize("entry", ENTRIES, ids=repr)
def test_split_validation_finds_what_the_whole_schema_finds(entry: Any) -> None:
    document = {"version": 1, "personas": [{"id": "ok", "numbers": []}, entry]}
    found = {(path, error.validator, error.message) for path, error in _schema_errors(document)}
    assert found == _full_schema_errors(document)


@pytest.mark.parametrize("entry", ENTRIES, ids=repr)
def test_plainly_valid_entries_are_valid(entry: Any) -> None:
    if _plainly_valid_persona(entry):
        assert _full_schema_errors({"version": 1, "personas": [entry]}) == set()


def test_a_possible_number_does_not_vouch_for_another_length() -> None:
    assert _impossible_reason("+14155550100") is None
    assert _impossible_reason("+14155550100") is None  # from the shape cache
    assert _impossible_reason("+141555501001") is not None
    assert _impossible_reason("+1415555010") is not None


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


@pytest.mark.parametrize(
    "document",
    [
        {"version": 1, "personas": []},
        {"version": 2, "personas": []},
        {"version": True, "personas": []},
        {"version": 1.0, "personas": []},
        {"version": 1, "personas": {}},
        {"personas": []},
        {"version": 1},
        {"version": 1, "personas": [], "protected": ["+14155550100"]},
        {"version": 1, "personas": [], "safety": {"max_detach_percent": 200}},
        {"version": 1, "personas": [], "extra": 1},
    ],
    ids=repr,
)
def test_top_level_shortcut_finds_what_the_whole_schema_finds(document: Any) -> None:
    found = {(path, error.validator, error.message) for path, error in _schema_errors(document)}
    assert found == _full_schema_errors(document)
