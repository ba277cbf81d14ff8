"""Merging files: what two places both claim is reported at the second, with the first."""

from __future__ import annotations

import pytest

from reconciler.config import load_config_sources
from reconciler.errors import ConfigError
from reconciler.model import SafetySettings, SourceMark, routing_settings

SUPPORT = 'version: 1\npersonas:\n  - id: p-1\n    name: Support\n    numbers: ["+14155550100"]\n'


def problems(*sources: tuple[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_config_sources([(name, text.encode()) for name, text in sources])
    return str(raised.value).splitlines()


def test_files_merge_in_order_with_every_position_kept() -> None:
    sales = 'version: 1\npersonas:\n  - name: Sales\n    numbers: ["+14155550110"]\n'
    rest = 'version: 1\npersonas: []\nprotected: ["+14155550199"]\nsafety: {min_numbers: 3}\n'
    desired = load_config_sources(
        [("a.yaml", SUPPORT.encode()), ("b.yaml", sales.encode()), ("c.yaml", rest.encode())]
    )
    assert desired.files == ("a.yaml", "b.yaml", "c.yaml")
    assert [(p.id, p.name, p.numbers) for p in desired.personas] == [
        ("p-1", "Support", ("+14155550100",)),
        (None, "Sales", ("+14155550110",)),
    ]
    assert desired.personas[1].mark == SourceMark("b.yaml", 3, 5)
    assert desired.personas[1].number_marks == {"+14155550110": SourceMark("b.yaml", 4, 15)}
    assert desired.protected == ("+14155550199",)
    assert desired.protected_marks == {"+14155550199": SourceMark("c.yaml", 3, 13)}
    assert desired.safety == SafetySettings(min_numbers=3)


def test_a_number_on_two_personas_is_reported_and_kept_on_the_first() -> None:
    other = 'version: 1\npersonas:\n  - id: p-2\n    numbers: ["+14155550100"]\n'
    assert problems(("a.yaml", SUPPORT), ("b.yaml", other)) == [
        "b.yaml:4:15: +14155550100 is listed twice (also at a.yaml:5:15)"
    ]


def test_the_same_id_twice_is_reported() -> None:
    again = "version: 1\npersonas:\n  - id: p-1\n    numbers: []\n"
    assert problems(("a.yaml", SUPPORT), ("b.yaml", again)) == [
        "b.yaml:3:5: persona id p-1 is listed twice (also at a.yaml:3:5)"
    ]


def test_a_name_is_a_duplicate_only_without_an_id() -> None:
    with_id = "version: 1\npersonas:\n  - id: p-2\n    name: Support\n    numbers: []\n"
    load_config_sources([("a.yaml", SUPPORT.encode()), ("b.yaml", with_id.encode())])
    alone = "version: 1\npersonas:\n  - name: Sales\n    numbers: []\n"
    assert problems(("a.yaml", alone), ("b.yaml", alone)) == [
        "b.yaml:3:5: persona 'Sales' is listed twice (also at a.yaml:3:5)"
    ]


def test_a_protected_number_twice_and_safety_in_two_files_are_reported() -> None:
    text = 'version: 1\npersonas: []\nprotected: ["+14155550199"]\nsafety: {min_numbers: 3}\n'
    assert problems(("a.yaml", text), ("b.yaml", text)) == [
        "b.yaml:3:13: protected number +14155550199 is listed twice (also at a.yaml:3:13)",
        "b.yaml:4:9: 'safety' may be set in one file only (also at a.yaml:4:9)",
    ]


def test_number_mappings_declare_settings_and_labels_and_plain_entries_nothing() -> None:
    text = (
        "version: 1\n"
        "personas:\n"
        "  - name: Support\n"
        "    numbers:\n"
        '      - "+14155550100"\n'
        '      - number: "+14155550101"\n'
        "        label: Front desk\n"
        "        settings: {pathway_id: pw_1, pathway_version: 2.0}\n"
        '      - number: "+14155550102"\n'
        "        settings: null\n"
        '      - number: "+14155550103"\n'
        '        label: ""\n'
    )
    (persona,) = load_config_sources([("a.yaml", text.encode())]).personas
    assert persona.numbers == ("+14155550100", "+14155550101", "+14155550102", "+14155550103")
    assert persona.settings == {
        "+14155550101": routing_settings({"pathway_id": "pw_1", "pathway_version": 2}),
        "+14155550102": None,
    }
    assert persona.labels == {"+14155550101": "Front desk", "+14155550103": ""}
    # Messages about a mapping's number point at the number itself.
    assert persona.number_marks["+14155550101"] == SourceMark("a.yaml", 6, 17)


def test_a_number_given_as_a_mapping_twice_is_reported_at_its_number() -> None:
    twice = 'version: 1\npersonas:\n  - id: p-2\n    numbers:\n      - number: "+14155550100"\n'
    assert problems(("a.yaml", SUPPORT), ("b.yaml", twice)) == [
        "b.yaml:5:17: +14155550100 is listed twice (also at a.yaml:5:15)"
    ]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("settings:", 'a.yaml:6:9: "settings" is empty: write "settings: null" to clear'),
        ("settings: {number: x}", 'a.yaml:6:20: unknown key "number"'),
        ("settings: null", None),
        ('label: "' + "\U0001f4de" * 75 + '"', None),
        (
            'label: "' + "\U0001f4de" * 76 + '"',
            'a.yaml:6:16: "label" is 152 characters long as the API may count them',
        ),
        ("settings: ~", None),
        ('label: ""', None),
    ],
)
def test_an_empty_settings_value_is_refused_but_an_explicit_null_clears(
    value: str, problem: str | None
) -> None:
    text = (
        'version: 1\npersonas:\n  - name: Support\n    numbers:\n      - number: "+14155550100"\n'
        f"        {value}\n"
    )
    if problem is None:
        load_config_sources([("a.yaml", text.encode())])
    else:
        assert any(line.startswith(problem) for line in problems(("a.yaml", text)))
