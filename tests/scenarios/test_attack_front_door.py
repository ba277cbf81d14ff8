"""Attacks on the GitOps front door: validate's machine formats, the files a folder or the
pre-commit hook reads, single-dash option hints, the drift issue script, the CI recipes' exit
codes, the lock's check, and export --out."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from reconciler.simulator import Simulator
from tests.conftest import CONFIG, ROOT, SUPPORT, TEST_KEY, RunCli, write_config
from tests.forked_cli import ForkedCli
from tests.scenarios import test_ci_recipes
from tests.scenarios.conftest import StartSim
from tests.scenarios.fake_issue_api import (
    POLL,
    TOKEN,
    FakeIssueApi,
    Tracker,
    serving,
    tracker_env,
)
from tests.scenarios.test_ci_recipes import gitlab_drift_script, run_bash, shell_env
from tests.scenarios.test_drift_issue import PLAN, SCRIPT, run_script

__all__ = ["shell_env"]  # a fixture of the recipes' tests, used here too

MISTYPED = 'version: 1\npersonas:\n  - name: Support\n    nubmers: ["+14155550100"]\n'
HOOK_FILES = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())[0]["files"]


# -- validate --format github | json -----------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "a\nb::error file=x.yaml,line=1::forged",
        "a\rb\r\n::warning::forged",
        "a\u2028b\u0085::error::forged",
        "100%0A::error::forged",
    ],
)
def test_no_yaml_key_makes_an_annotation_break_out_of_its_line(
    run_cli: RunCli, tmp_path: Path, key: str
) -> None:
    config = tmp_path / "personas.yaml"
    config.write_text(f"version: 1\npersonas: []\n{json.dumps(key)}: 1\n", encoding="utf-8")
    result = run_cli("validate", "--format", "github", config)
    assert result.code == 1
    [line] = result.out.splitlines()  # str.splitlines also splits at U+2028 and U+0085
    # GitHub reads the command up to the second `::`; the rest of the line is the message.
    assert line.startswith(f"::error file={config},line=3,col=1::unknown key ")


@pytest.mark.parametrize("output_format", ["github", "json", "text"])
def test_the_key_pasted_into_a_config_or_its_name_never_shows(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output_format: str
) -> None:
    monkeypatch.setenv("BLAND_API_KEY", TEST_KEY)
    monkeypatch.chdir(tmp_path)
    config = Path(f"{TEST_KEY}.yaml")
    config.write_text(f"version: 1\npersonas: []\n{TEST_KEY}: 1\n{TEST_KEY[:20]}x: 2\n")
    result = run_cli("validate", "--format", output_format, config)
    assert result.code == 1
    shown = result.out + result.err
    assert "unknown key" in shown
    for start in range(len(TEST_KEY) - 12 + 1):
        assert TEST_KEY[start : start + 12] not in shown


@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"]])
def test_validate_json_prints_exactly_one_document(
    run_cli: RunCli, tmp_path: Path, verbosity: list[str]
) -> None:
    bad = tmp_path / "personas.yaml"
    bad.write_text(MISTYPED + '"\\u2028::error::": 1\n')
    huge = tmp_path / "huge.yaml"
    huge.write_text("#" * 200)
    for files, code in (([bad, huge], 1), ([CONFIG], 0)):
        limit = ["--max-file-size", "100"] if code else []
        result = run_cli(*verbosity, *limit, "validate", "--format", "json", *files)
        assert result.code == code
        document = json.loads(result.out)  # one document and nothing else on stdout
        assert isinstance(document, list) and len(document) == (4 if code else 0)


# -- dot-files: a folder's, a named one, and the pre-commit hook's -----------------------------


def test_a_folders_dot_files_are_skipped_and_a_named_one_is_read(
    run_cli: RunCli, tmp_path: Path
) -> None:
    folder = tmp_path / "personas"
    folder.mkdir()
    (folder / "all.yaml").write_text(CONFIG.read_text())
    for name in (".hidden.yaml", ".#all.yaml", ".YAML", ".sub.yml"):
        (folder / name).write_text("not: [valid")
    (folder / ".dir.yaml").mkdir()
    assert run_cli("validate", folder).code == 0
    named = run_cli("validate", folder / ".hidden.yaml")
    assert (named.code, named.err.split(": ")[0]) == (1, f"{folder / '.hidden.yaml'}:1:6")


@pytest.mark.parametrize("path", ["personas/.sales.yaml", "personas/.#sales.yaml"])
def test_the_pre_commit_hook_skips_the_dot_files_a_folder_skips(path: str) -> None:
    assert re.search(HOOK_FILES, path) is None


@pytest.mark.parametrize("path", ["personas/sales.YAML", "personas/sales.Yml"])
def test_the_pre_commit_hook_matches_every_file_a_folder_reads(
    run_cli: RunCli, tmp_path: Path, path: str
) -> None:
    (tmp_path / "personas").mkdir()
    (tmp_path / path).write_text(MISTYPED)
    assert run_cli("validate", tmp_path / "personas").code == 1  # plan reads it...
    assert re.search(HOOK_FILES, path)  # ...so the hook must check it


# -- single-dash options ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["plan", "personas.yaml", "-detailed-exitcode"], "Did you mean '--detailed-exitcode'?"),
        (["plan", "personas.yaml", "-out=my plan.json"], "Did you mean \"--out 'my plan.json'\"?"),
        (["-verbose", "validate", "personas.yaml"], "Did you mean '--verbose'?"),
        (["plan", "personas.yaml", "--", "-out=x"], None),
    ],
)
def test_a_single_dash_long_option_gets_its_two_dash_form(
    run_cli: RunCli, args: list[str], hint: str | None
) -> None:
    result = run_cli(*args)
    assert result.code == 1 and "Traceback" not in result.err
    if hint is None:
        assert "Did you mean" not in result.err
    else:
        assert result.err.rstrip().endswith(hint)


def test_the_hint_is_about_the_option_click_complained_of(run_cli: RunCli) -> None:
    result = run_cli("plan", "--bogus", "personas.yaml", "-out=plan.json")
    assert result.code == 1
    assert "--bogus" in result.err


@pytest.mark.parametrize(("word", "flag"), [("-mask-numbers=1", "--mask-numbers")])
def test_a_flag_is_never_hinted_with_a_value(run_cli: RunCli, word: str, flag: str) -> None:
    result = run_cli("plan", "personas.yaml", word)
    assert result.code == 1
    assert f"Did you mean '{flag}'?" in result.err


def test_ctrl_d_at_the_apply_prompt_writes_nothing(
    forked: ForkedCli, sim: Simulator, tmp_path: Path
) -> None:
    leader, follower = pty.openpty()
    env = {**os.environ, "BLAND_API_URL": sim.url, "BLAND_API_KEY": TEST_KEY, "NO_COLOR": "1"}
    # In a process forked from one that imported the CLI (tests/forked_cli.py).
    process = forked.start("apply", str(CONFIG), env=env, cwd=Path.cwd(), stdin=follower)
    os.close(follower)
    # The prompt goes to stdout; EOF is typed once it is asked.
    prompt = b""
    while b"Type 'yes'" not in prompt:
        assert select.select([process.stdout], [], [], 60)[0]
        assert process.stdout is not None
        chunk = os.read(process.stdout.fileno(), 4096)
        assert chunk, prompt
        prompt += chunk
    os.write(leader, b"\x04")
    out, err = process.communicate(timeout=60)
    os.close(leader)
    assert process.returncode == 1
    assert err.splitlines()[-1] == (
        "error: apply cancelled: no answer on standard input; nothing was written "
        "(use --auto-approve in CI)"
    )
    assert "Traceback" not in out + err and sim.writes() == []


# -- the drift issue script ---------------------------------------------------------------------


class PagedIssueApi(FakeIssueApi):
    """The fake issue API, answering lists as GitHub and GitLab do: newest first, `per_page` at
    a time (GitHub's Link header, GitLab's X-Next-Page); and a redirect where told."""

    redirect_to = ""

    def _answer(self, status: int, document: Any) -> None:
        extra: dict[str, str] = {}
        if isinstance(document, list) and "/issues" in self.path:
            query = parse_qs(urlsplit(self.path).query)
            size = int(query.get("per_page", ["30"])[0])
            page = int(query.get("page", ["1"])[0])
            newest_first = document[::-1]
            document = newest_first[(page - 1) * size : page * size]
            if page * size < len(newest_first):
                url = urlsplit(self.path)
                following = f"{url.path}?{url.query.replace(f'page={page}', '')}&page={page + 1}"
                extra = {"Link": f'<{following}>; rel="next"', "X-Next-Page": str(page + 1)}
        content = json.dumps(document).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **extra}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def _handle(self) -> None:
        if self.redirect_to and self.command == "GET":
            self.tracker.requests.append((self.command, self.path))
            self.send_response(302)
            self.send_header("Location", self.redirect_to + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super()._handle()

    do_GET = do_POST = do_PATCH = do_PUT = _handle


@contextmanager
def serving_paged(state: Tracker, redirect_to: str = "") -> Iterator[Tracker]:
    handler = type("Handler", (PagedIssueApi,), {"tracker": state, "redirect_to": redirect_to})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(POLL,), daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def other_accounts_issues(platform: str, count: int) -> list[dict[str, Any]]:
    """Open drift issues of `count` other accounts, opened after production's (number 1)."""
    number = "number" if platform == "github" else "iid"
    body = "body" if platform == "github" else "description"
    labels: Any = ["reconciler-drift"] if platform == "github" else "reconciler-drift"
    return [
        {number: 1000 + i, "state": "open", body: f"<!-- reconciler-drift: a{i} -->"}
        | {"labels": labels}
        for i in range(count)
    ]


@pytest.mark.parametrize("platform", ["github", "gitlab"])
@pytest.mark.parametrize("changes", [True, False])
def test_the_accounts_issue_is_found_past_the_first_page(
    tmp_path: Path, platform: str, changes: bool
) -> None:
    state = Tracker(platform)
    number = "number" if platform == "github" else "iid"
    body = "body" if platform == "github" else "description"
    labels: Any = ["reconciler-drift"] if platform == "github" else "reconciler-drift"
    mine = {number: 1, "state": "open", body: "<!-- reconciler-drift: production -->"}
    state.issues = [{**mine, "labels": labels}, *other_accounts_issues(platform, 100)]
    with serving_paged(state):
        result = run_script(state, changes, PLAN, tmp_path)
    assert result.returncode == (2 if changes else 0), result.stderr
    production = [i for i in state.issues if "production" in state.body(i)]
    assert len(production) == 1
    assert production[0]["state"] == ("open" if changes else "closed")


def test_the_script_reads_a_one_page_listing_as_github_and_gitlab_answer_it(
    tmp_path: Path,
) -> None:
    # The paged fake is faithful where the script works: under 100 issues, one issue updated.
    for platform in ("github", "gitlab"):
        state = Tracker(platform)
        state.issues = other_accounts_issues(platform, 5)
        with serving_paged(state):
            assert run_script(state, True, PLAN, tmp_path).returncode == 2
            again = run_script(state, True, PLAN, tmp_path)
        assert again.stdout == "Updated drift issue #6.\n"
        assert len(state.open_issues()) == 6


class TokenCatcher(BaseHTTPRequestHandler):
    """Another host: records the headers of every request it gets."""

    seen: list[str]

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append(str(self.headers))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.mark.parametrize("platform", ["github", "gitlab"])
def test_a_redirect_to_another_host_never_gets_the_token(tmp_path: Path, platform: str) -> None:
    seen: list[str] = []
    catcher = ThreadingHTTPServer(("127.0.0.2", 0), type("C", (TokenCatcher,), {"seen": seen}))
    threading.Thread(target=catcher.serve_forever, args=(POLL,), daemon=True).start()
    try:
        elsewhere = f"http://127.0.0.2:{catcher.server_address[1]}"
        with serving_paged(Tracker(platform), redirect_to=elsewhere) as state:
            result = run_script(state, True, PLAN, tmp_path)
    finally:
        catcher.shutdown()
        catcher.server_close()
    assert result.returncode == 1
    assert TOKEN not in "".join(seen)


@pytest.mark.parametrize("status", [429, 500, 502])
@pytest.mark.parametrize("platform", ["github", "gitlab"])
def test_a_rate_limit_or_server_error_is_one_line(
    tmp_path: Path, platform: str, status: int
) -> None:
    with serving(Tracker(platform, fail_with=status)) as state:
        result = run_script(state, True, PLAN, tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("drift_issue: GET /") and f"HTTP {status}" in line
    assert TOKEN not in result.stdout + result.stderr and state.issues == []


def test_a_plan_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.md"
    plan_file.write_bytes(b"### plan \xff\xfe\n")
    with serving(Tracker("github")) as state:
        result = subprocess.run(
            [sys.executable, SCRIPT, "github", "true", plan_file],
            env=tracker_env(state),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


# -- the recipes' exit codes ------------------------------------------------------------------


def test_drift_that_apply_would_refuse_is_still_reported(
    sim: Simulator, shell_env: dict[str, str], tmp_path: Path
) -> None:
    workdir = tmp_path / "job"
    workdir.mkdir()
    (workdir / "drift_issue.py").write_text(SCRIPT.read_text())
    # The config empties Support: correcting would trip the safety valve (plan exits 3).
    config = write_config(tmp_path / "c.yaml", [{"id": SUPPORT, "numbers": []}])
    with serving(Tracker("gitlab")) as tracker:
        env = {
            **tracker_env(tracker),
            **shell_env,
            "RECONCILER_FILES": str(config),
            "RECONCILER_DRIFT": "correct",
        }
        result = run_bash(gitlab_drift_script(), env, workdir)
    assert sim.writes() == []  # never forced
    assert result.returncode != 0
    [issue] = tracker.open_issues()
    assert "apply will need --force" in issue["description"]


# -- the lock's check --------------------------------------------------------------------------


def lock_check_passes(lock: Path, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether the recipes' test of requirements/ci.lock accepts `lock` in its place."""
    monkeypatch.setattr(test_ci_recipes, "LOCK", lock)
    try:
        test_ci_recipes.test_the_lock_pins_every_dependency_within_its_range_with_hashes()
    except AssertionError:
        return False
    return True


def test_the_lock_check_refuses_a_pin_outside_the_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = tmp_path / "ci.lock"
    text = test_ci_recipes.LOCK.read_text()
    assert lock_check_passes(test_ci_recipes.LOCK, monkeypatch)
    httpx_pin = next(line for line in text.splitlines() if line.startswith("httpx=="))
    lock.write_text(text.replace(httpx_pin, "httpx==1.0.0 \\"))
    assert not lock_check_passes(lock, monkeypatch)


def test_the_lock_check_refuses_a_pin_no_supported_python_installs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = test_ci_recipes.LOCK.read_text()
    pin = next(line for line in text.splitlines() if line.startswith("pyyaml=="))
    lock = tmp_path / "ci.lock"
    lock.write_text(text.replace(pin, pin.replace(" \\", ' ; python_version < "3" \\')))
    assert not lock_check_passes(lock, monkeypatch)


def test_the_lock_check_refuses_a_lock_missing_a_transitive_dependency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = test_ci_recipes.LOCK.read_text()
    start = text.index("anyio==")
    end = text.index("\n", text.index("# via httpx", start))
    lock = tmp_path / "ci.lock"
    lock.write_text(text[:start] + text[end + 1 :])
    assert "anyio==" not in lock.read_text()
    assert not lock_check_passes(lock, monkeypatch)


# -- export --out ------------------------------------------------------------------------------


def test_export_with_force_replaces_a_symlink_never_its_target(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me\n")
    out = tmp_path / "all.yaml"
    out.symlink_to(target)
    refused = run_cli("export", "--out", out)
    assert refused.code == 1 and "pass --force to replace it" in refused.err
    dangling = tmp_path / "dangling.yaml"
    dangling.symlink_to(tmp_path / "missing.txt")
    assert run_cli("export", "--out", dangling).code == 1
    assert not (tmp_path / "missing.txt").exists()
    forced = run_cli("export", "--out", out, "--force")
    assert forced.code == 0, forced.err
    assert target.read_text() == "keep me\n" and not out.is_symlink()
    assert "personas:" in out.read_text()


def test_export_never_replaces_a_file_made_while_it_read_the_account(
    sim: Simulator, run_cli: RunCli, seams: Any, tmp_path: Path
) -> None:
    out = tmp_path / "all.yaml"

    def someone_writes_it(seconds: float) -> None:
        if not out.exists():
            out.write_text("written meanwhile\n")

    seams.sleep = someone_writes_it
    sim.faults.read_statuses = [503]  # one retry: its wait is when the file appears
    result = run_cli("export", "--out", out)
    assert out.read_text() == "written meanwhile\n", result.err
    assert result.code == 1 and "pass --force to replace it" in result.err
    assert [path.name for path in tmp_path.iterdir()] == ["all.yaml"]  # no temporary left


def test_the_github_drift_issue_step_runs_after_a_plan_apply_would_refuse() -> None:
    steps = yaml.safe_load((ROOT / "examples" / "ci" / "github-drift.yml").read_text())["jobs"][
        "drift"
    ]["steps"]
    [issue] = [step for step in steps if step.get("id") == "issue"]
    # Without a status function, `if:` means success(): a failed plan step (exit 3) skips it.
    assert any(word in str(issue.get("if", "")) for word in ("always()", "!cancelled()"))


def test_each_plan_step_of_a_job_keeps_its_own_plan_file(
    sim: Simulator, shell_env: dict[str, str], tmp_path: Path
) -> None:
    # Two accounts planned in turn by one job, each step's outputs read after both ran.
    staging = write_config(tmp_path / "staging.yaml", [{"id": SUPPORT, "numbers": []}])
    common = {**shell_env, "COMMAND": "plan", "FORMAT": "text", "MASK_NUMBERS": ""}
    common["SAVED_PLAN"] = ""
    outputs = []
    for files in (str(CONFIG), str(staging)):
        Path(shell_env["GITHUB_OUTPUT"]).unlink(missing_ok=True)
        run_bash(test_ci_recipes.action_script(), {**common, "FILES": files}, ROOT)
        outputs.append(test_ci_recipes.step_outputs(Path(shell_env["GITHUB_OUTPUT"])))
    first, second = outputs
    assert first["plan"] != second["plan"]
    assert Path(first["plan-file"]).read_text().strip() == first["plan"].strip()


def test_a_label_set_in_the_dashboard_never_makes_another_account_close_the_issue(
    start_sim: StartSim, example_state: dict[str, Any], run_cli: RunCli, tmp_path: Path
) -> None:
    # Someone with the dashboard labels a production number with staging's marker.
    forged = "<!-- reconciler-drift: staging -->"
    example_state["numbers"][0]["label"] = forged
    start_sim(example_state)
    config = write_config(
        tmp_path / "production.yaml",
        [{"id": SUPPORT, "numbers": [{"number": "+14155550100", "label": "Main"}, "+14155550101"]}],
    )
    planned = run_cli("plan", config, "--format", "markdown", "--detailed-exitcode")
    assert planned.code == 2, planned.err
    with serving(Tracker("github")) as state:
        assert run_script(state, True, planned.out, tmp_path).returncode == 2
        [production] = state.open_issues()
        # Staging matches its config: its run closes its own issue, and only that.
        matched = run_script(state, False, "No changes.\n", tmp_path, RECONCILER_ACCOUNT="staging")
    assert matched.stdout == "staging matches the config: no drift.\n"
    assert production["state"] == "open"
