"""The CLI end to end against the simulator over loopback HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.simulator import Simulator
from tests.conftest import EXAMPLES, ROOT, TEST_KEY, RunCli, point_cli_at, write_config

CONFIG = EXAMPLES / "personas.yaml"
SUPPORT = "7b0c4a9e-1d2f-4c3b-9a8e-5f6d7c8b9a01"
IVR = "0e4f8a2b-6c1d-4e5f-8a9b-0c1d2e3f4a02"
SALES = "5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e03"


def writes(sim: Simulator) -> list[tuple[str, str, list[str]]]:
    """(persona id, action, numbers) of every write the simulator applied."""
    return [
        (str(r.persona_id), r.path.rsplit("/", 1)[-1], sorted(r.body["inbound_numbers"]))
        for r in sim.writes()
        if r.status == 200
    ]


def test_validate_is_offline(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BLAND_API_KEY", raising=False)
    monkeypatch.setenv("BLAND_API_URL", "https://unreachable.invalid")
    result = run_cli("validate", CONFIG)
    assert result.code == 0
    assert result.out == f"{CONFIG}: valid (3 personas, 5 numbers)\n"


def test_plan_json(sim: Simulator, run_cli: RunCli) -> None:
    result = run_cli("plan", CONFIG, "--format", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == {
        "format_version": 1,
        "changes": [
            {
                "action": "attach",
                "persona_id": SALES,
                "persona_name": "Sales",
                "phone_number": "+14155550110",
            },
            {
                "action": "attach",
                "persona_id": SALES,
                "persona_name": "Sales",
                "phone_number": "+14155550111",
            },
            {
                "action": "attach",
                "persona_id": SUPPORT,
                "persona_name": "Support Agent",
                "phone_number": "+14155550101",
            },
            {
                "action": "move",
                "persona_id": SUPPORT,
                "persona_name": "Support Agent",
                "phone_number": "+14155550102",
                "from_persona_id": IVR,
                "from_persona_name": "Legacy IVR",
            },
            {
                "action": "detach",
                "persona_id": SUPPORT,
                "persona_name": "Support Agent",
                "phone_number": "+14155550103",
            },
        ],
        "summary": {"attach": 3, "move": 1, "detach": 1},
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


def test_apply_converges_with_one_call_per_persona_and_direction(
    sim: Simulator, run_cli: RunCli
) -> None:
    result = run_cli("apply", CONFIG, "--auto-approve")
    assert result.code == 0, result.err
    assert sorted(writes(sim)) == [
        (SALES, "attach", ["+14155550110", "+14155550111"]),
        (SUPPORT, "attach", ["+14155550101", "+14155550102"]),
        (SUPPORT, "detach", ["+14155550103"]),
    ]
    assert "Apply complete: 3 writes (2 attach, 1 detach)" in result.out
    assert sim.persona_numbers(SUPPORT) == ["+14155550100", "+14155550101", "+14155550102"]
    assert sim.persona_numbers(SALES) == ["+14155550110", "+14155550111"]
    assert sim.persona_numbers(IVR) == ["+14155550130"]
    # Attaches come before any detach.
    kinds = [r.path.rsplit("/", 1)[-1] for r in sim.writes()]
    assert kinds == sorted(kinds)

    sim.clear_log()
    again = run_cli("apply", CONFIG, "--auto-approve")
    assert again.code == 0
    assert "No changes. The account matches" in again.out
    assert sim.writes() == []
    assert run_cli("plan", CONFIG, "--detailed-exitcode").code == 0


def test_detailed_exitcode_is_2_with_changes(sim: Simulator, run_cli: RunCli) -> None:
    assert run_cli("plan", CONFIG, "--detailed-exitcode").code == 2


def test_the_three_write_scenario(sim: Simulator, run_cli: RunCli, tmp_path: Path) -> None:
    """A gains one and loses one; B gains a free number and takes one from an unmanaged one."""
    sim.add_persona("pa", "A", ["+14155550200", "+14155550201"])
    sim.add_persona("pb", "B", [])
    sim.add_persona("pu", "Unmanaged", ["+14155550210", "+14155550211"])
    for number in ("+14155550202", "+14155550212"):
        sim.add_number(number)
    config = write_config(
        tmp_path / "ab.yaml",
        [
            {"name": "A", "numbers": ["+14155550200", "+14155550202"]},
            {"name": "B", "numbers": ["+14155550212", "+14155550210"]},
        ],
    )
    sim.clear_log()
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 0, result.err
    applied = writes(sim)
    # The two attaches run concurrently, in either order; the detach comes after both.
    assert sorted(applied[:2]) == [
        ("pa", "attach", ["+14155550202"]),
        ("pb", "attach", ["+14155550210", "+14155550212"]),
    ]
    assert applied[2:] == [("pa", "detach", ["+14155550201"])]
    assert sim.persona_numbers("pa") == ["+14155550200", "+14155550202"]
    assert sim.persona_numbers("pb") == ["+14155550210", "+14155550212"]
    assert sim.persona_numbers("pu") == ["+14155550211"]
    assert run_cli("plan", config, "--detailed-exitcode").code == 0


def test_a_non_exclusive_attach_is_fixed_by_a_detach(sim: Simulator, run_cli: RunCli) -> None:
    sim.faults.attach_mode = "keep_old"
    result = run_cli("apply", CONFIG, "--auto-approve")
    assert result.code == 0, result.err
    assert "Legacy IVR: still had 1 number (+14155550102) after the move" in result.out
    assert (IVR, "detach", ["+14155550102"]) in writes(sim)
    assert sim.owners()["+14155550102"] == [SUPPORT]


def test_a_refused_move_falls_back_to_detach_then_attach(sim: Simulator, run_cli: RunCli) -> None:
    sim.faults.attach_mode = "refuse"
    result = run_cli("apply", CONFIG, "--auto-approve")
    assert result.code == 0, result.err
    assert "the API refused to attach numbers held by another persona" in result.out
    applied = writes(sim)
    assert applied.index((IVR, "detach", ["+14155550102"])) < applied.index(
        (SUPPORT, "attach", ["+14155550101", "+14155550102"])
    )
    assert sim.owners()["+14155550102"] == [SUPPORT]


def test_apply_without_a_terminal_refuses_and_writes_nothing(
    sim: Simulator, run_cli: RunCli
) -> None:
    result = run_cli("apply", CONFIG)
    assert result.code == 1
    assert "pass --auto-approve" in result.err
    assert sim.writes() == []


def test_missing_key_names_the_variable(
    sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BLAND_API_KEY")
    result = run_cli("plan", CONFIG)
    assert result.code == 1
    assert result.err.startswith("error: BLAND_API_KEY is not set")
    assert sim.requests == []


def test_a_wrong_key_says_so(
    sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLAND_API_KEY", "not-the-key")
    result = run_cli("plan", CONFIG)
    assert result.code == 1
    assert "AUTH_FAILURE" in result.err and "check BLAND_API_KEY" in result.err
    assert "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_unknown_number_is_reported_before_any_write(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.yaml", [{"name": "Sales", "numbers": ["+14155550999"]}])
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 1
    assert "+14155550999 is not an inbound number of this account" in result.err
    assert f"{config}:" in result.err
    assert sim.writes() == []


def test_verbose_shows_each_request(sim: Simulator, run_cli: RunCli) -> None:
    result = run_cli("-vv", "plan", CONFIG)
    assert "GET /v1/personas?page=1&limit=100 -> 200" in result.err
    assert "GET /v1/inbound -> 200" in result.err


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("reconciler, version ")


@pytest.mark.parametrize(
    "faults",
    [
        {"write_statuses": [200] + [429] * 6, "retry_after": "0"},
        {"write_statuses": [200, 404], "html_errors": True},
        {"write_statuses": [200] + [503] * 6},
    ],
    ids=["429 after retries", "404 HTML", "503 after retries"],
)
def test_a_failed_move_that_is_no_conflict_never_frees_the_number(
    faults: dict[str, object], sim: Simulator, run_cli: RunCli
) -> None:
    sim.faults.update(faults)
    result = run_cli("apply", CONFIG, "--auto-approve", "--parallelism", "1")
    assert result.code == 4, result.out + result.err
    assert not any(persona == IVR for persona, _, _ in writes(sim))
    assert sim.owners()["+14155550102"] == [IVR]
    assert "refused to attach numbers held by another persona" not in result.out


def test_a_refused_move_whose_attach_then_fails_puts_the_number_back(
    sim: Simulator, run_cli: RunCli
) -> None:
    # Sales attaches, Support's attach is refused (409), IVR's detach frees the number, then
    # Support's second attach fails for good: the number must go back to IVR.
    sim.faults.update({"attach_mode": "refuse", "write_statuses": [200, 200, 200] + [500] * 6})
    result = run_cli("apply", CONFIG, "--auto-approve", "--parallelism", "1")
    assert result.code == 4, result.out + result.err
    assert "they were attached back where they were" in result.out
    assert (IVR, "detach", ["+14155550102"]) in writes(sim)
    assert (IVR, "attach", ["+14155550102"]) in writes(sim)
    assert sim.owners()["+14155550102"] == [IVR]
    assert sim.persona_numbers(SUPPORT) == ["+14155550100", "+14155550103"]


def test_a_change_while_the_plan_waits_for_confirmation_is_refused(
    sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler import cli

    def someone_edits_the_dashboard() -> None:
        sim.set_owner("+14155550110", IVR)  # Sales was to attach it as a free number

    monkeypatch.setattr(cli, "_confirm", someone_edits_the_dashboard)
    result = run_cli("apply", CONFIG)
    assert result.code == 3
    assert "the account changed while the plan waited for confirmation" in result.err
    assert "move +14155550110 ('Sales') from 'Legacy IVR'" in result.err
    assert sim.writes() == []


def test_a_confirmed_plan_applies_when_nothing_changed(
    sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler import cli

    monkeypatch.setattr(cli, "_confirm", lambda: None)
    assert run_cli("apply", CONFIG).code == 0
    assert len(writes(sim)) == 3


def test_control_characters_in_names_are_escaped_in_text_output(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    sim.add_persona("p-evil", "Evil\n  - +14155550999\x1b[2K", [])
    config = write_config(tmp_path / "c.yaml", [{"id": "p-evil", "numbers": ["+14155550140"]}])
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 0, result.err
    assert "Evil\\x0a  - +14155550999\\x1b[2K (p-evil)" in result.out
    assert "\x1b" not in result.out
    assert "\n  - +14155550999" not in result.out


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_a_timeout_must_be_a_finite_positive_number(
    value: str, sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli("--timeout", value, "plan", CONFIG).code == 1
    monkeypatch.setenv("BLAND_TIMEOUT", value)
    result = run_cli("plan", CONFIG)
    assert result.code == 1
    assert "unexpected" not in result.err
    assert sim.requests == []


def test_apply_refuses_a_fifo_without_waiting_for_a_writer(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    fifo = tmp_path / "personas.yaml"
    os.mkfifo(fifo)
    result = run_cli("apply", fifo, "--auto-approve")
    assert result.code == 1
    assert "not a regular file" in result.err
    assert sim.requests == []


def test_a_plan_file_that_cannot_be_written_stops_before_any_output(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    result = run_cli("plan", CONFIG, "--out", tmp_path / "missing" / "plan.json")
    assert result.code == 1
    assert result.out == ""
    assert "cannot write the plan file" in result.err


@pytest.mark.parametrize("output_format", ["text", "markdown", "json"])
def test_masked_plans_mask_the_numbers_in_warnings_too(
    output_format: str, sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    config = tmp_path / "protected.yaml"
    config.write_text(CONFIG.read_text() + 'protected: ["+14155550102"]\n')
    result = run_cli("plan", config, "--mask-numbers", "--format", output_format)
    assert result.code == 0, result.err
    assert "Protected" in result.out + result.err
    assert "****0102" in result.out + result.err
    assert "+1415555" not in result.out + result.err


def test_a_persona_deleted_after_its_writes_is_not_reported_converged(
    sim: Simulator, run_cli: RunCli
) -> None:
    def delete_sales_after_its_attach(simulator: Simulator, record: object) -> None:
        if len(simulator.writes()) == 1:  # the write being made now is the second
            simulator.delete_persona(SALES)

    sim.on_write = delete_sales_after_its_attach
    result = run_cli("apply", CONFIG, "--auto-approve", "--parallelism", "1")
    assert result.code == 4, result.out + result.err
    assert "not converged: Sales: was deleted during the apply" in result.out


def test_a_number_held_twice_is_detached_from_the_extra_owner_only(
    example_state: dict[str, Any], run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    for persona in example_state["personas"]:
        if persona["id"] == IVR:
            persona["numbers"].append("+14155550100")  # also on Support Agent
    with Simulator(example_state, api_key=TEST_KEY) as sim:
        point_cli_at(sim, monkeypatch)
        assert sorted(sim.owners()["+14155550100"]) == sorted([SUPPORT, IVR])
        result = run_cli("apply", CONFIG, "--auto-approve")
        assert result.code == 0, result.out + result.err
        assert (IVR, "detach", ["+14155550100"]) in writes(sim)
        assert not any(
            "+14155550100" in numbers for _, action, numbers in writes(sim) if action == "attach"
        )
        assert sim.owners()["+14155550100"] == [SUPPORT]


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
