"""The loop of pull request, plan, merge and apply without surprises, against the simulator.

A plan fails where apply would; warnings travel with the plan into JSON, saved plans, show and
apply PLANFILE; --target limits a run; apply prints one JSON report; CI logs count the writes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from reconciler.simulator import RequestRecord, Simulator
from reconciler.simulator.api import Reply
from tests.conftest import CONFIG, IVR, SALES, SUPPORT, RunCli, write_config, writes

PATHWAY = {"pathway_id": "pw_ivr"}
MOVED = "+14155550102"  # the example plan moves it from Legacy IVR to Support


def _protected_move(tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "routing.yaml",
        [{"id": SUPPORT, "numbers": ["+14155550100", MOVED]}],
        protected=[MOVED],
    )


def test_a_plan_apply_would_refuse_exits_3_and_still_prints_in_full(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    config = _protected_move(tmp_path)
    result = run_cli("plan", config, "--detailed-exitcode")
    assert result.code == 3
    assert f"~ {MOVED} (from 'Legacy IVR')" in result.out
    assert "Plan: 0 to attach, 1 to move, 1 to detach." in result.out
    assert result.err.startswith("error: apply would refuse this plan: ")
    document = json.loads(run_cli("plan", config, "--format", "json").out)
    assert document["safety"]["apply_refuses"] is True
    assert document["safety"]["protected"] == [
        f"{MOVED} is protected and the plan moves it from 'Legacy IVR' to 'Support Agent'"
    ]


def test_plan_force_shows_what_apply_force_would_run_and_exits_as_usual(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "routing.yaml", [{"id": SUPPORT, "numbers": []}])
    assert run_cli("plan", config).code == 3  # leaves Support with none of its numbers
    forced = run_cli("plan", config, "--force", "--detailed-exitcode")
    assert forced.code == 2, forced.err
    assert "Safety valve: the plan leaves 'Support Agent' with none of its 2 numbers" in forced.out
    assert json.loads(run_cli("plan", config, "--force", "--format", "json").out)["safety"] == {
        "apply_refuses": False,
        "valves": ["the plan leaves 'Support Agent' with none of its 2 numbers"],
        "protected": [],
    }


def _warned_plan(sim: Simulator, tmp_path: Path) -> Path:
    """A plan whose move clears settings and that trips the emptying valve."""
    sim.set_persona_settings(IVR, MOVED, PATHWAY)
    return write_config(
        tmp_path / "routing.yaml",
        [{"id": SUPPORT, "numbers": ["+14155550100", MOVED]}, {"id": IVR, "numbers": []}],
    )


def test_show_and_apply_planfile_print_the_warnings_plan_printed(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    config, plan_file = _warned_plan(sim, tmp_path), tmp_path / "plan.json"
    planned = run_cli("plan", config, "--force", "--out", plan_file)
    assert planned.code == 0, planned.err
    cleared = 'its settings there, {"pathway_id": "pw_ivr"}, are cleared by the move'
    valve = "Safety valve: the plan leaves 'Legacy IVR' with none of its"
    for result in (run_cli("show", plan_file), run_cli("apply", plan_file, "--force")):
        assert cleared in result.out, result.out + result.err
        assert valve in result.out
    document = json.loads(run_cli("show", plan_file, "--format", "json").out)
    (move,) = [change for change in document["changes"] if change["action"] == "move"]
    assert move["settings_cleared"] == PATHWAY
    assert document["safety"]["valves"][0].startswith("the plan leaves 'Legacy IVR'")
    markdown = run_cli("show", plan_file, "--format", "markdown").out
    assert "are cleared by the move" in markdown and "Legacy IVR" in markdown


def test_target_plans_and_writes_only_the_named_entries(sim: Simulator, run_cli: RunCli) -> None:
    plan = run_cli("plan", CONFIG, "--target", "Sales")
    assert plan.code == 0, plan.err
    assert "Support Agent" not in plan.out
    assert "a partial plan, of 'Sales' only (--target)" in plan.out
    assert json.loads(run_cli("plan", CONFIG, "--target", "Sales", "--format", "json").out)[
        "targets"
    ] == ["Sales"]
    assert run_cli("apply", CONFIG, "--target", "Sales", "--auto-approve").code == 0
    assert {persona for persona, _, _ in writes(sim)} == {SALES}
    unknown = run_cli("plan", CONFIG, "--target", "Salse")
    assert unknown.code == 1
    assert "(did you mean 'Sales'?)" in unknown.err


def test_apply_format_json_prints_one_report_that_parses(sim: Simulator, run_cli: RunCli) -> None:
    result = run_cli("apply", CONFIG, "--auto-approve", "--format", "json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["exit_status"] == 0 and report["converged"] is True
    assert {write["outcome"] for write in report["writes"]} == {"done"}
    assert len(report["writes"]) == 3
    assert report["plan"]["summary"]["move"] == 1
    assert report["verified_with_reads"] > 0
    assert run_cli("apply", CONFIG, "--format", "json").code == 1  # no prompt in json


def test_apply_format_json_reports_a_refusal_too(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    result = run_cli("apply", _protected_move(tmp_path), "--auto-approve", "--format", "json")
    assert result.code == 3
    report = json.loads(result.out)
    assert (report["exit_status"], report["writes"]) == (3, [])
    assert "is protected" in report["error"]


def test_ci_logs_count_the_writes_and_a_move_says_moved(sim: Simulator, run_cli: RunCli) -> None:
    result = run_cli("apply", CONFIG, "--auto-approve")
    assert result.code == 0
    # The writes run concurrently: each line is counted as it ends, in whichever order.
    written = dict(re.findall(r"^\[(\d)/3\] (.*)$", result.out, re.MULTILINE))
    assert sorted(written) == ["1", "2", "3"]
    assert sorted(written.values()) == [
        "Sales: attached 2 numbers (+14155550110, +14155550111)",
        f"Support Agent: attached 1 number (+14155550101), moved 1 number ({MOVED}) here",
        "Support Agent: detached 1 number (+14155550103)",
    ]


def _hide_on_first_listing(sim: Simulator, persona_id: str) -> None:
    """The first listing misses a persona (one deleted above it slid it onto a page already
    read); later listings show it."""
    seen: list[bool] = []

    def intercept(record: RequestRecord, serve: Any) -> Reply:
        reply: Reply = serve(record)
        if record.path.rstrip("/") != "/v1/personas" or seen or reply.status != 200:
            return reply
        body = json.loads(reply.payload)
        if body["data"]:
            seen.append(True)
            body["data"] = [p for p in body["data"] if p["id"] != persona_id]
        return Reply(reply.status, json.dumps(body).encode(), headers=reply.headers)

    sim.intercept = intercept


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_an_owner_hidden_by_a_shifting_listing_is_found_before_a_plain_attach(
    sim: Simulator, run_cli: RunCli, command: str
) -> None:
    _hide_on_first_listing(sim, IVR)
    args = [command, CONFIG] + (["--auto-approve"] if command == "apply" else [])
    result = run_cli(*args)
    assert result.code == 0, result.out + result.err
    assert f"~ {MOVED} (from 'Legacy IVR')" in result.out
    assert f"+ {MOVED}" not in result.out
    assert f"Note: {MOVED} was listed on no persona: listed again, it is on 'Legacy IVR'" in (
        result.out
    )
