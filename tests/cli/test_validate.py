"""`reconciler validate` end to end."""

from __future__ import annotations

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
