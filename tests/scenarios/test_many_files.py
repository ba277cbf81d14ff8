"""Several config files and folders of them, and the Markdown plan, through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.simulator import Simulator
from tests.conftest import RunCli, write_config

SUPPORT = "7b0c4a9e-1d2f-4c3b-9a8e-5f6d7c8b9a01"
SALES = "5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e03"


def team_files(folder: Path) -> Path:
    """One file per team, as a repository of several owners would have them."""
    folder.mkdir()
    (folder / "support.yaml").write_text(
        "version: 1\n"
        "personas:\n"
        f"  - id: {SUPPORT}\n"
        "    numbers:\n"
        '      - "+14155550100"\n'
        '      - "+14155550101"\n'
        '      - "+14155550102"\n'
    )
    (folder / "sales.yml").write_text(
        'version: 1\npersonas:\n  - name: Sales\n    numbers:\n      - "+14155550110"\n'
    )
    (folder / "README.md").write_text("not a config\n")
    return folder


def test_a_folder_is_every_yaml_file_in_it(tmp_path: Path, run_cli: RunCli) -> None:
    folder = team_files(tmp_path / "personas")
    result = run_cli("validate", folder)
    assert result.code == 0, result.err
    assert result.out == f"{folder}: valid (2 personas, 4 numbers)\n"


def test_a_cross_file_duplicate_names_both_places(tmp_path: Path, run_cli: RunCli) -> None:
    folder = team_files(tmp_path / "personas")
    # Sorted, sales.yml is read before support.yaml: the later file is the one reported.
    (folder / "zz-oncall.yaml").write_text(
        'version: 1\npersonas:\n  - name: Sales\n    numbers:\n      - "+14155550101"\n'
    )
    result = run_cli("validate", folder)
    assert result.code == 1
    assert result.out == ""
    assert result.err.splitlines() == [
        f"{folder}/zz-oncall.yaml:3:5: persona 'Sales' is listed twice "
        f"(also at {folder}/sales.yml:3:5)",
        f"{folder}/zz-oncall.yaml:5:9: +14155550101 is listed twice "
        f"(also at {folder}/support.yaml:6:9)",
    ]


def test_a_duplicate_across_a_file_and_a_folder(tmp_path: Path, run_cli: RunCli) -> None:
    folder = team_files(tmp_path / "personas")
    extra = tmp_path / "extra.yaml"
    extra.write_text(
        'version: 1\npersonas:\n  - name: After Hours\n    numbers: ["+14155550110"]\n'
    )
    result = run_cli("validate", extra, folder)
    assert result.code == 1
    assert result.err == (
        f"{folder}/sales.yml:5:9: +14155550110 is listed twice (also at {extra}:4:15)\n"
    )


def test_the_same_persona_by_id_and_by_name_in_two_files_is_caught_at_plan(
    sim: Simulator, tmp_path: Path, run_cli: RunCli
) -> None:
    first = write_config(tmp_path / "a.yaml", [{"id": SALES, "numbers": []}])
    second = write_config(tmp_path / "b.yaml", [{"name": "Sales", "numbers": []}])
    result = run_cli("plan", first, second)
    assert result.code == 1
    assert result.err == f"{second}:4:5: persona 'Sales' is listed twice (also at {first}:4:5)\n"
    assert sim.writes() == []


def test_an_empty_folder_is_an_error(tmp_path: Path, run_cli: RunCli) -> None:
    (tmp_path / "empty").mkdir()
    result = run_cli("validate", tmp_path / "empty")
    assert result.code == 1
    assert result.err == f"error: {tmp_path / 'empty'}: the folder has no .yaml or .yml files\n"


def test_plan_and_apply_take_a_folder(sim: Simulator, tmp_path: Path, run_cli: RunCli) -> None:
    folder = team_files(tmp_path / "personas")
    plan = run_cli("plan", folder, "--detailed-exitcode")
    assert plan.code == 2, plan.err
    assert plan.out.endswith("Plan: 2 to attach, 1 to move, 1 to detach.\n")
    assert run_cli("apply", folder, "--auto-approve").code == 0
    assert sim.persona_numbers(SALES) == ["+14155550110"]
    assert run_cli("plan", folder, "--detailed-exitcode").code == 0


def test_plan_markdown_against_the_simulator(
    sim: Simulator, tmp_path: Path, run_cli: RunCli
) -> None:
    folder = team_files(tmp_path / "personas")
    result = run_cli("plan", folder, "--format", "markdown", "--detailed-exitcode")
    assert result.code == 2, result.err
    assert result.out == (
        f"### reconciler plan for `{folder}`\n\n"
        "**Plan: 2 to attach, 1 to move, 1 to detach.**\n\n"
        f"#### Sales (`{SALES}`)\n\n"
        "| action | number | from |\n| --- | --- | --- |\n"
        "| attach | `+14155550110` |  |\n\n"
        f"#### Support Agent (`{SUPPORT}`)\n\n"
        "| action | number | from |\n| --- | --- | --- |\n"
        "| attach | `+14155550101` |  |\n"
        "| move | `+14155550102` | Legacy IVR |\n"
        "| detach | `+14155550103` |  |\n"
    )
    assert sim.writes() == []


@pytest.mark.parametrize("output_format", ["text", "markdown", "json"])
def test_mask_numbers_hides_all_but_four_digits(
    sim: Simulator, tmp_path: Path, run_cli: RunCli, output_format: str
) -> None:
    folder = team_files(tmp_path / "personas")
    result = run_cli("plan", folder, "--format", output_format, "--mask-numbers")
    assert result.code == 0, result.err
    assert "+1415" not in result.out
    for last_four in ("0110", "0101", "0102", "0103"):
        assert f"****{last_four}" in result.out
