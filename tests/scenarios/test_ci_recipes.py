"""The CI recipes parse as YAML and only run reconciler commands and options that exist."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner, Result
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from reconciler import __version__
from reconciler.cli import cli
from reconciler.simulator import Simulator
from tests.conftest import EXAMPLES, IVR, ROOT, SALES, SUPPORT, TEST_KEY, write_config
from tests.forked_cli import ForkedCli
from tests.scenarios.fake_issue_api import TOKEN, Tracker, serving, tracker_env

CI = EXAMPLES / "ci"
ACTION = ROOT / "action.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
LOCK = ROOT / "requirements" / "ci.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
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


def array_words(script: str) -> dict[str, list[str]]:
    """Every word ever put in each bash array (`name=(...)`, `name+=(...)`), for checking."""
    arrays: dict[str, list[str]] = {}
    for name, inner in re.findall(r"\b([A-Za-z_]\w*)\+?=\(([^)]*)\)", script):
        arrays.setdefault(name, []).extend(shlex.split(inner))
    return arrays


def expand_arrays(words: list[str], arrays: dict[str, list[str]]) -> list[str]:
    """Put in place of "${name[@]}" every word the script may put in that array."""
    expanded: list[str] = []
    for word in words:
        found = re.fullmatch(r"\$\{(\w+)\[@\]\}", word)
        if found and found.group(1) in arrays:
            expanded.extend(arrays[found.group(1)])
        else:
            expanded.append(word)
    return expanded


def invocations(script: str, where: str) -> Iterator[Invocation]:
    """Every simple command of a shell script whose program is reconciler.

    Optional options kept in arrays are expanded, so they are checked too.
    """
    shell = without_heredocs(script)
    arrays = array_words(shell)
    for line in shell.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        command: list[str] = []
        for token in [*lexer, ";"]:
            # shlex glues runs of punctuation together: `);` ends a command as `;` does.
            if token in SEPARATORS or re.fullmatch(r"[;&|()]+", token):
                words = [w for w in command if not re.fullmatch(r"[A-Za-z_]\w*=.*", w)]
                while words and words[0] in KEYWORDS:
                    words.pop(0)
                if words and Path(words[0]).name == "reconciler":
                    yield Invocation(where, tuple(expand_arrays(words[1:], arrays)))
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
    assert [p.name for p in GITHUB_WORKFLOWS] == [
        "github-apply.yml",
        "github-drift.yml",
        "github-pull-request.yml",
    ]
    assert [p.name for p in GITLAB_PIPELINES] == [
        "gitlab-apply.yml",
        "gitlab-drift.yml",
        "gitlab-merge-request.yml",
    ]


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
    # Options kept in an array are checked where the array is expanded.
    with pytest.raises(AssertionError, match="`plan` has no option --outfile"):
        run('extra=(--outfile "$P"); reconciler plan personas/ "${extra[@]}"')
    expanded = next(invocations('a=(--out "$P")\nreconciler plan x "${a[@]}" "${b[@]}"', "t"))
    assert expanded.words == ("plan", "x", "--out", "$P", "${b[@]}")


def option_value(words: tuple[str, ...], option: str) -> str:
    assert words.count(option) == 1, f"{option} given {words.count(option)} times in {words}"
    return words[words.index(option) + 1]


def test_the_action_runs_validate_plan_and_apply_with_real_options() -> None:
    found = commands_run(ACTION)
    assert sorted({name for name, _ in found}) == ["apply", "plan", "validate"]
    [plan_words] = [words for name, words in found if name == "plan"]
    assert {"--format", "--detailed-exitcode", "--mask-numbers", "--out"} <= set(plan_words)
    # apply reads the very file plan --out writes, alone (a plan file takes no config files);
    # without a saved plan it plans from the files and applies without a prompt.
    saved_plan = option_value(plan_words, "--out")
    assert saved_plan == "$SAVED_PLAN"
    apply_words = sorted(words for name, words in found if name == "apply")
    assert apply_words == [("apply", "$SAVED_PLAN"), ("apply", "${files[@]}", "--auto-approve")]


def test_no_recipe_forces_a_plan_past_the_safety_valves() -> None:
    for path in RECIPES:
        for name, words in commands_run(path):
            assert "--force" not in words, f"{path.name}: {name} {' '.join(words)}"
    # Nor can a workflow ask the action to: it has no input that adds options.
    assert not {"force", "args", "options"} & set(load(ACTION)["inputs"])


def test_the_action_has_the_inputs_and_outputs_the_workflows_use() -> None:
    action = load(ACTION)
    assert action["runs"]["using"] == "composite"
    assert {"command", "files", "format", "mask-numbers", "saved-plan"} <= set(action["inputs"])
    assert {"plan", "has-changes", "plan-file"} <= set(action["outputs"])
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


def test_the_github_apply_workflow_applies_the_saved_plan_in_one_concurrency_group() -> None:
    path = CI / "github-apply.yml"
    workflow = load(path)
    triggers = workflow.get("on", workflow.get(True))
    # On merge and by hand; the schedule is the drift workflow's.
    assert set(triggers) == {"push", "workflow_dispatch"}
    assert triggers["push"]["branches"] == ["main"]
    assert workflow["concurrency"] == {"group": "reconciler-apply", "cancel-in-progress": False}
    plan, apply = action_uses(path)
    assert plan["id"] == "plan" and plan["with"]["command"] == "plan"
    assert apply["with"]["command"] == "apply"
    assert apply["if"] == "steps.plan.outputs.has-changes == 'true'"
    # The file plan saved is the one applied; apply is given no config to plan from again.
    saved_plan = plan["with"]["saved-plan"]
    assert saved_plan and apply["with"] == {"command": "apply", "saved-plan": saved_plan}
    # The same file is kept as an artifact, before the apply, so a refused apply keeps it too.
    [upload] = [
        step
        for step in workflow["jobs"]["reconcile"]["steps"]
        if str(step.get("uses", "")).startswith("actions/upload-artifact@")
    ]
    steps = workflow["jobs"]["reconcile"]["steps"]
    assert steps.index(plan) < steps.index(upload) < steps.index(apply)
    assert upload["with"]["path"] == saved_plan
    assert upload["if"] == apply["if"]
    assert "github.run_attempt" in upload["with"]["name"]  # unique within a re-run


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


def test_the_gitlab_apply_pipeline_applies_the_saved_plan_in_one_resource_group() -> None:
    path = CI / "gitlab-apply.yml"
    job = load(path)["reconciler-apply"]
    assert job["resource_group"] == "reconciler-apply"
    # On merge and by hand; a scheduled pipeline runs the drift job instead.
    assert "schedule" not in str(job["rules"])
    (plan_name, plan_words), (apply_name, apply_words) = commands_run(path)
    assert (plan_name, apply_name) == ("plan", "apply")
    assert "--detailed-exitcode" in plan_words
    # apply's only argument is the file plan --out wrote.
    saved_plan = option_value(plan_words, "--out")
    assert apply_words == ("apply", saved_plan)
    assert job["artifacts"]["paths"] == [saved_plan]
    assert job["artifacts"]["when"] == "always"  # kept when the apply is refused or fails


def test_the_pre_commit_hook_runs_validate_on_the_files_it_matched() -> None:
    hooks = load(HOOKS)
    assert [hook["id"] for hook in hooks] == ["reconciler-validate"]
    assert [name for name, _ in commands_run(HOOKS)] == ["validate"]
    hook = hooks[0]
    assert hook["language"] == "python"
    # The matched file names are the arguments (validate needs at least one), all in one run
    # so that a number declared in two files is caught.
    assert hook.get("pass_filenames", True) is True
    assert "args" not in hook
    assert hook["require_serial"] is True


@pytest.mark.parametrize(
    ("path", "matched"),
    [
        ("personas.yaml", True),
        ("personas.yml", True),
        ("personas-sales.yaml", True),
        ("personas.prod.yaml", True),
        ("personas/sales.yaml", True),
        ("personas/support.yml", True),
        ("infra/personas.yaml", True),
        ("infra/personas/sales.yaml", True),
        # A folder is read one level deep: a file further down is not a config file.
        ("personas/old/sales.yaml", False),
        ("mypersonas.yaml", False),
        ("personas-old/sales.yaml", False),
        ("personas.yaml.bak", False),
        ("personas/README.md", False),
        ("docs/personas.md", False),
        ("personas.json", False),
        (".github/workflows/reconciler-apply.yml", False),
    ],
)
def test_the_pre_commit_hook_matches_config_file_names(path: str, matched: bool) -> None:
    # pre-commit searches the pattern in each path relative to the repository's root.
    assert bool(re.search(load(HOOKS)[0]["files"], path)) is matched


def run_bash(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a step as the CI runners do: GitHub's `shell: bash` and GitLab both stop at the first
    failing command (-e) and see a failure anywhere in a pipe (pipefail)."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def shell_env(sim: Simulator, tmp_path: Path, forked: ForkedCli) -> dict[str, str]:
    """The environment a CI runner gives a step, with the CLI and this Python on PATH.

    Its `reconciler` is forked.bin's, the CLI without its start-up: the steps run it dozens of
    times over. The installed command itself runs in test_readme.py and the hook's tests.
    """
    bin_dir = Path(sys.executable).parent
    return {
        "PATH": os.pathsep.join((str(forked.bin), str(bin_dir), os.environ["PATH"])),
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
        "SAVED_PLAN": "",
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
    common = {
        **shell_env,
        "FILES": "examples/personas.yaml",
        "MASK_NUMBERS": "false",
        "SAVED_PLAN": "",
    }
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
    env = {
        **shell_env,
        "COMMAND": command,
        "FILES": files,
        "FORMAT": "text",
        "MASK_NUMBERS": "",
        "SAVED_PLAN": "",
    }
    result = run_bash(action_script(), env, ROOT)
    assert result.returncode == 1
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "output").exists()
    assert sim.writes() == []


def gitlab_apply_script() -> str:
    job = load(CI / "gitlab-apply.yml")["reconciler-apply"]
    # GitLab runs the script lines in one shell that stops at the first failing line.
    return "\n".join(job["script"])


def test_the_gitlab_apply_script_corrects_drift_then_does_nothing(
    sim: Simulator, shell_env: dict[str, str], tmp_path: Path
) -> None:
    # The job's folder: the plan file is written here, where artifacts: picks it up.
    workdir = tmp_path / "job"
    workdir.mkdir()
    env = {**shell_env, "RECONCILER_FILES": str(EXAMPLES / "personas.yaml")}
    first = run_bash(gitlab_apply_script(), env, workdir)
    assert first.returncode == 0, first.stderr
    assert "Saved the plan to reconciler.plan.json" in first.stdout
    assert "Apply complete" in first.stdout
    writes = len(sim.writes())
    assert writes == 3
    saved = json.loads((workdir / "reconciler.plan.json").read_text())
    assert saved["format"] == "reconciler-plan" and len(saved["plan"]["changes"]) == 5
    second = run_bash(gitlab_apply_script(), env, workdir)
    assert second.returncode == 0, second.stderr
    assert "The account matches the config." in second.stdout
    assert len(sim.writes()) == writes
    assert not (workdir / "reconciler.plan.json").exists()  # no changes, nothing to keep


EMPTIES_SUPPORT = [{"id": SUPPORT, "numbers": []}, {"name": "Sales", "numbers": []}]


@pytest.mark.parametrize("outcome", ["safety valve", "failed writes"])
def test_the_gitlab_apply_script_fails_the_job_on_refusal_and_incomplete_applies(
    sim: Simulator, shell_env: dict[str, str], tmp_path: Path, outcome: str
) -> None:
    workdir = tmp_path / "job"
    workdir.mkdir()
    if outcome == "safety valve":
        config = write_config(tmp_path / "c.yaml", EMPTIES_SUPPORT)
        code, message = 3, "reconciler apply refused (exit 3): nothing was written."
    else:
        config = EXAMPLES / "personas.yaml"
        # Not retried: Sales's attach fails, and again in the one repair of the same run.
        sim.faults.write_statuses = [404, 0, 0, 404]
        code, message = 4, "reconciler apply incomplete (exit 4)"
    env = {**shell_env, "RECONCILER_FILES": str(config)}
    result = run_bash(gitlab_apply_script(), env, workdir)
    assert result.returncode == code, result.stdout + result.stderr
    assert message in result.stdout
    assert (workdir / "reconciler.plan.json").exists()  # kept as the job's artifact
    if outcome == "safety valve":
        assert "apply will need --force" in result.stdout  # the plan said so in the log
        # plan exits 3 for it; the saved plan still goes to apply, which refuses it.
        assert "error: apply would refuse this plan" in result.stderr
        assert "refused by a safety valve, nothing was written" in result.stderr
        assert sim.writes() == []  # and the job did not force it
    else:
        # The next scheduled run plans again and applies what remains.
        sim.faults.write_statuses = []
        again = run_bash(gitlab_apply_script(), env, workdir)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "Apply complete" in again.stdout
        assert sim.persona_numbers(SALES) == ["+14155550110", "+14155550111"]


# -- the action with a saved plan, as github-apply.yml runs it --------------------------------


@pytest.fixture
def saved_plan_env(shell_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The action's step environment with saved-plan set, planning a copy of the example."""
    config = tmp_path / "personas.yaml"
    config.write_text((EXAMPLES / "personas.yaml").read_text())
    return {
        **shell_env,
        "FILES": str(config),
        "FORMAT": "markdown",
        "MASK_NUMBERS": "false",
        "SAVED_PLAN": str(tmp_path / "reconciler.plan.json"),
    }


def plan_step(env: dict[str, str], code: int = 0) -> dict[str, str]:
    """Run the action's plan step, expecting exit `code`; its outputs."""
    Path(env["GITHUB_OUTPUT"]).unlink(missing_ok=True)
    result = run_bash(action_script(), {**env, "COMMAND": "plan"}, ROOT)
    assert result.returncode == code, result.stdout + result.stderr
    return step_outputs(Path(env["GITHUB_OUTPUT"]))


def test_the_action_saves_the_plan_and_applies_exactly_it(
    sim: Simulator, saved_plan_env: dict[str, str], tmp_path: Path
) -> None:
    outputs = plan_step(saved_plan_env)
    assert outputs["has-changes"] == "true"  # exit 2 from plan is not a failed step
    saved_plan = Path(saved_plan_env["SAVED_PLAN"])
    saved = json.loads(saved_plan.read_text())
    assert saved["format"] == "reconciler-plan" and len(saved["plan"]["changes"]) == 5
    assert TEST_KEY not in saved_plan.read_text()
    # The plan output and the summary page hold the plan alone, no note about the file.
    assert outputs["plan"].startswith("### reconciler plan for ")
    assert "Saved the plan" not in outputs["plan"]
    assert (tmp_path / "summary.md").read_text().strip() == outputs["plan"].strip()
    assert sim.writes() == []
    # Edited after the plan was made: what is applied is the saved plan, not the file now.
    Path(saved_plan_env["FILES"]).write_text("version: 1\npersonas: []\n")
    applied = run_bash(action_script(), {**saved_plan_env, "COMMAND": "apply"}, ROOT)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert (
        "Apply complete: 3 attached, 1 moved, 1 detached; 3 API writes; verified with 4 reads."
        in applied.stdout
    )
    assert sim.persona_numbers(SUPPORT) == ["+14155550100", "+14155550101", "+14155550102"]
    assert sim.persona_numbers(SALES) == ["+14155550110", "+14155550111"]
    # The same saved plan again (a re-run of the job): nothing more is written.
    again = run_bash(action_script(), {**saved_plan_env, "COMMAND": "apply"}, ROOT)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "has already been applied" in again.stdout
    assert len(sim.writes()) == 3


@pytest.mark.parametrize("cause", ["stale plan", "safety valve"])
def test_the_action_fails_the_step_when_apply_refuses_the_saved_plan(
    sim: Simulator, saved_plan_env: dict[str, str], tmp_path: Path, cause: str
) -> None:
    if cause == "safety valve":
        write_config(Path(saved_plan_env["FILES"]), EMPTIES_SUPPORT)
    # A plan apply would refuse fails its step too (exit 3), its outputs written for the comment.
    outputs = plan_step(saved_plan_env, 3 if cause == "safety valve" else 0)
    assert outputs["has-changes"] == "true"
    if cause == "stale plan":
        sim.set_owner("+14155550110", IVR)  # changed in the dashboard between plan and apply
        expected = "now also move +14155550110 ('Sales') from 'Legacy IVR'"
    else:
        assert "apply will need --force" in outputs["plan"]
        expected = "leaves 'Support Agent' with none of its 2 numbers"
    result = run_bash(action_script(), {**saved_plan_env, "COMMAND": "apply"}, ROOT)
    assert result.returncode == 3
    assert expected in result.stderr
    assert "::error title=reconciler apply refused (exit 3)::Nothing was written." in result.stdout
    assert sim.writes() == []


def test_the_action_fails_the_step_when_the_apply_is_incomplete(
    sim: Simulator, saved_plan_env: dict[str, str]
) -> None:
    plan_step(saved_plan_env)
    sim.faults.write_statuses = [404] * 20  # the repair's writes fail too
    result = run_bash(action_script(), {**saved_plan_env, "COMMAND": "apply"}, ROOT)
    assert result.returncode == 4
    assert "::error title=reconciler apply incomplete (exit 4)::" in result.stdout
    assert "Apply incomplete" in result.stdout


# -- pinned to the release, bounded in time ---------------------------------------------------


def test_every_recipe_uses_the_released_action_never_a_branch() -> None:
    tag = f"v{__version__}"
    refs = [
        str(step["uses"]).split("@", 1)[1]
        for path in GITHUB_WORKFLOWS
        for step in action_uses(path)
    ]
    assert refs and set(refs) == {tag}
    for path in RECIPES:
        text = path.read_text(encoding="utf-8")
        assert "@main" not in text, path.name
        assert "refs/heads/" not in text, path.name


def test_the_gitlab_recipes_install_the_released_tarball() -> None:
    tarball = f"https://github.com/reconciler/reconciler/archive/refs/tags/v{__version__}.tar.gz"
    for path in GITLAB_PIPELINES:
        assert load(path)["variables"]["RECONCILER_PACKAGE"] == tarball, path.name


@pytest.mark.parametrize("path", GITHUB_WORKFLOWS, ids=lambda path: path.name)
def test_every_github_job_has_a_timeout(path: Path) -> None:
    for name, job in load(path)["jobs"].items():
        minutes = job.get("timeout-minutes")
        assert isinstance(minutes, int) and 0 < minutes <= 60, f"{path.name}: job {name}"


@pytest.mark.parametrize("path", GITLAB_PIPELINES, ids=lambda path: path.name)
def test_every_gitlab_job_has_a_timeout(path: Path) -> None:
    pipeline = load(path)
    jobs = {
        name: job for name, job in pipeline.items() if isinstance(job, dict) and "script" in job
    }
    assert jobs
    for name, job in jobs.items():
        base = pipeline.get(str(job.get("extends", "")), {})
        timeout = job.get("timeout", base.get("timeout"))
        assert re.fullmatch(r"\d+m", str(timeout)), f"{path.name}: job {name} has no timeout"


def test_the_action_says_its_setup_python_changes_the_later_steps() -> None:
    text = ACTION.read_text(encoding="utf-8")
    steps = load(ACTION)["runs"]["steps"]
    assert str(steps[0]["uses"]).startswith("actions/setup-python@")
    assert "changes the Python of the job's LATER steps" in text
    assert (
        "Python of the job's later steps" in load(ACTION)["inputs"]["python-version"]["description"]
    )


def released_refs(text: str) -> list[str]:
    """Every version the text pins reconciler to: the action's `@REF`, the hook's `rev: REF`."""
    return re.findall(r"reconciler/reconciler@([\w.\-]+)", text) + re.findall(
        r"^\s*rev:\s*(\S+)", text, flags=re.MULTILINE
    )


def test_the_readme_and_docs_pin_every_snippet_to_the_release() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = {page.name: released_refs(page.read_text(encoding="utf-8")) for page in pages}
    assert any(found.values())
    for page, refs in found.items():
        assert set(refs) <= {f"v{__version__}"}, f"{page}: {refs}"


# -- the locked install ------------------------------------------------------------------------


def locked_pins() -> dict[str, tuple[str, list[str]]]:
    """Each package of requirements/ci.lock: its pinned version and the hashes allowed."""
    pins: dict[str, tuple[str, list[str]]] = {}
    text = LOCK.read_text(encoding="utf-8").replace("\\\n", " ")
    for line in text.splitlines():
        words = line.split("#", 1)[0].split() if not line.lstrip().startswith("#") else []
        if words:
            name, version = words[0].split("==")
            pins[canonicalize_name(name)] = (version, words[1:])
    return pins


def runtime_closure() -> set[str]:
    """The runtime dependencies and theirs, as installed here: `pip install --require-hashes`
    refuses a lock that leaves one out, so the recipes would fail at their first step."""
    pending = [Requirement(line) for line in PYPROJECT["project"]["dependencies"]]
    names: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        wanted = requirement.marker is None or requirement.marker.evaluate({"extra": ""})
        if wanted and name not in names:
            names.add(name)
            pending += map(Requirement, importlib.metadata.requires(name) or [])
    return names


def test_the_lock_pins_every_dependency_within_its_range_with_hashes() -> None:
    pins = locked_pins()
    for dependency in map(Requirement, PYPROJECT["project"]["dependencies"]):
        name = canonicalize_name(dependency.name)
        assert name in pins, f"{dependency.name} is not in {LOCK.name}: run make lock"
        version = pins[name][0]
        assert dependency.specifier.contains(version, prereleases=True), (
            f"{LOCK.name} pins {name}=={version}, outside {dependency}: run make lock"
        )
    missing = sorted(runtime_closure() - set(pins))
    assert not missing, f"{LOCK.name} lacks {missing}, which a dependency needs: run make lock"
    assert "bland-reconciler" not in pins  # the project goes in with --no-deps after the lock
    for name, (_, hashes) in pins.items():
        assert hashes, f"{name} has no hash"
        assert all(re.fullmatch(r"--hash=sha256:[0-9a-f]{64}", word) for word in hashes), name


def test_the_checker_of_the_lock_reads_versions_and_hashes() -> None:
    pins = locked_pins()
    assert pins["httpx"][0].startswith("0.") and pins["pyyaml"][0].startswith("6.")
    assert len(pins["pyyaml"][1]) > 1  # every wheel of the release, for every runner


def test_make_lock_compiles_the_lock_with_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    target = makefile.split("\nlock:", 1)[1].split("\n\n", 1)[0]
    assert "pip install --quiet pip-tools" in target
    assert "--generate-hashes" in target and "--output-file requirements/ci.lock" in target
    assert "#    make lock\n" in LOCK.read_text(encoding="utf-8")  # what its header says to run


def pip_installs(path: Path) -> list[str]:
    """Every `pip install` line a recipe runs."""
    return [
        " ".join(line.split())
        for _, script in shell_scripts(path)
        for line in script.splitlines()
        if "pip install" in line
    ]


@pytest.mark.parametrize("path", [ACTION, *GITLAB_PIPELINES], ids=lambda path: path.name)
def test_the_action_and_the_recipes_install_the_locked_dependencies(path: Path) -> None:
    lock, project = pip_installs(path)
    assert "--require-hashes -r" in lock
    assert "--no-deps" in project and "--require-hashes" not in project
    if path == ACTION:
        assert lock.endswith('"$ACTION_PATH/requirements/ci.lock"')
        assert project.endswith('"${PACKAGE:-$ACTION_PATH}"')
    else:
        assert lock.endswith('"$RECONCILER_LOCK"')
        assert project.endswith('"$RECONCILER_PACKAGE"')
        assert load(path)["variables"]["RECONCILER_LOCK"] == (
            f"https://raw.githubusercontent.com/reconciler/reconciler/v{__version__}"
            "/requirements/ci.lock"
        )


@pytest.mark.parametrize("path", GITHUB_WORKFLOWS, ids=lambda path: path.name)
def test_the_github_workflows_install_only_through_the_action(path: Path) -> None:
    assert pip_installs(path) == []


# -- least privilege, approval, and the CI systems' own schemas --------------------------------


def check_schema(schema: str, *paths: Path) -> Result:
    """check-jsonschema with one of the CI systems' schemas it ships: its click command, run
    in-process (loading the tool costs more than a check); a crash is raised, not an exit 1.
    Imported here: every worker collects this module, and only the worker that runs these
    tests needs the tool."""
    import check_jsonschema

    args = ["--builtin-schema", schema, *map(str, paths)]
    return CliRunner().invoke(check_jsonschema.main, args, catch_exceptions=False)


@pytest.mark.parametrize(
    ("paths", "schema"),
    [
        (GITHUB_WORKFLOWS, "vendor.github-workflows"),
        ([ACTION], "vendor.github-actions"),
        (GITLAB_PIPELINES, "vendor.gitlab-ci"),
    ],
    ids=["github-workflows", "action", "gitlab-ci"],
)
def test_the_recipes_match_the_ci_systems_schemas(paths: list[Path], schema: str) -> None:
    done = check_schema(schema, *paths)
    assert done.exit_code == 0, done.output


def test_the_schema_check_catches_a_misspelled_key(tmp_path: Path) -> None:
    broken = tmp_path / "workflow.yml"
    broken.write_text((CI / "github-apply.yml").read_text().replace("runs-on:", "runs_on:"))
    assert check_schema("vendor.github-workflows", broken).exit_code == 1


def comments(job: dict[str, Any]) -> bool:
    """Whether a job writes to a pull request (the plan comment)."""
    return "createComment" in str(job.get("steps"))


@pytest.mark.parametrize("path", GITHUB_WORKFLOWS, ids=lambda path: path.name)
def test_only_the_commenting_job_may_write_to_pull_requests(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        permissions = job.get("permissions", {})
        assert (permissions.get("pull-requests") == "write") is comments(job), (
            f"{path.name}: {name}"
        )
        assert "write-all" not in str(permissions)


def test_the_pull_request_plan_job_is_the_one_that_comments() -> None:
    jobs = load(CI / "github-pull-request.yml")["jobs"]
    assert jobs["plan"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "permissions" not in jobs["validate"]


@pytest.mark.parametrize("path", GITHUB_WORKFLOWS, ids=lambda path: path.name)
def test_every_checkout_leaves_no_token_behind(path: Path) -> None:
    checkouts = [
        step
        for job in load(path)["jobs"].values()
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("actions/checkout@")
    ]
    assert checkouts
    for step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, path.name


def test_the_github_apply_job_waits_in_an_environment() -> None:
    for path in GITHUB_WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            applies = [s for s in job["steps"] if s.get("with", {}).get("command") == "apply"]
            if applies and path.name != "github-drift.yml":
                assert job.get("environment") == "bland", f"{path.name}: {name}"
    assert load(CI / "gitlab-apply.yml")["reconciler-apply"]["environment"] == {"name": "bland"}


def gitlab_plan_script() -> str:
    return "\n".join(load(CI / "gitlab-merge-request.yml")["reconciler-plan"]["script"])


def test_the_gitlab_merge_request_job_without_its_token_fails_in_one_line(
    sim: Simulator, shell_env: dict[str, str], tmp_path: Path
) -> None:
    workdir = tmp_path / "job"
    workdir.mkdir()
    env = {
        **shell_env,
        "RECONCILER_FILES": str(EXAMPLES / "personas.yaml"),
        "CI_COMMIT_SHORT_SHA": "abc1234",
        "CI_JOB_URL": "https://gitlab.example/jobs/1",
        "CI_API_V4_URL": "http://127.0.0.1:9/api/v4",
        "CI_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_IID": "3",
    }
    result = run_bash(gitlab_plan_script(), env, workdir)
    assert result.returncode == 1
    assert "### reconciler plan for" in result.stdout  # the plan is in the log all the same
    assert result.stderr == (
        "RECONCILER_GITLAB_TOKEN is not set: add a project access token with the api scope as a "
        "masked CI/CD variable to keep the plan in a merge-request note\n"
    )
    assert sim.writes() == []


# -- drift reported on a schedule ---------------------------------------------------------------


def test_the_drift_recipes_run_on_a_schedule_of_the_default_branch() -> None:
    workflow = load(CI / "github-drift.yml")
    triggers = workflow.get("on", workflow.get(True))
    assert set(triggers) == {"schedule", "workflow_dispatch"} and triggers["schedule"][0]["cron"]
    assert workflow["jobs"]["drift"]["permissions"] == {
        "contents": "read",
        "issues": "write",
        "actions": "read",
    }
    # Its own group: a drift run queued in the apply's group would cancel a queued apply.
    assert workflow["concurrency"]["group"] != load(CI / "github-apply.yml")["concurrency"]["group"]
    job = load(CI / "gitlab-drift.yml")["reconciler-drift"]
    assert job["rules"] == [
        {"if": '$CI_PIPELINE_SOURCE == "schedule" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH'}
    ]
    assert (
        job["resource_group"] == load(CI / "gitlab-apply.yml")["reconciler-apply"]["resource_group"]
    )


def test_the_drift_recipes_fetch_the_issue_script_of_the_release() -> None:
    tag = f"v{__version__}"
    [fetch] = [
        step
        for step in load(CI / "github-drift.yml")["jobs"]["drift"]["steps"]
        if step.get("with", {}).get("repository") == "reconciler/reconciler"
    ]
    assert fetch["with"]["ref"] == tag
    assert fetch["with"]["sparse-checkout"] == "scripts/drift_issue.py"
    assert load(CI / "gitlab-drift.yml")["variables"]["RECONCILER_DRIFT_SCRIPT"] == (
        f"https://raw.githubusercontent.com/reconciler/reconciler/{tag}/scripts/drift_issue.py"
    )
    assert (ROOT / "scripts" / "drift_issue.py").is_file()


def gitlab_drift_script() -> str:
    return "\n".join(load(CI / "gitlab-drift.yml")["reconciler-drift"]["script"])


def test_the_gitlab_drift_job_reports_corrects_then_closes_the_issue(
    sim: Simulator, shell_env: dict[str, str], tmp_path: Path
) -> None:
    workdir = tmp_path / "job"
    workdir.mkdir()
    # As before_script leaves it: the release's script in the job's folder.
    (workdir / "drift_issue.py").write_text((ROOT / "scripts" / "drift_issue.py").read_text())
    with serving(Tracker("gitlab")) as tracker:
        env = {
            **tracker_env(tracker),
            **shell_env,
            "RECONCILER_FILES": str(EXAMPLES / "personas.yaml"),
            "RECONCILER_DRIFT": "report",
        }
        reported = run_bash(gitlab_drift_script(), env, workdir)
        assert reported.returncode == 0, reported.stdout + reported.stderr
        assert "Opened a drift issue." in reported.stdout
        assert "Drift reported; not corrected (RECONCILER_DRIFT=report)." in reported.stdout
        assert sim.writes() == []
        [issue] = tracker.open_issues()
        assert "### reconciler plan for" in issue["description"]

        corrected = run_bash(gitlab_drift_script(), {**env, "RECONCILER_DRIFT": "correct"}, workdir)
        assert corrected.returncode == 0, corrected.stdout + corrected.stderr
        assert "Updated drift issue #1." in corrected.stdout
        assert "Apply complete" in corrected.stdout
        assert len(sim.writes()) == 3

        closed = run_bash(gitlab_drift_script(), env, workdir)
        assert closed.returncode == 0, closed.stdout + closed.stderr
        assert "Closed drift issue #1: production matches the config." in closed.stdout
        assert tracker.open_issues() == [] and len(tracker.issues) == 1
        assert len(sim.writes()) == 3
    output = reported.stdout + corrected.stdout + closed.stdout
    assert TEST_KEY not in output and TOKEN not in output


def test_the_gitlab_drift_job_leaves_a_pending_apply_alone(
    sim: Simulator, shell_env: dict[str, str], tmp_path: Path
) -> None:
    workdir = tmp_path / "job"
    workdir.mkdir()
    (workdir / "drift_issue.py").write_text((ROOT / "scripts" / "drift_issue.py").read_text())
    with serving(Tracker("gitlab", apply_state="waiting")) as tracker:
        env = {
            **tracker_env(tracker),
            **shell_env,
            "RECONCILER_FILES": str(EXAMPLES / "personas.yaml"),
            "RECONCILER_DRIFT": "correct",
        }
        result = run_bash(gitlab_drift_script(), env, workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Not reported as drift: an apply is waiting" in result.stdout
    assert tracker.issues == [] and sim.writes() == []


def github_drift_step() -> str:
    steps = load(CI / "github-drift.yml")["jobs"]["drift"]["steps"]
    return str(next(step["run"] for step in steps if step.get("id") == "issue"))


@pytest.mark.parametrize(("apply_state", "drift"), [("success", True), ("waiting", False)])
def test_the_github_drift_step_tells_the_correction_step_whether_to_run(
    shell_env: dict[str, str], tmp_path: Path, apply_state: str, drift: bool
) -> None:
    workdir = tmp_path / "job"
    (workdir / ".reconciler" / "scripts").mkdir(parents=True)
    (workdir / ".reconciler" / "scripts" / "drift_issue.py").write_text(
        (ROOT / "scripts" / "drift_issue.py").read_text()
    )
    plan_file = tmp_path / "plan.md"
    plan_file.write_text("### reconciler plan for `personas/`\n")
    with serving(Tracker("github", apply_state=apply_state)) as tracker:
        env = {
            **tracker_env(tracker),
            **shell_env,
            "HAS_CHANGES": "true",
            "PLAN_FILE": str(plan_file),
        }
        result = run_bash(github_drift_step(), env, workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    output = tmp_path / "output"
    assert (output.exists() and step_outputs(output)) == ({"drift": "true"} if drift else False)
    assert len(tracker.open_issues()) == int(drift)


def yaml_blocks_of_section(page: Path, heading: str) -> list[Any]:
    """The ```yaml blocks of one section of a docs page, parsed."""
    section = page.read_text(encoding="utf-8").split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", section, re.S)]


def test_the_documented_matrix_gives_each_account_its_own_key_and_folder(tmp_path: Path) -> None:
    github, gitlab = yaml_blocks_of_section(ROOT / "docs" / "ci.md", "Several accounts")
    job = github["jobs"]["reconcile"]
    accounts = job["strategy"]["matrix"]["include"]
    assert [entry["account"] for entry in accounts] == ["staging", "production"]
    for field_name in ("files", "key"):
        assert len({entry[field_name] for entry in accounts}) == len(accounts), field_name
    assert job["environment"] == "${{ matrix.account }}"
    keys = [step["env"]["BLAND_API_KEY"] for step in job["steps"] if "env" in step]
    assert keys and set(keys) == {"${{ secrets[matrix.key] }}"}
    workflow = tmp_path / "workflow.yml"
    workflow.write_text(yaml.safe_dump({"on": {"push": {}}, **github}))
    done = check_schema("vendor.github-workflows", workflow)
    assert done.exit_code == 0, done.output
    matrix = gitlab["reconciler-apply"]["parallel"]["matrix"]
    assert [entry["ACCOUNT"] for entry in matrix] == ["staging", "production"]
    assert len({entry["RECONCILER_FILES"] for entry in matrix}) == 2


def test_the_action_validate_annotates_each_problem(
    shell_env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "personas.yaml"
    config.write_text('version: 1\npersonas:\n  - name: Support\n    nubmers: ["+14155550100"]\n')
    env = {
        **shell_env,
        "COMMAND": "validate",
        "FILES": str(config),
        "FORMAT": "text",
        "MASK_NUMBERS": "",
        "SAVED_PLAN": "",
    }
    result = run_bash(action_script(), env, ROOT)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"::error file={config},line=3,col=5::"
        'a persona entry is missing the required key "numbers"',
        f'::error file={config},line=4,col=5::unknown key "nubmers" (did you mean "numbers"?)',
    ]
