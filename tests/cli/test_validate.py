"""`reconciler validate` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CONFIG, RunCli


def test_validate_is_offline(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BLAND_API_KEY", raising=False)
    monkeypatch.setenv("BLAND_API_URL", "https://unreachable.invalid")
    result = run_cli("validate", CONFIG)
    assert result.code == 0
    assert result.out == f"{CONFIG}: valid (3 personas, 5 numbers)\n"


def test_a_file_given_twice_is_named_once(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "personas.yaml").write_text(CONFIG.read_text())
    for args in (["personas.yaml", "personas.yaml"], ["personas.yaml", "./personas.yaml"]):
        result = run_cli("validate", *args)
        assert result.code == 0
        assert result.out == "personas.yaml: valid (3 personas, 5 numbers)\n"


def test_a_file_and_its_folder_are_each_named(run_cli: RunCli, tmp_path: Path) -> None:
    # A folder of its own: examples/ holds other configs that are alternatives, not parts.
    config = tmp_path / "personas.yaml"
    config.write_text(CONFIG.read_text())
    result = run_cli("validate", config, tmp_path)
    assert result.code == 0
    assert result.out == f"{config}, {tmp_path}: valid (3 personas, 5 numbers)\n"


MISTYPED = 'version: 1\npersonas:\n  - name: Support\n    nubmers: ["+14155550100"]\n'


def test_validate_json_lists_every_problem(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "personas.yaml"
    config.write_text(MISTYPED)
    result = run_cli("validate", "--format", "json", config)
    assert result.code == 1
    assert json.loads(result.out) == [
        {
            "file": str(config),
            "line": 3,
            "column": 5,
            "message": 'a persona entry is missing the required key "numbers"',
        },
        {
            "file": str(config),
            "line": 4,
            "column": 5,
            "message": 'unknown key "nubmers" (did you mean "numbers"?)',
        },
    ]
    assert result.err == ""


def test_validate_json_of_a_valid_config_is_an_empty_list(run_cli: RunCli) -> None:
    result = run_cli("validate", "--format", "json", CONFIG)
    assert (result.code, json.loads(result.out), result.err) == (0, [], "")


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("personas.yaml", "personas.yaml"),
        ("a,b:c.yaml", "a%2Cb%3Ac.yaml"),
        ("100%.yaml", "100%25.yaml"),
        ("two\nlines\r.yaml", "two%0Alines%0D.yaml"),
    ],
)
def test_validate_github_prints_one_annotation_per_problem(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, escaped: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path(name).write_text(MISTYPED)
    result = run_cli("validate", "--format", "github", name)
    assert result.code == 1
    assert result.out.splitlines() == [
        f"::error file={escaped},line=3,col=5::"
        'a persona entry is missing the required key "numbers"',
        f'::error file={escaped},line=4,col=5::unknown key "nubmers" (did you mean "numbers"?)',
    ]


def test_validate_github_escapes_the_message(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "personas.yaml"
    config.write_text('version: 1\npersonas: []\n"100%": 1\n')
    result = run_cli("validate", "--format", "github", config)
    assert result.code == 1
    assert result.out == (
        f"::error file={config},line=3,col=1::"
        'unknown key "100%25" (allowed: agents, personas, protected, safety, version)\n'
    )


@pytest.mark.parametrize("output_format", ["text", "github"])
def test_validate_text_and_github_say_valid_as_before(run_cli: RunCli, output_format: str) -> None:
    result = run_cli("validate", "--format", output_format, CONFIG)
    assert (result.code, result.out) == (0, f"{CONFIG}: valid (3 personas, 5 numbers)\n")


def test_validate_text_prints_problems_on_stderr_as_before(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "personas.yaml"
    config.write_text(MISTYPED)
    result = run_cli("validate", config)
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        f'{config}:3:5: a persona entry is missing the required key "numbers"\n'
        f'{config}:4:5: unknown key "nubmers" (did you mean "numbers"?)\n'
    )


@pytest.mark.parametrize("output_format", ["json", "github"])
def test_validate_machine_formats_leave_a_missing_file_on_stderr(
    run_cli: RunCli, tmp_path: Path, output_format: str
) -> None:
    missing = tmp_path / "missing.yaml"
    result = run_cli("validate", "--format", output_format, missing)
    assert (result.code, result.out, result.err) == (1, "", f"error: {missing}: no such file\n")
