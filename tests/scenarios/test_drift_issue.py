"""scripts/drift_issue.py against a fake of GitHub's and GitLab's issue APIs on 127.0.0.1."""

from __future__ import annotations

import io
import os
import runpy
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.scenarios.fake_issue_api import PLATFORMS, TOKEN, Tracker, serving, tracker_env

SCRIPT = ROOT / "scripts" / "drift_issue.py"


@pytest.fixture(params=PLATFORMS)
def tracker(request: pytest.FixtureRequest) -> Iterator[Tracker]:
    """A fake issue API of each platform."""
    with serving(Tracker(request.param)) as state:
        yield state


def run_script(
    tracker: Tracker, changes: bool, plan: str, tmp_path: Path, **extra: str
) -> subprocess.CompletedProcess[str]:
    plan_file = tmp_path / "plan.md"
    plan_file.write_text(plan)
    args = [tracker.platform, str(changes).lower(), str(plan_file)]
    return run_in_process(SCRIPT, args, tracker_env(tracker, **extra))


def run_in_process(
    script: Path, args: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`python SCRIPT ARGS` with exactly `env` as its environment, run in this process.

    The script uses only the standard library and reads its environment as it runs (its
    opener too is made anew each run), so it behaves as in a process of its own, without the
    cost of starting one: its output and exit status are those a CI runner sees. An exception
    it does not catch fails the test with its traceback.
    """
    out, err = io.StringIO(), io.StringIO()
    saved_environ, saved_argv = dict(os.environ), sys.argv
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [str(script), *args]
    try:
        with redirect_stdout(out), redirect_stderr(err):
            runpy.run_path(str(script), run_name="__main__")
        code = 0
    except SystemExit as exited:
        # As the interpreter ends: None is 0, a number is the status, anything else is
        # printed to stderr with status 1.
        if exited.code is None or isinstance(exited.code, int):
            code = exited.code or 0
        else:
            err.write(f"{exited.code}\n")
            code = 1
    finally:
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_environ)
    return subprocess.CompletedProcess([str(script), *args], code, out.getvalue(), err.getvalue())


PLAN = "### reconciler plan for `personas/`\n\n+ +14155550100\n"


def test_drift_opens_one_issue_updates_it_then_closes_it(tracker: Tracker, tmp_path: Path) -> None:
    opened = run_script(tracker, True, PLAN, tmp_path)
    assert (opened.returncode, opened.stdout, opened.stderr) == (2, "Opened a drift issue.\n", "")
    [issue] = tracker.open_issues()
    assert issue["title"] == "reconciler: production differs from the config"
    assert "reconciler-drift" in issue["labels"]
    body = tracker.body(issue)
    assert body.startswith("<!-- reconciler-drift: production -->\n")
    assert PLAN.strip() in body and "RECONCILER_DRIFT=report" in body

    again = run_script(tracker, True, PLAN + "- +14155550199\n", tmp_path)
    assert again.returncode == 2
    assert again.stdout == f"Updated drift issue #{1}.\n"
    assert [tracker.body(i) for i in tracker.open_issues()] == [
        body.replace(PLAN.strip(), (PLAN + "- +14155550199").strip())
    ]
    assert len(tracker.issues) == 1

    matched = run_script(tracker, False, "No changes.\n", tmp_path)
    assert (matched.returncode, matched.stdout) == (
        0,
        "Closed drift issue #1: production matches the config.\n",
    )
    assert tracker.open_issues() == [] and len(tracker.issues) == 1
    assert "matches the config again" in tracker.body(tracker.issues[0])

    still = run_script(tracker, False, "No changes.\n", tmp_path)
    assert (still.returncode, still.stdout) == (0, "production matches the config: no drift.\n")
    assert len(tracker.issues) == 1
    assert TOKEN not in opened.stdout + again.stdout + matched.stdout + still.stdout


def test_correct_mode_says_so_in_the_issue(tracker: Tracker, tmp_path: Path) -> None:
    result = run_script(tracker, True, PLAN, tmp_path, RECONCILER_DRIFT="correct")
    assert result.returncode == 2
    assert "This run applies the plan" in tracker.body(tracker.open_issues()[0])


@pytest.mark.parametrize("state", ["waiting", "in_progress", "failure"])
def test_no_drift_is_reported_while_an_apply_is_pending_or_failed(
    tracker: Tracker, tmp_path: Path, state: str
) -> None:
    tracker.apply_state = state
    result = run_script(tracker, True, PLAN, tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("Not reported as drift: an apply is waiting or did not succeed")
    assert tracker.issues == []
    assert not [method for method, _ in tracker.requests if method != "GET"]


@pytest.mark.parametrize(
    "changed",
    [["personas/sales.yaml"], ["README.md", "personas"], [f"docs/{n}.md" for n in range(300)]],
)
def test_a_config_change_with_no_apply_of_its_own_is_never_drift(
    tracker: Tracker, tmp_path: Path, changed: list[str]
) -> None:
    # Merged with [skip ci]: correcting it as drift would apply it past the approval gate.
    tracker.planned_sha, tracker.changed = "b" * 40, changed
    result = run_script(tracker, True, PLAN, tmp_path, RECONCILER_DRIFT="correct")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "Not reported as drift: an apply is waiting or did not succeed (bbbbbbbbbbbb changed "
        "personas after the last apply, of aaaaaaaaaaaa, and has none).\n"
    )
    assert not [method for method, _ in tracker.requests if method != "GET"]


@pytest.mark.parametrize("changed", [[], ["README.md", "personas.md", "other/personas/x.yaml"]])
def test_a_commit_that_left_the_config_alone_needs_no_apply_of_its_own(
    tracker: Tracker, tmp_path: Path, changed: list[str]
) -> None:
    tracker.planned_sha, tracker.changed = "b" * 40, changed
    assert run_script(tracker, True, PLAN, tmp_path).returncode == 2
    assert len(tracker.open_issues()) == 1


def test_no_apply_run_yet_counts_as_nothing_pending(tracker: Tracker, tmp_path: Path) -> None:
    tracker.apply_state = ""
    assert run_script(tracker, True, PLAN, tmp_path).returncode == 2
    assert len(tracker.open_issues()) == 1


def test_other_accounts_issues_are_left_alone(tracker: Tracker, tmp_path: Path) -> None:
    staging = run_script(tracker, True, PLAN, tmp_path, RECONCILER_ACCOUNT="staging")
    assert staging.returncode == 2
    production = run_script(tracker, True, PLAN, tmp_path)
    assert production.stdout == "Opened a drift issue.\n"
    assert len(tracker.open_issues()) == 2
    run_script(tracker, False, "No changes.\n", tmp_path)
    [left] = tracker.open_issues()
    assert left["title"] == "reconciler: staging differs from the config"


def test_a_missing_token_is_one_line(tracker: Tracker, tmp_path: Path) -> None:
    missing = "GITHUB_TOKEN" if tracker.platform == "github" else "RECONCILER_GITLAB_TOKEN"
    result = run_script(tracker, True, PLAN, tmp_path, **{missing: ""})
    assert result.returncode == 1
    assert result.stderr == (
        f"drift_issue: {missing} is not set (see the recipe's comments for what it needs)\n"
    )
    assert tracker.requests == []


def test_an_api_error_is_one_line_without_the_token(tracker: Tracker, tmp_path: Path) -> None:
    tracker.fail_with = 403
    result = run_script(tracker, True, PLAN, tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("drift_issue: GET /") and "HTTP 403" in line
    assert TOKEN not in result.stdout + result.stderr


def test_a_pull_request_with_the_label_is_not_the_issue(tmp_path: Path) -> None:
    state = Tracker("github")
    state.issues.append(
        {
            "number": 1,
            "state": "open",
            "title": "a pull request",
            "body": "<!-- reconciler-drift: production -->",
            "labels": ["reconciler-drift"],
            "pull_request": {},
        }
    )
    with serving(state):
        result = run_script(state, True, PLAN, tmp_path)
    assert result.stdout == "Opened a drift issue.\n"
    assert [issue["number"] for issue in state.open_issues()] == [1, 2]
