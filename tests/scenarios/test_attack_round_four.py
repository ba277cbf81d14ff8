"""Attacks, fourth round, on the apply flow behind core.apply, the key's redaction and the
single-dash option hint (the CLI against the simulator over loopback HTTP), and on how
scripts/drift_issue.py tells a config change from drift (against a fake issue API).

Each test plays a careless user or an attacker. Those marked xfail show a bug that is still there.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli import Settings
from reconciler.simulator import Simulator
from tests.conftest import CONFIG, SALES, TEST_KEY, RunCli
from tests.scenarios.conftest import StartSim
from tests.scenarios.fake_issue_api import PLATFORMS, Tracker, serving, tracker_env
from tests.scenarios.test_attack_round_three import (
    APPLIED,
    DRIFT_PLAN,
    DRIFT_SCRIPT,
    PLANNED,
    _shows_the_key,
)

# --- The key in the single-dash option hint -------------------------------------------------

# Terraform's habit, `-api-key-file=VALUE`, with the key itself pasted as the value: the hint
# that spells the two-dash form quotes the value back.
SINGLE_DASH_KEY = [
    pytest.param(("plan", CONFIG, f"-api-key-file={TEST_KEY}"), id="plan"),
    pytest.param(("apply", CONFIG, "--auto-approve", f"-api-key-file={TEST_KEY}"), id="apply"),
    pytest.param(("export", f"-api-key-file={TEST_KEY}"), id="export"),
    pytest.param((f"-api-key-file={TEST_KEY}", "plan", CONFIG), id="before the command"),
]


@pytest.mark.parametrize("args", SINGLE_DASH_KEY)
def test_the_key_given_after_a_single_dash_option_is_never_printed(
    sim: Simulator,
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: tuple[str | Path, ...],
) -> None:
    monkeypatch.delenv("BLAND_API_KEY")
    monkeypatch.chdir(tmp_path)

    result = run_cli(*args)

    assert result.code == 1
    assert not sim.writes()
    assert not _shows_the_key(result.out + result.err), result.out + result.err


# --- Drift correction and the config files as plan is given them ----------------------------


# How a CI file may give the config files that `reconciler plan $RECONCILER_FILES` reads as
# personas/: by the checkout's absolute path, or as a pattern the shell expands for plan.
FILES_SPELLED = [
    pytest.param("{workspace}/personas/", id="absolute path"),
    pytest.param("personas/*.yaml", id="shell pattern"),
]


@pytest.mark.parametrize("files", FILES_SPELLED)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_drift_sees_the_config_files_however_plan_is_given_them(
    platform: str, files: str, tmp_path: Path
) -> None:
    # The planned commit changed personas/sales.yaml and its apply never ran: correcting the
    # drift would apply a change nobody approved.
    workspace = tmp_path / "checkout"
    (workspace / "personas").mkdir(parents=True)
    (workspace / "personas" / "sales.yaml").write_text("version: 1\npersonas: []\n")
    plan_file = tmp_path / "plan.md"
    plan_file.write_text(DRIFT_PLAN)
    tracker = Tracker(platform, applied_sha=APPLIED, planned_sha=PLANNED)
    tracker.changed = ["personas/sales.yaml"]
    with serving(tracker):
        env = tracker_env(
            tracker,
            RECONCILER_DRIFT="correct",
            RECONCILER_FILES=files.format(workspace=workspace),
            GITHUB_WORKSPACE=str(workspace),
            CI_PROJECT_DIR=str(workspace),
        )
        result = subprocess.run(
            [sys.executable, str(DRIFT_SCRIPT), platform, "true", str(plan_file)],
            env=env,
            cwd=workspace,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Not reported as drift: an apply is waiting")
    assert not [method for method, _ in tracker.requests if method != "GET"]


# --- A write whose answer was lost, then a signal -------------------------------------------


def test_a_write_that_went_out_before_a_signal_is_never_called_skipped(
    start_sim: StartSim, run_cli: RunCli, seams: Settings, tmp_path: Path
) -> None:
    # Sales' attach, the first write, takes effect but its answer is lost; while the client waits
    # to read the account back, SIGINT comes (delivered by calling the handler apply installed).
    # The read-back is then refused as unsent, and the write it was to check is called unsent.
    sim = start_sim(drop_after_write=1)
    interrupted: list[float] = []

    def sleep(seconds: float) -> None:
        if not interrupted:
            interrupted.append(seconds)
            handler = signal.getsignal(signal.SIGINT)
            assert callable(handler)
            handler(signal.SIGINT, None)

    seams.sleep = sleep
    log = tmp_path / "audit.jsonl"

    result = run_cli("apply", CONFIG, "--auto-approve", "--parallelism", "1", "--log-file", log)

    assert interrupted
    assert result.code == 130
    assert sim.owners()["+14155550110"] == [SALES]  # the write went out and took effect
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    sales = [(line["action"], line["outcome"]) for line in lines if line["persona_id"] == SALES]
    assert sales[0] == ("attach", "sent")
    assert ("attach", "skipped") not in sales, sales
    assert "Sales: attach of 2 numbers (+14155550110, +14155550111) skipped" not in result.out
