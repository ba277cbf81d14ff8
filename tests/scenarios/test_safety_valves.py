"""Saved plans, safety valves and protected numbers, end to end against the simulator."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from reconciler.simulator import Simulator
from tests.conftest import EXAMPLES, IVR, SALES, SUPPORT, TEST_KEY, RunCli, write_config, writes

CONFIG = EXAMPLES / "personas.yaml"
EXPECTED_WRITES = [
    (SALES, "attach", ["+14155550110", "+14155550111"]),
    (SUPPORT, "attach", ["+14155550101", "+14155550102"]),
    (SUPPORT, "detach", ["+14155550103"]),
]


def saved_plan(
    run_cli: RunCli, tmp_path: Path, config: Path = CONFIG, *flags: str, code: int = 0
) -> Path:
    """Plan with --out; `code` 3 for a plan apply would refuse (saved all the same)."""
    path = tmp_path / "reviewed.plan.json"
    result = run_cli("plan", config, "--out", path, *flags)
    assert result.code == code, result.err
    assert f"Saved the plan to {path}" in result.out
    return path


# -- saved plans ---------------------------------------------------------------------------


def test_a_saved_plan_applies_exactly_and_converges(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    config = tmp_path / "personas.yaml"
    config.write_text(CONFIG.read_text())
    plan_file = saved_plan(run_cli, tmp_path, config)
    # Edited after the review: the plan file, not the config, is what gets applied.
    config.write_text("version: 1\npersonas: []\n")
    sim.requests.clear()
    result = run_cli("apply", plan_file)  # no --auto-approve: reviewed when it was made
    assert result.code == 0, result.err
    assert sorted(writes(sim)) == EXPECTED_WRITES
    # The reads counted are those of the plan made after the writes, every one of them.
    last_write = max(i for i, r in enumerate(sim.requests) if r.kind == "write")
    reads_after = len(sim.requests) - last_write - 1
    assert (
        "Apply complete: 3 attached, 1 moved, 1 detached; 3 API writes; "
        f"verified with {reads_after} reads." in result.out
    )
    assert reads_after == 4
    assert sim.persona_numbers(SUPPORT) == ["+14155550100", "+14155550101", "+14155550102"]
    assert run_cli("plan", CONFIG, "--detailed-exitcode").code == 0


def test_the_plan_file_is_0600_and_holds_no_key(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    plan_file = saved_plan(run_cli, tmp_path)
    assert stat.S_IMODE(plan_file.stat().st_mode) == 0o600
    text = plan_file.read_text()
    assert TEST_KEY not in text
    document = json.loads(text)
    assert document["api_base_url"] == sim.url
    assert document["config"][0]["path"] == str(CONFIG)
    assert len(document["plan"]["changes"]) == 5
    assert document["key_id"] and document["integrity"].startswith("hmac-sha256:")
    assert sim.writes() == []


def test_plan_out_with_json_keeps_stdout_pure_json(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    result = run_cli("plan", CONFIG, "--format", "json", "--out", tmp_path / "p.json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["summary"] == {
        "attach": 3,
        "move": 1,
        "detach": 1,
        "settings": 0,
        "label": 0,
    }
    assert "Saved the plan" in result.err
    saved = json.loads((tmp_path / "p.json").read_text())
    assert saved["plan"] == json.loads(result.out)


def test_plan_out_with_markdown_keeps_the_note_out_of_the_comment(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    result = run_cli("plan", CONFIG, "--format", "markdown", "--out", tmp_path / "p.json")
    assert result.code == 0, result.err
    assert result.out.startswith("### reconciler plan for ")
    assert "Saved the plan" not in result.out
    assert f"Saved the plan to {tmp_path / 'p.json'}" in result.err


def test_a_stale_plan_is_refused_naming_the_number(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    sim.add_number("+14155550105")
    config = write_config(
        tmp_path / "c.yaml",
        [{"name": "Sales", "numbers": ["+14155550110", "+14155550105"]}],
    )
    plan_file = saved_plan(run_cli, tmp_path, config)
    sim.set_owner("+14155550105", IVR)  # someone uses the dashboard between plan and apply
    sim.requests.clear()
    result = run_cli("apply", plan_file)
    assert result.code == 3
    assert (
        "the account changed since the plan was made, nothing was written: "
        "no longer attach +14155550105 ('Sales'); "
        "now also move +14155550105 ('Sales') from 'Legacy IVR'. Run plan again." in result.err
    )
    assert result.err.rstrip().endswith("Run plan again.")
    assert sim.writes() == []


def test_applying_the_same_plan_twice_writes_once(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    plan_file = saved_plan(run_cli, tmp_path)
    assert run_cli("apply", plan_file).code == 0
    sim.requests.clear()
    again = run_cli("apply", plan_file)
    assert again.code == 0, again.err
    assert "has already been applied" in again.out
    assert sim.writes() == []
    # Undo part of it by hand: now it is neither as planned nor as applied, so it is stale.
    sim.set_owner("+14155550103", SUPPORT)
    third = run_cli("apply", plan_file)
    assert third.code == 3
    assert "no longer move +14155550102 ('Support Agent') from 'Legacy IVR'" in third.err
    assert "has already been applied" not in third.out
    assert third.err.rstrip().endswith("Run plan again.")
    assert sim.writes() == []


def _alter(path: Path, how: str, sim: Simulator) -> None:
    text = path.read_text()
    if how == "edited":
        path.write_text(text.replace("+14155550110", "+14155550140"))
    elif how == "truncated":
        path.write_text(text[: len(text) // 2])
    elif how == "another version":
        path.write_text(text.replace('"format_version": 2', '"format_version": 9', 1))
    elif how == "another API":
        sim.stop()  # the same account served at another address
        sim.port = 0
        sim.start()
    else:
        raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("edited", "altered after it was written"),
        ("truncated", "may be truncated"),
        ("another version", "format version 9 is not supported"),
        ("another API", "the plan was made for http://127.0.0.1:"),
    ],
)
def test_an_altered_plan_file_is_refused(
    sim: Simulator,
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    message: str,
) -> None:
    plan_file = saved_plan(run_cli, tmp_path)
    _alter(plan_file, how, sim)
    monkeypatch.setenv("BLAND_API_URL", sim.url)
    sim.requests.clear()
    result = run_cli("apply", plan_file)
    assert result.code == 3, result.err
    assert message in result.err
    assert "nothing was written" in result.err
    assert sim.requests == []  # refused before reading the account, let alone writing
    assert len(result.err.strip().splitlines()) == 1


def test_a_plan_file_is_applied_alone(sim: Simulator, run_cli: RunCli, tmp_path: Path) -> None:
    plan_file = saved_plan(run_cli, tmp_path)
    result = run_cli("apply", plan_file, CONFIG, "--auto-approve")
    assert result.code == 1
    assert "a plan file is applied alone" in result.err
    assert sim.writes() == []


# -- safety valves -------------------------------------------------------------------------

MASS = [f"+1415555{n:04d}" for n in range(300, 310)]  # ten numbers on one persona


@pytest.fixture
def big_persona(sim: Simulator) -> str:
    for number in MASS:
        sim.add_number(number)
    sim.add_persona("p-big", "Front Desk", MASS)
    sim.requests.clear()
    return "p-big"


def test_a_mass_detach_is_refused_and_passes_with_force(
    sim: Simulator, run_cli: RunCli, tmp_path: Path, big_persona: str
) -> None:
    config = write_config(tmp_path / "c.yaml", [{"name": "Front Desk", "numbers": MASS[:6]}])
    plan = run_cli("plan", config)
    assert plan.code == 3  # after the whole plan: apply would refuse it
    assert plan.err == (
        "error: apply would refuse this plan: the plan takes 4 of the 10 numbers on the personas "
        "it touches off their persona (40%, more than the 25% allowed) (review the plan, then "
        "pass --force to apply it anyway)\n"
    )
    assert run_cli("plan", config, "--force").code == 0
    lines = plan.out.splitlines()
    assert lines[-2].startswith(
        "Safety valve: the plan takes 4 of the 10 numbers on the personas it touches off their "
        "persona (40%, more than the 25% allowed)"
    )
    assert lines[-2].endswith("apply will need --force.")
    assert lines[-1] == "Plan: 0 to attach, 0 to move, 4 to detach."

    refused = run_cli("apply", config, "--auto-approve")
    assert refused.code == 3
    assert "refused by a safety valve, nothing was written" in refused.err
    assert sim.writes() == []

    forced = run_cli("apply", config, "--auto-approve", "--force")
    assert forced.code == 0, forced.err
    assert "note: --force given: applying although the plan takes 4 of the 10" in forced.out
    assert writes(sim) == [(big_persona, "detach", MASS[6:])]


def test_the_valve_also_guards_saved_plans(
    sim: Simulator, run_cli: RunCli, tmp_path: Path, big_persona: str
) -> None:
    config = write_config(tmp_path / "c.yaml", [{"name": "Front Desk", "numbers": MASS[:6]}])
    plan_file = saved_plan(run_cli, tmp_path, config, code=3)
    refused = run_cli("apply", plan_file)
    assert refused.code == 3
    assert (
        "refused by a safety valve, nothing was written: the plan takes 4 of the 10 numbers on "
        "the personas it touches off their persona (40%, more than the 25% allowed) "
        "(review the plan, then pass --force to apply it anyway)" in refused.err
    )
    assert sim.writes() == []
    assert run_cli("apply", plan_file, "--force").code == 0
    assert sim.persona_numbers(big_persona) == MASS[:6]


def test_thresholds_come_from_flags_config_and_the_saved_plan(
    sim: Simulator, run_cli: RunCli, tmp_path: Path, big_persona: str
) -> None:
    personas = [{"name": "Front Desk", "numbers": MASS[:6]}]
    plain = write_config(tmp_path / "plain.yaml", personas)
    loose = write_config(tmp_path / "loose.yaml", personas, safety={"max_detach_percent": 50})
    strict = write_config(tmp_path / "strict.yaml", personas, safety={"min_numbers": 11})
    # Front Desk holds 10 numbers and keeps 6: 4 of 10 (40%) taken.
    for config in (loose, strict):
        quiet = run_cli("plan", config, "--detailed-exitcode")
        assert quiet.code == 2, quiet.err  # a plan with changes, and no valve line
        assert "Safety valve" not in quiet.out
        assert quiet.out.splitlines()[-1] == "Plan: 0 to attach, 0 to move, 4 to detach."
    tight = run_cli("plan", loose, "--max-detach-percent", "30")
    assert tight.code == 3, tight.err
    assert (
        "Safety valve: the plan takes 4 of the 10 numbers on the personas it touches off their "
        "persona (40%, more than the 30% allowed): apply will need --force." in tight.out
    )
    # Thresholds in force at plan time travel in the plan file.
    plan_file = saved_plan(run_cli, tmp_path, plain, "--max-detach-percent", "40")
    assert json.loads(plan_file.read_text())["safety"]["max_detach_percent"] == 40
    result = run_cli("apply", plan_file)
    assert result.code == 0, result.err
    assert sim.persona_numbers(big_persona) == MASS[:6]


def test_a_whole_number_written_with_a_point_travels_in_the_plan_file(
    sim: Simulator, run_cli: RunCli, tmp_path: Path, big_persona: str
) -> None:
    """The schema takes 8.0 as the whole number it is, and so does the plan file made from it."""
    personas = [{"name": "Front Desk", "numbers": MASS[:6]}]
    config = write_config(tmp_path / "c.yaml", personas, safety={"min_numbers": 11.0})
    plan_file = saved_plan(run_cli, tmp_path, config)
    assert json.loads(plan_file.read_text())["safety"]["min_numbers"] == 11
    shown = run_cli("show", plan_file)
    assert shown.code == 0, shown.err
    result = run_cli("apply", plan_file)
    assert result.code == 0, result.err
    assert sim.persona_numbers(big_persona) == MASS[:6]


def test_a_bad_safety_block_is_a_config_error(run_cli: RunCli, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.yaml", [{"name": "A", "numbers": []}], safety={"max_detach_percent": 150}
    )
    result = run_cli("validate", config)
    assert result.code == 1
    assert result.err.startswith(f"{config}:")
    assert "150" in result.err


def test_emptying_a_persona_is_refused(sim: Simulator, run_cli: RunCli, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.yaml", [{"id": SUPPORT, "numbers": []}, {"name": "Sales", "numbers": []}]
    )
    plan = run_cli("plan", config)
    assert plan.code == 3
    assert (
        "Safety valve: the plan leaves 'Support Agent' with none of its 2 numbers: "
        "apply will need --force." in plan.out
    )
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 3
    assert "leaves 'Support Agent' with none of its 2 numbers" in result.err
    assert sim.writes() == []
    allowed = run_cli("apply", config, "--auto-approve", "--allow-emptying")
    assert allowed.code == 0, allowed.err
    assert sim.persona_numbers(SUPPORT) == []


# -- protected numbers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("+14155550102", "+14155550102 is protected and the plan moves it from 'Legacy IVR'"),
        # Deleted from Support's list in the file; still on Support on the account.
        ("+14155550103", "+14155550103 is protected and the plan detaches it from 'Support"),
    ],
)
def test_a_protected_number_cannot_be_moved_even_with_force(
    sim: Simulator, run_cli: RunCli, tmp_path: Path, number: str, message: str
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.read_text() + f'protected:\n  - "{number}"\n')
    plan = run_cli("plan", config)
    assert f"Protected: {message}" in plan.out
    assert plan.code == 3
    assert plan.err.startswith(f"error: apply would refuse this plan: {message}")
    assert run_cli("plan", config, "--force").code == 3  # --force does not override this
    for attempt in (
        run_cli("apply", config, "--auto-approve", "--force"),
        run_cli("apply", saved_plan(run_cli, tmp_path, config, code=3), "--force"),
    ):
        assert attempt.code == 3
        assert message in attempt.err
        assert "remove the number from `protected:` first" in attempt.err
    assert sim.writes() == []


def test_exit_codes_are_listed_in_the_readme() -> None:
    readme = (EXAMPLES.parent / "README.md").read_text()
    table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |"):
        assert code in table


def test_plan_json_keeps_valve_warnings_off_stdout(
    sim: Simulator, run_cli: RunCli, tmp_path: Path, big_persona: str
) -> None:
    config = write_config(tmp_path / "c.yaml", [{"name": "Front Desk", "numbers": []}])
    result = run_cli("plan", config, "--format", "json", "--detailed-exitcode")
    assert result.code == 3  # apply would refuse it: that wins over "changes pending" (2)
    document = json.loads(result.out)
    assert document["summary"]["detach"] == 10
    assert document["safety"]["apply_refuses"] is True
    assert document["safety"]["valves"][-1] == (
        "the plan leaves 'Front Desk' with none of its 10 numbers"
    )
    assert "Safety valve: the plan leaves 'Front Desk' with none of its 10 numbers" in result.err
