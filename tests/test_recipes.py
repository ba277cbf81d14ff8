"""The CI recipes parse as YAML and only run reconciler commands and options that exist."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from reconciler.cli import cli
from reconciler.simulator import Simulator
from tests.conftest import EXAMPLES, ROOT, TEST_KEY

CI = EXAMPLES / "ci"
ACTION = ROOT / "action.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
GITHUB_WORKFLOWS = sorted(CI.glob("github-*.yml"))
GITLAB_PIPELINES = sorted(CI.glob("gitlab-*.yml"))
RECIPES = [*GITHUB_WORKFLOWS, *GITLAB_PIPELINES, ACTION, HOOKS]
ACTION_REF = re.compile(r"reconciler/reconciler@\S+\Z")
SEPARATORS = {";", ";;", "&&", "||", "|", "&", "(", ")", "{", "}"}
REDIRECTS = {">", ">>", "<", "<<<", ">&", "&>", "<&", ">|"}
KEYWORDS = {"if", "then", "else", "elif", "do", "while", "until", "!", "time", "exec"}


@dataclass(frozen=True)
class Invocation:
    """One `reconciler ...` command line found in a recipe."""

    where: str
    words: tuple[str, ...]


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def without_heredocs(script: str) -> str:
    """Shell lines only: the bodies of here-documents are other languages."""
    lines: list[str] = []
    delimiter: str | None = None
    for line in script.splitlines():
        if delimiter is not None:
            if line.strip() == delimiter:
                delimiter = None
            continue
        found = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", line)
        if found and "<<<" not in line:
            delimiter = found.group(1)
        lines.append(line)
    return "\n".join(lines).replace("\\\n", " ")


def invocations(script: str, where: str) -> Iterator[Invocation]:
    """Every simple command of a shell script whose program is reconciler."""
    for line in without_heredocs(script).splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        command: list[str] = []
        for token in [*lexer, ";"]:
            if token in SEPARATORS:
                words = [w for w in command if not re.fullmatch(r"[A-Za-z_]\w*=.*", w)]
                while words and words[0] in KEYWORDS:
                    words.pop(0)
                if words and Path(words[0]).name == "reconciler":
                    yield Invocation(where, tuple(words[1:]))
                command = []
            else:
                command.append(token)


def drop_redirections(words: tuple[str, ...]) -> list[str]:
    kept: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word in REDIRECTS:
            skip = True
        elif not re.fullmatch(r"\d", word):  # the 2 of 2>&1
            kept.append(word)
    return kept


def options_of(command: click.Command) -> dict[str, click.Parameter]:
    return {opt: param for param in command.params for opt in param.opts + param.secondary_opts}


def takes_value(param: click.Parameter) -> bool:
    return isinstance(param, click.Option) and not param.is_flag and not param.count


def check(invocation: Invocation) -> str:
    """The command name, after asserting it and every option given to it exist."""
    words = drop_redirections(invocation.words)
    global_options = options_of(cli)
    while words and words[0].startswith("-"):
        name = words.pop(0).split("=", 1)[0]
        assert name in global_options, f"{invocation.where}: unknown global option {name}"
        if takes_value(global_options[name]) and "=" not in name:
            words.pop(0)
    assert words, f"{invocation.where}: `reconciler` without a command"
    name = words.pop(0)
    assert name in cli.commands, f"{invocation.where}: no command {name!r}"
    command = cli.commands[name]
    known = options_of(command)
    while words:
        word = words.pop(0)
        if word.startswith("-") and word != "-":
            option = word.split("=", 1)[0]
            assert option in known, f"{invocation.where}: `{name}` has no option {option}"
            if takes_value(known[option]) and "=" not in word:
                assert words, f"{invocation.where}: {option} needs a value"
                words.pop(0)
    return name


def shell_scripts(path: Path) -> Iterator[tuple[str, str]]:
    """(where, script) for every piece of shell a recipe runs."""
    document = load(path)
    if path == HOOKS:
        for hook in document:
            yield f"{path.name}:{hook['id']}", " ".join([hook["entry"], *hook.get("args", [])])
        return
    if path == ACTION:
        steps = document["runs"]["steps"]
        yield from ((f"action.yml:{i}", s["run"]) for i, s in enumerate(steps) if "run" in s)
        return
    if path in GITHUB_WORKFLOWS:
        for job_name, job in document["jobs"].items():
            for index, step in enumerate(job["steps"]):
                if "run" in step:
                    yield f"{path.name}:{job_name}:{index}", step["run"]
        return
    for job_name, job in document.items():
        if isinstance(job, dict):
            for key in ("before_script", "script", "after_script"):
                for index, line in enumerate(job.get(key, [])):
                    yield f"{path.name}:{job_name}:{key}:{index}", line


def action_uses(path: Path) -> list[dict[str, Any]]:
    """The steps of a GitHub workflow that use the reconciler action."""
    steps = [step for job in load(path)["jobs"].values() for step in job["steps"]]
    return [step for step in steps if ACTION_REF.match(str(step.get("uses", "")))]


def commands_run(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(command, its words) for every reconciler command a recipe runs, checked on the way."""
    found = []
    for where, script in shell_scripts(path):
        for invocation in invocations(script, where):
            found.append((check(invocation), invocation.words))
    return found


def test_there_are_recipes_for_both_ci_systems() -> None:
    assert [p.name for p in GITHUB_WORKFLOWS] == ["github-apply.yml", "github-pull-request.yml"]
    assert [p.name for p in GITLAB_PIPELINES] == ["gitlab-apply.yml", "gitlab-merge-request.yml"]


@pytest.mark.parametrize("path", RECIPES, ids=lambda path: path.name)
def test_every_recipe_parses_as_yaml(path: Path) -> None:
    assert load(path)


def test_the_checker_catches_a_wrong_command_or_option() -> None:
    def run(script: str) -> str:
        return check(next(invocations(script, "test")))

    assert run('x=1 reconciler -v plan "$F" --format markdown > out 2>&1 || code=$?') == "plan"
    with pytest.raises(AssertionError, match="no command 'plna'"):
        run("reconciler plna personas/")
    with pytest.raises(AssertionError, match="`apply` has no option --yes"):
        run("if true; then reconciler apply personas/ --yes; fi")
    with pytest.raises(AssertionError, match="unknown global option --key"):
        run("reconciler --key x plan personas/")
    assert list(invocations("python - <<'PY'\nreconciler nonsense\nPY\n", "test")) == []


def test_the_action_runs_validate_plan_and_apply_with_real_options() -> None:
    found = commands_run(ACTION)
    assert sorted({name for name, _ in found}) == ["apply", "plan", "validate"]
    plan_options = {w for name, words in found if name == "plan" for w in words}
    assert {"--format", "--detailed-exitcode", "--mask-numbers"} <= plan_options
    apply_words = [words for name, words in found if name == "apply"]
    assert all("--auto-approve" in words for words in apply_words)


def test_the_action_has_the_inputs_and_outputs_the_workflows_use() -> None:
    action = load(ACTION)
    assert action["runs"]["using"] == "composite"
    assert {"command", "files", "format", "mask-numbers"} <= set(action["inputs"])
    assert {"plan", "has-changes"} <= set(action["outputs"])
    # The format input offers exactly what plan --format accepts.
    plan_format = options_of(cli.commands["plan"])["--format"]
    assert isinstance(plan_format.type, click.Choice)
    described = re.findall(r"\b(text|markdown|json)\b", action["inputs"]["format"]["description"])
    assert sorted(described) == sorted(plan_format.type.choices)
    for path in GITHUB_WORKFLOWS:
        for step in action_uses(path):
            assert set(step.get("with", {})) <= set(action["inputs"]), path.name
        outputs_used = re.findall(r"steps\.plan\.outputs\.([\w-]+)", path.read_text())
        assert set(outputs_used) <= set(action["outputs"]), path.name


def test_the_github_workflows_use_the_action_for_every_command() -> None:
    for path in GITHUB_WORKFLOWS:
        assert commands_run(path) == [], f"{path.name} runs reconciler outside the action"
        commands = [step["with"]["command"] for step in action_uses(path)]
        assert commands, path.name
        assert set(commands) <= {"validate", "plan", "apply"} <= set(cli.commands)


def test_the_pull_request_workflow() -> None:
    path = CI / "github-pull-request.yml"
    workflow = load(path)
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers
    assert "pull_request_target" not in triggers  # that would hand secrets to fork code
    jobs = workflow["jobs"]
    assert [step["with"]["command"] for step in action_uses(path)] == ["validate", "plan"]
    assert "secrets" not in str(jobs["validate"])
    # The plan job, the only one with the key, is skipped for forks.
    assert (
        jobs["plan"]["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    )
    plan_step = jobs["plan"]["steps"][1]
    assert plan_step["with"]["format"] == "markdown"
    # One comment, updated in place: found again by its marker.
    script = jobs["plan"]["steps"][2]["with"]["script"]
    assert "updateComment" in script and "createComment" in script
    assert "<!-- reconciler-plan -->" in script


def test_the_scheduled_github_workflow_plans_then_applies_in_one_concurrency_group() -> None:
    path = CI / "github-apply.yml"
    workflow = load(path)
    triggers = workflow.get("on", workflow.get(True))
    assert triggers["schedule"][0]["cron"]
    assert workflow["concurrency"] == {"group": "reconciler-apply", "cancel-in-progress": False}
    steps = action_uses(path)
    assert [step["with"]["command"] for step in steps] == ["plan", "apply"]
    assert steps[1]["if"] == "steps.plan.outputs.has-changes == 'true'"


def test_the_gitlab_merge_request_pipeline() -> None:
    path = CI / "gitlab-merge-request.yml"
    pipeline = load(path)
    found = commands_run(path)
    assert [name for name, _ in found] == ["validate", "plan"]
    assert {"--format", "markdown", "--detailed-exitcode"} <= set(found[1][1])
    plan_rule = pipeline["reconciler-plan"]["rules"][0]["if"]
    assert "$CI_MERGE_REQUEST_SOURCE_PROJECT_ID == $CI_MERGE_REQUEST_PROJECT_ID" in plan_rule
    note_script = pipeline["reconciler-plan"]["script"][-1]
    assert '"PUT"' in note_script and '"POST"' in note_script
    compile(note_script.split("\n", 1)[1].rsplit("PY", 1)[0], "note.py", "exec")


def test_the_gitlab_apply_pipeline_plans_then_applies_in_one_resource_group() -> None:
    path = CI / "gitlab-apply.yml"
    job = load(path)["reconciler-apply"]
    assert job["resource_group"] == "reconciler-apply"
    assert {"if": '$CI_PIPELINE_SOURCE == "schedule"'} in job["rules"]
    found = commands_run(path)
    assert [name for name, _ in found] == ["plan", "apply"]
    assert "--detailed-exitcode" in found[0][1]
    assert "--auto-approve" in found[1][1]


def test_the_pre_commit_hook_runs_validate() -> None:
    hooks = load(HOOKS)
    assert [hook["id"] for hook in hooks] == ["reconciler-validate"]
    assert [name for name, _ in commands_run(HOOKS)] == ["validate"]
    assert hooks[0]["language"] == "python"
    assert re.search(hooks[0]["files"], "personas/support.yaml")
    assert re.search(hooks[0]["files"], "personas/sales.yml")


def run_bash(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def shell_env(sim: Simulator, tmp_path: Path) -> dict[str, str]:
    """The environment a CI runner gives a step, with the installed CLI on PATH."""
    bin_dir = Path(sys.executable).parent
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "BLAND_API_URL": sim.url,
        "BLAND_API_KEY": TEST_KEY,
        "NO_COLOR": "1",
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_RUN_ID": "7",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }


def step_outputs(path: Path) -> dict[str, str]:
    """Parse a GITHUB_OUTPUT file: `name=value` lines and `name<<DELIMITER` blocks."""
    outputs: dict[str, str] = {}
    lines = iter(path.read_text().splitlines())
    for line in lines:
        if "<<" in line and "=" not in line.split("<<", 1)[0]:
            name, delimiter = line.split("<<", 1)
            block = []
            for inner in lines:
                if inner == delimiter:
                    break
                block.append(inner)
            outputs[name] = "\n".join(block)
        else:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


def action_script() -> str:
    steps = load(ACTION)["runs"]["steps"]
    return str(next(step["run"] for step in steps if step.get("id") == "run"))


def test_the_action_script_plans_and_sets_its_outputs(
    sim: Simulator, shell_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **shell_env,
        "COMMAND": "plan",
        "FILES": "examples/personas.yaml",
        "FORMAT": "markdown",
        "MASK_NUMBERS": "true",
    }
    result = run_bash(action_script(), env, ROOT)
    assert result.returncode == 0, result.stderr
    outputs = step_outputs(tmp_path / "output")
    assert outputs["has-changes"] == "true"
    assert outputs["plan"].startswith("### reconciler plan for `examples/personas.yaml`")
    assert "****0102" in outputs["plan"] and "+1415" not in outputs["plan"]
    assert Path(outputs["plan-file"]).read_text().strip() == outputs["plan"].strip()
    assert (tmp_path / "summary.md").read_text().strip() == outputs["plan"].strip()
    assert TEST_KEY not in result.stdout + result.stderr + outputs["plan"]
    assert sim.writes() == []


def test_the_action_script_applies_then_reports_no_changes(
    sim: Simulator, shell_env: dict[str, str], tmp_path: Path
) -> None:
    common = {**shell_env, "FILES": "examples/personas.yaml", "MASK_NUMBERS": "false"}
    applied = run_bash(action_script(), {**common, "COMMAND": "apply", "FORMAT": "text"}, ROOT)
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete" in applied.stdout
    assert len(sim.writes()) == 3
    planned = run_bash(action_script(), {**common, "COMMAND": "plan", "FORMAT": "json"}, ROOT)
    assert planned.returncode == 0, planned.stderr
    outputs = step_outputs(tmp_path / "output")
    assert outputs["has-changes"] == "false"
    assert json.loads(outputs["plan"])["changes"] == []


@pytest.mark.parametrize(
    ("command", "files", "message"),
    [
        ("plan", "examples/missing.yaml", "examples/missing.yaml: no such file"),
        ("destroy", "examples/personas.yaml", "command must be validate, plan or apply"),
    ],
)
def test_the_action_script_fails_the_step_on_errors(
    sim: Simulator,
    shell_env: dict[str, str],
    tmp_path: Path,
    command: str,
    files: str,
    message: str,
) -> None:
    env = {**shell_env, "COMMAND": command, "FILES": files, "FORMAT": "text", "MASK_NUMBERS": ""}
    result = run_bash(action_script(), env, ROOT)
    assert result.returncode == 1
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "output").exists()
    assert sim.writes() == []


def test_the_gitlab_apply_script_corrects_drift_then_does_nothing(
    sim: Simulator, shell_env: dict[str, str]
) -> None:
    job = load(CI / "gitlab-apply.yml")["reconciler-apply"]
    # GitLab runs the script lines in one shell that stops at the first failing line.
    script = "set -eo pipefail\n" + "\n".join(job["script"])
    env = {**shell_env, "RECONCILER_FILES": "examples/personas.yaml"}
    first = run_bash(script, env, ROOT)
    assert first.returncode == 0, first.stderr
    assert "Apply complete" in first.stdout
    writes = len(sim.writes())
    assert writes == 3
    second = run_bash(script, env, ROOT)
    assert second.returncode == 0, second.stderr
    assert "The account matches the config." in second.stdout
    assert len(sim.writes()) == writes
