"""Attacks, fourth round, on the apply flow behind core.apply, the key's redaction and the
single-dash option hint: the CLI against the simulator over loopback HTTP.

Each test plays a careless user or an attacker. Those marked xfail show a bug that is still there.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.simulator import Simulator
from tests.conftest import CONFIG, ROOT, TEST_KEY, RunCli
from tests.scenarios.fake_issue_api import PLATFORMS, Tracker, serving, tracker_env

DRIFT_SCRIPT = ROOT / "scripts" / "drift_issue.py"
# A drift plan that takes a number off its persona: what correcting it would write.
DRIFT_PLAN = "### reconciler plan for `personas/`\n\n- +14155550100\n"
APPLIED, PLANNED = "a" * 40, "b" * 40


def _shows_the_key(text: str) -> bool:
    """Whether text holds the key, or a run of it long enough to count as showing it."""
    return TEST_KEY[:12] in text or TEST_KEY[-12:] in text


# --- The key in the single-dash option hint -------------------------------------------------

# Terraform's habit, `-api-key-file=VALUE`, with the key itself pasted as the value: the hint
# that spells the two-dash form quotes the value back.
SINGLE_DASH_KEY = [
    pytest.param(("plan", CONFIG, f"-api-key-file={TEST_KEY}"), id="plan"),
    pytest.param(("apply", CONFIG, "--auto-approve", f"-api-key-file={TEST_KEY}"), id="apply"),
    pytest.param(("export", f"-api-key-file={TEST_KEY}"), id="export"),
    pytest.param((f"-api-key-file={TEST_KEY}", "plan", CONFIG), id="before the command"),
]


@pytest.mark.xfail(
    strict=True, reason="the two-dash hint quotes -api-key-file=KEY's value, the key, back whole"
)
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


@pytest.mark.xfail(
    strict=True,
    reason="an absolute RECONCILER_FILES never matches the compare's repository paths",
)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_drift_sees_the_config_folder_given_by_its_absolute_path(
    platform: str, tmp_path: Path
) -> None:
    # `RECONCILER_FILES: ${{ github.workspace }}/personas/` (or $CI_PROJECT_DIR/personas/), which
    # `reconciler plan` reads as well as personas/. The planned commit changed a config file and
    # its apply never ran: correcting the drift would apply a change nobody approved.
    workspace = tmp_path / "checkout"
    (workspace / "personas").mkdir(parents=True)
    plan_file = tmp_path / "plan.md"
    plan_file.write_text(DRIFT_PLAN)
    tracker = Tracker(platform, applied_sha=APPLIED, planned_sha=PLANNED)
    tracker.changed = ["personas/sales.yaml"]
    with serving(tracker):
        env = tracker_env(
            tracker,
            RECONCILER_DRIFT="correct",
            RECONCILER_FILES=f"{workspace}/personas/",
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
