"""`reconciler plan` end to end against the simulator over loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    CONFIG,
    IVR,
    SALES,
    SUPPORT,
    TEST_KEY,
    RunCli,
    point_cli_at,
    write_config,
)
from tests.simulated import Simulator


def test_plan_json(sim: Simulator, run_cli: RunCli) -> None:
    result = run_cli("plan", CONFIG, "--format", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == {
        "format_version": 1,
        "changes": [
            {
                "action": "attach",
                "kind": "persona",
                "persona_id": SALES,
                "persona_name": "Sales",
                "phone_number": "+14155550110",
            },
            {
                "action": "attach",
                "kind": "persona",
                "persona_id": SALES,
                "persona_name": "Sales",
                "phone_number": "+14155550111",
            },
            {
                "action": "attach",
                "kind": "persona",
                "persona_id": SUPPORT,
                "persona_name": "Support Agent",
                "phone_number": "+14155550101",
            },
            {
                "action": "move",
                "kind": "persona",
                "persona_id": SUPPORT,
                "persona_name": "Support Agent",
                "phone_number": "+14155550102",
                "from_kind": "persona",
                "from_persona_id": IVR,
                "from_persona_name": "Legacy IVR",
            },
            {
                "action": "detach",
                "kind": "persona",
                "persona_id": SUPPORT,
                "persona_name": "Support Agent",
                "phone_number": "+14155550103",
            },
        ],
        "summary": {"attach": 3, "move": 1, "detach": 1, "settings": 0, "label": 0},
        "safety": {"apply_refuses": False, "valves": [], "protected": []},
    }
    assert sim.writes() == []


def test_plan_text(sim: Simulator, run_cli: RunCli) -> None:
    result = run_cli("plan", CONFIG)
    assert result.code == 0, result.err
    assert result.out == (
        f"Sales ({SALES})\n"
        "  + +14155550110\n"
        "  + +14155550111\n"
        "\n"
        f"Support Agent ({SUPPORT})\n"
        "  + +14155550101\n"
        "  ~ +14155550102 (from 'Legacy IVR')\n"
        "  - +14155550103\n"
        "\n"
        "Plan: 3 to attach, 1 to move, 1 to detach.\n"
    )
    assert "\x1b[" not in result.out


def test_detailed_exitcode_is_2_with_changes(sim: Simulator, run_cli: RunCli) -> None:
    assert run_cli("plan", CONFIG, "--detailed-exitcode").code == 2


def test_a_plan_file_that_cannot_be_written_stops_before_any_output(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    result = run_cli("plan", CONFIG, "--out", tmp_path / "missing" / "plan.json")
    assert result.code == 1
    assert result.out == ""
    assert "cannot write the plan file" in result.err


def test_a_plan_file_replaces_an_old_one_atomically_with_mode_0600(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    out = tmp_path / "plan.json"
    out.write_text("old")
    out.chmod(0o644)
    assert run_cli("plan", CONFIG, "--out", out).code == 0
    assert json.loads(out.read_text())["format"] == "reconciler-plan"
    assert out.stat().st_mode & 0o777 == 0o600
    assert sorted(path.name for path in tmp_path.iterdir()) == ["plan.json"]


@pytest.mark.parametrize("output_format", ["text", "markdown", "json"])
def test_masked_plans_mask_the_numbers_in_warnings_too(
    output_format: str, sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    config = tmp_path / "protected.yaml"
    config.write_text(CONFIG.read_text() + 'protected: ["+14155550102"]\n')
    result = run_cli("plan", config, "--mask-numbers", "--format", output_format)
    # apply would refuse a plan that moves a protected number: plan says so, exit 3
    assert result.code == 3, result.err
    assert "error: apply would refuse this plan: ****0102 is protected" in result.err
    assert "Protected" in result.out + result.err
    assert "****0102" in result.out + result.err
    assert "+1415555" not in result.out + result.err


def test_a_number_on_a_deleted_persona_is_shown_as_a_move_when_the_api_says_so(
    example_state: dict[str, Any], run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deleted_sales = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b04"
    for persona in example_state["personas"]:
        if persona["id"] == deleted_sales:
            persona["numbers"] = ["+14155550140"]
    # Taking the deleted persona's last number trips the emptying valve, as for any persona.
    config = write_config(
        tmp_path / "c.yaml",
        [{"name": "After Hours", "numbers": ["+14155550140"]}],
        safety={"allow_emptying": True},
    )
    with Simulator(example_state, api_key=TEST_KEY) as sim:
        point_cli_at(sim, monkeypatch)
        sim.faults.legacy_inbound_includes_persona = True
        plan = run_cli("plan", config)
        assert "~ +14155550140 (from 'Sales')" in plan.out
        assert "Plan: 0 to attach, 1 to move, 0 to detach." in plan.out
        applied = run_cli("apply", config, "--auto-approve")
        assert applied.code == 0, applied.out + applied.err
        assert sim.owners()["+14155550140"] == ["3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a05"]


def _same_path(config: Path) -> str:
    return str(config)


def _other_spelling(config: Path) -> str:
    return str(config.parent / "." / ".." / config.parent.name / config.name)


def _symbolic_link(config: Path) -> str:
    link = config.parent.parent / "link.yaml"  # outside a folder given as the config
    link.symlink_to(config)
    return str(link)


def _hard_link(config: Path) -> str:
    link = config.parent.parent / "hard.yaml"
    link.hardlink_to(config)
    return str(link)


@pytest.mark.parametrize(
    "out_for", [_same_path, _other_spelling, _symbolic_link, _hard_link], ids=lambda f: f.__name__
)
@pytest.mark.parametrize("given", ["file", "folder"])
def test_a_plan_is_never_written_over_a_config_file(
    out_for: Callable[[Path], str], given: str, sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    folder = tmp_path / "configs"
    folder.mkdir()
    config = folder / "personas.yaml"
    config.write_text(CONFIG.read_text())
    out = out_for(config)
    result = run_cli("plan", config if given == "file" else folder, "--out", out)
    assert result.code == 1
    assert result.err == (
        f"error: --out {out} is the config file {config}: refusing to write over it "
        "(nothing was written; choose another path)\n"
    )
    assert result.out == ""
    assert config.read_text() == CONFIG.read_text()
    assert sim.requests == []


def test_a_plan_is_never_written_over_the_key_file(
    sim: Simulator, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(TEST_KEY)
    key_file.chmod(0o600)
    monkeypatch.setenv("BLAND_API_KEY_FILE", str(key_file))
    result = run_cli("plan", CONFIG, "--out", key_file)
    assert result.code == 1
    assert "is the API key file" in result.err
    assert key_file.read_text() == TEST_KEY
    assert sim.requests == []


def test_a_plan_next_to_the_config_is_written(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    config = tmp_path / "personas.yaml"
    config.write_text(CONFIG.read_text())
    result = run_cli("plan", config, "--out", tmp_path / "personas.plan.json")
    assert result.code == 0, result.err
    assert config.read_text() == CONFIG.read_text()


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "101", "-1"])
@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_threshold_must_be_a_number_from_0_to_100(
    value: str, command: str, sim: Simulator, run_cli: RunCli
) -> None:
    extra = ["--auto-approve"] if command == "apply" else []
    result = run_cli(command, CONFIG, *extra, "--max-detach-percent", value)
    assert result.code == 1
    assert "Invalid value for '--max-detach-percent'" in result.err
    assert "Traceback" not in result.err
    assert sim.requests == []
