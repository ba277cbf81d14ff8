"""Attacks, third round, on what the reshaped code does: the CLI against the simulator over
loopback HTTP, and scripts/drift_issue.py against a fake of GitHub's and GitLab's issue APIs.

Each test plays a careless user, or an account or a CI history a user did not foresee. Those
marked xfail show a bug that is still there; the others pin an attack the code survives that no
other test pins.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tests.scenarios.fake_issue_api as fake_issue_api
from reconciler.simulator import Simulator
from tests.conftest import CONFIG, ROOT, TEST_KEY, RunCli
from tests.scenarios.fake_issue_api import PLATFORMS, FakeIssueApi, Tracker, serving, tracker_env
from tests.scenarios.test_drift_issue import run_in_process

DRIFT_SCRIPT = ROOT / "scripts" / "drift_issue.py"
# A drift plan that takes a number off its persona: what correcting it would write.
DRIFT_PLAN = "### reconciler plan for `personas/`\n\n- +14155550100\n"
APPLIED, PLANNED = "a" * 40, "b" * 40


def _shows_the_key(text: str) -> bool:
    """Whether text holds the key, or a run of it long enough to count as showing it."""
    return TEST_KEY[:12] in text or TEST_KEY[-12:] in text


# --- The API key given where its file's name goes -------------------------------------------

# The key itself given where its file's name goes, in every command that reads the key: after
# `--api-key-file`, before or after the command, or as BLAND_API_KEY_FILE (the variable mistaken
# for BLAND_API_KEY). BLAND_API_KEY is not set: the pasted key is the only copy the run has.
KEY_AS_ITS_FILE = [
    pytest.param(("--api-key-file", TEST_KEY, "plan", CONFIG), {}, id="plan, before the command"),
    pytest.param(("plan", CONFIG, f"--api-key-file={TEST_KEY}"), {}, id="plan, after it, with ="),
    pytest.param(("apply", CONFIG, "--auto-approve", "--api-key-file", TEST_KEY), {}, id="apply"),
    pytest.param(("export", "--api-key-file", TEST_KEY), {}, id="export"),
    pytest.param(("doctor", "--api-key-file", TEST_KEY), {}, id="doctor"),
    pytest.param(("plan", CONFIG), {"BLAND_API_KEY_FILE": TEST_KEY}, id="BLAND_API_KEY_FILE"),
]


@pytest.mark.parametrize(("args", "environ"), KEY_AS_ITS_FILE)
def test_the_key_given_as_its_own_file_name_is_never_printed(
    sim: Simulator,
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: tuple[str | Path, ...],
    environ: dict[str, str],
) -> None:
    monkeypatch.delenv("BLAND_API_KEY")
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)

    result = run_cli(*args)

    assert result.code == 1
    assert not sim.writes()
    assert not _shows_the_key(result.out + result.err), result.out + result.err


# --- The drift script's compare of the applied commit with the planned one ------------------


@pytest.fixture(params=PLATFORMS)
def platform(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _run_drift(tracker: Tracker, tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """The drift script in correct mode, told the plan shows changes: exit 2 applies them."""
    plan_file = tmp_path / "plan.md"
    plan_file.write_text(DRIFT_PLAN)
    args = [tracker.platform, "true", str(plan_file)]
    return run_in_process(
        DRIFT_SCRIPT, args, tracker_env(tracker, RECONCILER_DRIFT="correct", **extra)
    )


def _not_corrected(result: subprocess.CompletedProcess[str], tracker: Tracker) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Not reported as drift: an apply is waiting")
    assert not [method for method, _ in tracker.requests if method != "GET"]


def test_drift_never_reverts_an_apply_of_a_newer_commit(platform: str, tmp_path: Path) -> None:
    # The scheduled run planned the branch's commit as it was when the run was created; while it
    # waited for a runner, a merge was approved and applied (the two workflows have their own
    # concurrency groups). The latest apply is of a commit after the one planned: compared from
    # their merge base, which is the planned commit itself, the answer names no file (GitHub says
    # "behind"), and the plan's differences are the newer apply's own changes.
    tracker = Tracker(platform, applied_sha=PLANNED, planned_sha=APPLIED, changed=[])
    with serving(tracker):
        result = _run_drift(tracker, tmp_path)
    _not_corrected(result, tracker)


class _RenamingIssueApi(FakeIssueApi):
    """GitHub's compare answer for a config file moved out of the folder: its old name is in
    `previous_filename`, `filename` is the new one."""

    def _answer(self, status: int, document: Any) -> None:
        if self.path.startswith("/repos/owner/repo/compare/"):
            moved = {
                "filename": "archive/sales.yaml",
                "previous_filename": "personas/sales.yaml",
                "status": "renamed",
            }
            document = {"status": "ahead", "ahead_by": 1, "behind_by": 0, "files": [moved]}
        super()._answer(status, document)


@pytest.fixture
def renaming_github(monkeypatch: pytest.MonkeyPatch) -> Iterator[Tracker]:
    monkeypatch.setattr(fake_issue_api, "FakeIssueApi", _RenamingIssueApi)
    with serving(Tracker("github", applied_sha=APPLIED, planned_sha=PLANNED)) as tracker:
        yield tracker


def test_drift_sees_a_config_file_moved_out_of_the_folder(
    renaming_github: Tracker, tmp_path: Path
) -> None:
    # `git mv personas/sales.yaml archive/` merged with [skip ci]: GitLab's compare names both
    # paths of a diff and holds it back; GitHub's answer names the old one apart.
    result = _run_drift(renaming_github, tmp_path)
    _not_corrected(result, renaming_github)


@pytest.mark.parametrize("files", ["./personas/", "./personas"])
def test_drift_reads_the_config_folder_as_plan_is_given_it(
    platform: str, tmp_path: Path, files: str
) -> None:
    # The same variable is handed to `reconciler plan $RECONCILER_FILES`, which reads ./personas/
    # as personas/; the compare names paths from the repository's root.
    tracker = Tracker(platform, applied_sha=APPLIED, planned_sha=PLANNED)
    tracker.changed = ["personas/sales.yaml"]
    with serving(tracker):
        result = _run_drift(tracker, tmp_path, RECONCILER_FILES=files)
    _not_corrected(result, tracker)
