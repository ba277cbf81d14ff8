"""Loading: from arguments to file contents (folders, files named twice, unreadable files, the
size limit), then read, check and merge (what two places both claim is reported at the second,
with the first), and what the loader returns."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.config.load import (
    DEFAULT_MAX_FILE_BYTES,
    load_config,
    load_config_sources,
)
from reconciler.errors import ConfigError, InputError
from reconciler.model import SourceMark, routing_settings
from tests.conftest import EXAMPLES


def test_a_large_valid_file_loads(tmp_path: Path) -> None:
    config = tmp_path / "large.yaml"
    numbers = "".join(f'      - "+1415{n:07d}"\n' for n in range(5000))
    config.write_text(f"version: 1\npersonas:\n  - name: Sales\n    numbers:\n{numbers}")
    desired = load_config([config])
    assert len(desired.personas[0].numbers) == 5000


@pytest.mark.parametrize(
    ("written", "shown"),
    [(".nan", ".nan"), (".NaN", ".nan"), (".inf", ".inf"), ("+.inf", ".inf"), ("-.Inf", "-.inf")],
)
def test_a_threshold_that_is_not_a_finite_number_is_refused_at_its_place(
    written: str, shown: str, tmp_path: Path
) -> None:
    """nan passes every bound of a JSON Schema, and a nan threshold switched the valve off."""
    config = tmp_path / "personas.yaml"
    config.write_text(
        f"version: 1\npersonas: []\nsafety:\n  min_numbers: 2\n  max_detach_percent: {written}\n"
    )
    with pytest.raises(ConfigError) as refused:
        load_config([config])
    assert str(refused.value) == (
        f'{config}:5:23: "max_detach_percent" must be a number from 0 to 100, not {shown}'
    )


def test_the_agents_example_lists_personas_and_agents_side_by_side() -> None:
    desired = load_config([EXAMPLES / "agents.yaml"])
    assert [(entry.kind, entry.name) for entry in desired.personas] == [
        ("persona", "Support Agent"),
        ("agent", "Booking"),
        ("agent", "After Hours"),
    ]
    assert desired.personas[1].labels == {"+14155550111": "Bookings"}
    assert desired.protected == ("+14155550110",)


def test_a_large_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    config = tmp_path / "huge.yaml"
    with config.open("wb") as stream:
        stream.truncate(DEFAULT_MAX_FILE_BYTES + 1)  # sparse: nothing is written to the disk
    with pytest.raises(ConfigError) as raised:
        load_config([config])
    assert str(raised.value) == (
        f"{config}:1:1: the file is 10,485,761 bytes, over the limit of 10,485,760 bytes "
        "(--max-file-size): it is not read"
    )


def test_no_file_given() -> None:
    with pytest.raises(InputError, match="no config file given"):
        load_config([])


VALID = "version: 1\npersonas: []\n"


def test_a_folder_gives_its_yaml_files_sorted(tmp_path: Path) -> None:
    (tmp_path / "b.yml").write_text(VALID)
    (tmp_path / "a.YAML").write_text(VALID)
    (tmp_path / "notes.txt").write_text("not config")
    (tmp_path / "sub.yaml").mkdir()
    assert load_config([tmp_path]).files == (str(tmp_path / "a.YAML"), str(tmp_path / "b.yml"))


@pytest.mark.parametrize(
    "name",
    [".pre-commit-config.yaml", ".gitlab-ci.yml", ".#personas.yaml", ".personas.yaml"],
)
def test_a_folder_skips_its_dot_files(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("repos: []\n")
    (tmp_path / "personas.yaml~").write_text("an editor's backup")
    (tmp_path / ".personas.yaml.swp").write_bytes(b"\x00swap")
    (tmp_path / "personas.yaml").write_text(VALID)
    assert load_config([tmp_path]).files == (str(tmp_path / "personas.yaml"),)


def test_a_dot_file_named_on_the_command_line_is_read(tmp_path: Path) -> None:
    hidden = tmp_path / ".personas.yaml"
    hidden.write_text(VALID)
    assert load_config([hidden]).files == (str(hidden),)


def test_a_file_named_twice_is_read_once(tmp_path: Path) -> None:
    config = tmp_path / "a.yaml"
    config.write_text(VALID)
    assert load_config([config, tmp_path, config]).files == (str(config),)


def test_a_file_over_the_limit_is_a_diagnostic_and_the_others_are_read(tmp_path: Path) -> None:
    small, large = tmp_path / "a.yaml", tmp_path / "b.yaml"
    small.write_text(VALID.replace("1", "2"))  # read: its own problem is reported
    large.write_text(VALID + "#")
    with pytest.raises(ConfigError) as raised:
        load_config([small, large], max_bytes=len(VALID))
    assert str(raised.value).splitlines() == [
        f'{small}:1:10: "version" must be 1, not 2',
        f"{large}:1:1: the file is {len(VALID) + 1} bytes, over the limit of {len(VALID)} bytes "
        "(--max-file-size): it is not read",
    ]


def test_every_argument_that_cannot_be_read_is_named_once_in_order(tmp_path: Path) -> None:
    missing, empty, fifo = tmp_path / "nope.yaml", tmp_path / "empty", tmp_path / "pipe.yaml"
    empty.mkdir()
    under_a_file = tmp_path / "notes.txt" / "a.yaml"
    under_a_file.parent.write_text("")
    try:
        os.mkfifo(fifo)
    except (AttributeError, OSError):
        pytest.skip("no FIFOs here")
    with pytest.raises(InputError) as raised:
        load_config([missing, empty, fifo, missing, under_a_file])
    assert str(raised.value).splitlines() == [
        f"{missing}: no such file",
        f"{empty}: the folder has no .yaml or .yml files",
        f"{fifo}: not a regular file",
        f"{under_a_file}: no such file",
    ]


def test_an_unreadable_file_gives_the_reason_in_lower_case(tmp_path: Path) -> None:
    config = tmp_path / "secret.yaml"
    config.write_text("version: 1\n")
    config.chmod(0)
    if os.access(config, os.R_OK):
        pytest.skip("running as a user who can read any file")
    with pytest.raises(InputError) as raised:
        load_config([config])
    assert str(raised.value) == f"{config}: cannot read the file (permission denied)"


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
    assert desired.safety == {"min_numbers": 3}


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


AGENTS = (
    "version: 1\n"
    "agents:\n"
    "  - id: a-1\n"
    "    numbers:\n"
    '      - "+14155550120"\n'
    '      - number: "+14155550121"\n'
    "        label: Bookings\n"
    "personas:\n"
    '  - name: Sales\n    numbers: ["+14155550110"]\n'
)


def test_agents_join_the_personas_in_file_order_as_kind_agent() -> None:
    desired = load_config_sources([("a.yaml", AGENTS.encode()), ("b.yaml", SUPPORT.encode())])
    assert [(p.kind, p.id, p.name, p.numbers) for p in desired.personas] == [
        ("agent", "a-1", None, ("+14155550120", "+14155550121")),
        ("persona", None, "Sales", ("+14155550110",)),
        ("persona", "p-1", "Support", ("+14155550100",)),
    ]
    agent = desired.personas[0]
    assert agent.mark == SourceMark("a.yaml", 3, 5)
    assert agent.labels == {"+14155550121": "Bookings"}
    assert agent.settings == {}
    assert agent.number_marks["+14155550121"] == SourceMark("a.yaml", 6, 17)


def test_a_file_without_agents_stays_valid_and_all_personas() -> None:
    desired = load_config_sources([("a.yaml", SUPPORT.encode())])
    assert [p.kind for p in desired.personas] == ["persona"]


@pytest.mark.parametrize(
    ("second", "problem"),
    [
        (
            'version: 1\npersonas:\n  - id: p-9\n    numbers: ["+14155550120"]\n',
            "b.yaml:4:15: +14155550120 is listed twice (also at a.yaml:5:9)",
        ),
        (
            'version: 1\npersonas: []\nagents:\n  - id: a-2\n    numbers: ["+14155550110"]\n',
            "b.yaml:5:15: +14155550110 is listed twice (also at a.yaml:10:15)",
        ),
        (
            "version: 1\npersonas: []\nagents:\n  - id: a-1\n    numbers: []\n",
            "b.yaml:4:5: agent id a-1 is listed twice (also at a.yaml:3:5)",
        ),
    ],
)
def test_a_number_or_agent_declared_twice_across_kinds_and_files_is_reported(
    second: str, problem: str
) -> None:
    assert problems(("a.yaml", AGENTS), ("b.yaml", second)) == [problem]


def test_a_persona_and_an_agent_are_named_apart() -> None:
    text = (
        "version: 1\npersonas:\n  - name: Sales\n    numbers: []\n"
        "  - id: a-1\n    numbers: []\n"
        "agents:\n  - name: Sales\n    numbers: []\n  - id: a-1\n    numbers: []\n"
    )
    desired = load_config_sources([("a.yaml", text.encode())])
    assert [(p.kind, p.id, p.name) for p in desired.personas] == [
        ("persona", None, "Sales"),
        ("persona", "a-1", None),
        ("agent", None, "Sales"),
        ("agent", "a-1", None),
    ]
    twice = "version: 1\npersonas: []\nagents:\n  - name: Booking\n    numbers: []\n"
    assert problems(("a.yaml", twice), ("b.yaml", twice)) == [
        "b.yaml:4:5: agent 'Booking' is listed twice (also at a.yaml:4:5)"
    ]


def test_a_protected_number_may_be_on_an_agent() -> None:
    text = AGENTS + 'protected: ["+14155550120"]\n'
    assert load_config_sources([("a.yaml", text.encode())]).protected == ("+14155550120",)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (
            '- number: "+14155550120"\n  settings: {pathway_id: pw_1}',
            'a.yaml:7:9: "settings" is not allowed here: persona settings don\'t apply to '
            'agents (remove it; an agent\'s number takes only "number" and "label")',
        ),
        (
            '- number: "+14155550120"\n  settings:',
            'a.yaml:7:9: "settings" is not allowed here: persona settings don\'t apply to agents',
        ),
        ('- number: "+14155550120"\n  lable: x', 'a.yaml:7:9: unknown key "lable" (did you mean'),
        ("- +14155550120", "a.yaml:6:9: +14155550120 is a number, not a string"),
        ('- "+1 415 555 0120"', 'a.yaml:6:9: "+1 415 555 0120" is not canonical E.164'),
        (
            '- number: "+14155550120"\n  label: "' + "\U0001f4de" * 76 + '"',
            'a.yaml:7:16: "label" is 152 characters long as the API may count them',
        ),
    ],
)
def test_an_agents_number_is_checked_like_a_personas_and_takes_no_settings(
    entry: str, problem: str
) -> None:
    text = "version: 1\npersonas: []\nagents:\n  - name: Booking\n    numbers:\n" + "".join(
        f"      {line}\n" for line in entry.splitlines()
    )
    found = problems(("a.yaml", text))
    assert len(found) == 1 and found[0].startswith(problem), found


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ("  - numbers: []\n", 'a.yaml:4:5: an agent entry needs an "id" or a "name"'),
        ("  - id: a-1\n", 'a.yaml:4:5: an agent entry is missing the required key "numbers"'),
        ("  - id: a-1\n    numbers: []\n    kind: v2\n", 'a.yaml:6:5: unknown key "kind"'),
        ("  - id: ''\n    numbers: []\n", 'a.yaml:4:9: "id" must not be empty'),
    ],
)
def test_an_agent_entry_is_checked_like_a_persona_entry(entries: str, problem: str) -> None:
    found = problems(("a.yaml", f"version: 1\npersonas: []\nagents:\n{entries}"))
    assert len(found) == 1 and found[0].startswith(problem), found
