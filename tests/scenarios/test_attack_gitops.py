"""Attacks on the GitOps loop: saved plans, --format json, --target, --force and the prompt.

Each test plays a careless user or an attacker against the simulator over loopback HTTP. A test
that once showed a bug now guards its fix; the others show an attack the code survives.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.simulator import Simulator
from tests.conftest import CONFIG, IVR, SALES, SUPPORT, RunCli, write_config, writes

MOVED = "+14155550102"  # the example plan moves it from Legacy IVR to Support


def _saved(run_cli: RunCli, tmp_path: Path, *args: str | Path) -> Path:
    plan_file = tmp_path / "reviewed.plan.json"
    result = run_cli("plan", *args, "--out", plan_file)
    assert plan_file.exists(), result.out + result.err
    return plan_file


def _edit(plan_file: Path, edit: object) -> None:
    document = json.loads(plan_file.read_text())
    edit(document)  # type: ignore[operator]
    plan_file.write_text(json.dumps(document))


def _drop_last_entry(document: dict[str, object]) -> None:
    entries = document["desired"]["entries"]  # type: ignore[index]
    del entries[-1]


def _retarget(document: dict[str, object]) -> None:
    document["api_base_url"] = "http://127.0.0.1:1"


ALTERATIONS = {
    "an entry removed from the desired state": lambda f: _edit(f, _drop_last_entry),
    "truncated": lambda f: f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2]),
    "made for another URL": lambda f: _edit(f, _retarget),
    "its changes reordered": lambda f: _edit(f, lambda d: d["plan"]["changes"].reverse()),
}


@pytest.mark.parametrize("alter", ALTERATIONS.values(), ids=ALTERATIONS.keys())
def test_an_altered_plan_file_is_refused_with_nothing_written(
    sim: Simulator, run_cli: RunCli, tmp_path: Path, alter: object
) -> None:
    plan_file = _saved(run_cli, tmp_path, CONFIG)
    alter(plan_file)  # type: ignore[operator]

    result = run_cli("apply", plan_file)

    assert result.code == 3, result.out + result.err
    assert "nothing was written" in result.err
    assert "Traceback" not in result.err
    assert writes(sim) == []


def test_apply_format_json_of_an_altered_plan_file_still_prints_one_json_report(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    plan_file = _saved(run_cli, tmp_path, CONFIG)
    _edit(plan_file, _drop_last_entry)

    result = run_cli("apply", plan_file, "--format", "json")

    assert result.code == 3
    assert json.loads(result.out)["exit_status"] == 3


def test_apply_format_json_of_a_stale_plan_file_prints_one_json_report(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    """The account changed since the plan: the refusal is the report, as the docs say."""
    plan_file = _saved(run_cli, tmp_path, CONFIG)
    sim.set_owner(MOVED, SALES)

    result = run_cli("apply", plan_file, "--format", "json")

    assert result.code == 3, result.err
    assert json.loads(result.out)["exit_status"] == 3
    assert writes(sim) == []


def test_apply_format_json_with_an_unopenable_log_file_still_prints_one_json_report(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    log_file = tmp_path / "no-such-directory" / "apply.log"

    result = run_cli("apply", CONFIG, "--auto-approve", "--format", "json", "--log-file", log_file)

    assert result.code == 1, result.out + result.err
    assert writes(sim) == []
    assert json.loads(result.out)["exit_status"] == 1


def test_a_plan_made_with_force_is_refused_by_apply_without_force(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "routing.yaml", [{"id": SUPPORT, "numbers": []}])
    plan_file = _saved(run_cli, tmp_path, config, "--force")

    result = run_cli("apply", plan_file)

    assert result.code == 3, result.out + result.err
    assert "refused by a safety valve, nothing was written" in result.err
    assert writes(sim) == []
    assert run_cli("apply", plan_file, "--force").code == 0


def test_a_plan_made_with_target_writes_only_its_targets_when_applied(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    plan_file = _saved(run_cli, tmp_path, CONFIG, "--target", "Sales")

    result = run_cli("apply", plan_file)

    assert result.code == 0, result.out + result.err
    assert {persona for persona, _, _ in writes(sim)} == {SALES}
    assert sim.persona_numbers(IVR) == [MOVED, "+14155550130"]


def test_target_is_refused_with_a_plan_file(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    plan_file = _saved(run_cli, tmp_path, CONFIG)

    result = run_cli("apply", plan_file, "--target", "Sales")

    assert result.code == 1
    assert writes(sim) == []


def test_ctrl_c_at_the_prompt_writes_nothing_and_shows_no_traceback(
    sim: Simulator, run_cli: RunCli, seams: object
) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    seams.confirm = interrupted  # type: ignore[attr-defined]

    result = run_cli("apply", CONFIG)

    assert result.code == 130, result.out + result.err
    assert "Traceback" not in result.err
    assert writes(sim) == []
