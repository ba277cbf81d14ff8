"""The schema check: its shortcuts for large files give the same answers as the long way; and
number entries given as mappings: what the schema cannot check, checked at the entry's place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.config.load import load_config
from reconciler.config.schema import _inline_refs, _plainly_valid_entry, _schema_errors, load_schema
from reconciler.errors import ConfigError

ENTRIES: list[Any] = [
    {"id": "p-1", "numbers": []},
    {"name": "Sales", "numbers": ["+14155550100"]},
    {"id": "p-1", "name": "Sales", "numbers": []},
    {"numbers": []},
    {"id": "", "numbers": []},
    {"name": "", "numbers": []},
    {"id": 7, "numbers": []},
    {"name": None, "numbers": []},
    {"id": None, "name": "Sales", "numbers": ["+14155550100"]},
    {"id": "p-1", "name": None, "numbers": []},
    {"id": "p-1"},
    {"id": "p-1", "numbers": "+14155550100"},
    {"id": "p-1", "numbers": [], "nubmers": []},
    {"id": "p-1", "numbers": None},
    ["not", "a", "mapping"],
    "a string",
    None,
    {"name": "Sales", "numbers": [{"number": "+14155550100"}]},
    {"name": "Sales", "numbers": ["+14155550100", {"number": "+14155550101", "label": ""}]},
    {"name": "Sales", "numbers": [{"number": "+14155550100", "settings": None}]},
    {"name": "Sales", "numbers": [{"number": "+14155550100", "settings": {"pathway_id": "p"}}]},
    {"name": "Sales", "numbers": [{"label": "no number"}]},
    {"name": "Sales", "numbers": [{"number": "+14155550100", "lable": "x"}]},
    {"name": "Sales", "numbers": [{"number": "+14155550100", "label": "x" * 151}]},
    {"name": "Sales", "numbers": [{"number": "+14155550100", "settings": {"pathway": "p"}}]},
    {"name": "Sales", "numbers": [{"number": "+14155550100", "settings": {}}]},
    {"name": "Sales", "numbers": [{"number": "+14155550100", "settings": "p"}]},
    {"name": "Sales", "numbers": [{"number": 14155550100}, None, True, ["+14155550100"]]},
    {
        "name": "Sales",
        "numbers": [
            {"number": "+14155550100", "settings": {"pathway_id": "", "pathway_version": 2.5}}
        ],
    },
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


@pytest.mark.parametrize("key", ["personas", "agents"])
@pytest.mark.parametrize("entry", ENTRIES, ids=repr)
def test_split_validation_finds_what_the_whole_schema_finds(entry: Any, key: str) -> None:
    document = {"version": 1, "personas": [], key: [{"id": "ok", "numbers": []}, entry]}
    found = {(path, error.validator, error.message) for path, error in _schema_errors(document)}
    assert found == _full_schema_errors(document)


@pytest.mark.parametrize("key", ["personas", "agents"])
@pytest.mark.parametrize("entry", ENTRIES, ids=repr)
def test_plainly_valid_entries_are_valid(entry: Any, key: str) -> None:
    if _plainly_valid_entry(entry):
        assert _full_schema_errors({"version": 1, "personas": [], key: [entry]}) == set()


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
        {"version": 1, "personas": [], "agents": []},
        {"version": 1, "personas": [], "agents": {}},
        {"version": 1, "personas": [], "agents": None},
        {"version": 1, "agents": []},
    ],
    ids=repr,
)
def test_top_level_shortcut_finds_what_the_whole_schema_finds(document: Any) -> None:
    found = {(path, error.validator, error.message) for path, error in _schema_errors(document)}
    assert found == _full_schema_errors(document)


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("+14155550100", True),
        ("+14155550100\n", False),  # "$" would let this through in Python's re
        ("+\u0661\u0664\u0661\u0665\u0665\u0665\u0665\u0660\u0661\u0660\u0660", False),  # "\d" too
        ("+0123", False),
    ],
)
def test_the_published_schema_pattern_is_strict_in_python_too(number: str, valid: bool) -> None:
    schema = load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    document = {"version": 1, "personas": [{"name": "Sales", "numbers": [number]}]}
    assert validator.is_valid(document) is valid


@pytest.mark.parametrize(
    ("entry", "valid"),
    [
        ({"number": "+14155550100"}, True),
        ({"number": "+14155550100", "label": "", "settings": None}, True),
        (
            {
                "number": "+14155550100",
                "label": "x" * 150,
                "settings": {"pathway_id": "p", "pathway_version": 2, "start_node_id": "n"},
            },
            True,
        ),
        ({"number": "+14155550100", "settings": {"pathway_version": 2}}, False),
        ({"number": "+14155550100", "settings": {"pathway_id": "p", "extra": 1}}, False),
        ({"number": "+14155550100", "label": "x" * 151}, False),
        # A JSON number past 2**53 - 1 loses precision in a JavaScript server: never converges.
        (
            {
                "number": "+14155550100",
                "settings": {"pathway_id": "p", "pathway_version": 2**53 - 1},
            },
            True,
        ),
        (
            {"number": "+14155550100", "settings": {"pathway_id": "p", "pathway_version": 2**53}},
            False,
        ),
        ({"number": "+1415555010x"}, False),
        ({"label": "x"}, False),
    ],
    ids=repr,
)
def test_the_published_schema_takes_number_mappings(entry: dict[str, Any], valid: bool) -> None:
    validator = jsonschema.Draft202012Validator(load_schema())
    document = {"version": 1, "personas": [{"name": "Sales", "numbers": [entry]}]}
    assert validator.is_valid(document) is valid


@pytest.mark.parametrize(
    ("entry", "valid"),
    [
        ({"number": "+14155550100"}, True),
        ({"number": "+14155550100", "label": ""}, True),
        ({"number": "+14155550100", "settings": None}, False),
        ({"number": "+14155550100", "settings": {"pathway_id": "p"}}, False),
        ({"number": "+14155550100", "label": "x" * 151}, False),
        ("+14155550100", True),
        ("+1415555010x", False),
    ],
    ids=repr,
)
def test_the_published_schema_takes_agents_numbers_without_settings(
    entry: Any, valid: bool
) -> None:
    validator = jsonschema.Draft202012Validator(load_schema())
    document = {"version": 1, "personas": [], "agents": [{"id": "a-1", "numbers": [entry]}]}
    assert validator.is_valid(document) is valid


def load(tmp_path: Path, entry: str) -> list[str]:
    """The messages of loading one persona whose only number entry is `entry` (YAML lines)."""
    config = tmp_path / "personas.yaml"
    config.write_text(
        "version: 1\npersonas:\n  - name: Sales\n    numbers:\n"
        + "".join(f"      {line}\n" for line in entry.splitlines())
    )
    try:
        load_config([config])
    except ConfigError as error:
        return [str(diagnostic) for diagnostic in error.diagnostics]
    return []


def test_an_empty_settings_key_is_an_error_not_a_clear(tmp_path: Path) -> None:
    messages = load(tmp_path, '- number: "+14155550101"\n  settings:')
    assert messages == [
        f'{tmp_path / "personas.yaml"}:6:9: "settings" is empty: write "settings: null" to '
        'clear the number\'s settings, or give them with "pathway_id"'
    ]


def test_settings_null_written_out_clears_and_is_valid(tmp_path: Path) -> None:
    assert load(tmp_path, '- number: "+14155550101"\n  settings: null') == []


@pytest.mark.parametrize(
    ("label", "units"),
    [("\U0001f600" * 76, 152), ("a" * 149 + "\U0001f600", 151)],
)
def test_a_label_over_150_utf16_units_is_refused_at_the_label(
    tmp_path: Path, label: str, units: int
) -> None:
    messages = load(tmp_path, f'- number: "+14155550101"\n  label: "{label}"')
    assert messages == [
        f'{tmp_path / "personas.yaml"}:6:16: "label" is {units} characters long as the API '
        "may count them (an emoji counts as two): at most 150 are allowed"
    ]


def test_a_label_of_150_units_with_emoji_is_valid(tmp_path: Path) -> None:
    assert load(tmp_path, '- number: "+14155550101"\n  label: "' + "\U0001f600" * 75 + '"') == []


def test_the_published_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema())
