"""CLI habits: global options after the command, colour switches, help, shell completion."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from reconciler.cli import Settings
from reconciler.simulator import Simulator
from tests.conftest import CONFIG, RunCli
from tests.forked_cli import ForkedCli

ESC = "\x1b["


@pytest.mark.parametrize(
    "args",
    [
        ("plan", CONFIG, "-vv"),
        ("plan", CONFIG, "--verbose", "--verbose"),
        ("plan", "-vv", CONFIG),
        ("-v", "plan", CONFIG, "-v"),
    ],
)
def test_global_options_may_follow_the_command(
    sim: Simulator, run_cli: RunCli, args: tuple[str, ...]
) -> None:
    result = run_cli(*args)
    assert result.code == 0, result.err
    assert "No such option" not in result.err
    assert "GET /v1/inbound -> 200" in result.err  # -vv took effect


def test_a_global_option_with_a_value_after_the_command_takes_effect(
    run_cli: RunCli, tmp_path: Path
) -> None:
    result = run_cli("validate", CONFIG, "--max-file-size", "10")
    assert result.code == 1
    assert "over the limit of 10 bytes (--max-file-size)" in result.err
    equals = run_cli("validate", CONFIG, "--max-file-size=10")
    assert equals.err == result.err


def test_the_commands_own_options_and_their_values_stay_with_it(
    sim: Simulator, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # `-v` here is the value of --out: a file of that name, not the verbose option.
    result = run_cli("plan", CONFIG, "--out", "-v", "--format", "json")
    assert result.code == 0, result.err
    assert json.loads((tmp_path / "-v").read_text())["format"] == "reconciler-plan"
    assert "GET /v1/inbound" not in result.err


def test_nothing_after_a_double_dash_moves(run_cli: RunCli) -> None:
    result = run_cli("validate", "--", CONFIG, "-v")
    assert result.code == 1
    assert result.err == "error: -v: no such file\n"


def test_a_global_option_after_the_command_without_its_value(run_cli: RunCli) -> None:
    result = run_cli("validate", CONFIG, "--timeout")
    assert result.code == 1
    assert "Option '--timeout' requires an argument." in result.err


def test_help_lists_the_environment_variables(run_cli: RunCli) -> None:
    result = run_cli("--help")
    assert result.code == 0
    for variable in ("BLAND_API_KEY", "BLAND_API_KEY_FILE", "BLAND_TIMEOUT", "NO_COLOR"):
        assert variable in result.out
    assert "BLAND_API_URL       the API base URL, default https://api.bland.ai" in result.out
    assert "Global options may also follow the command." in " ".join(result.out.split())


@pytest.mark.parametrize(
    ("on_terminal", "environ", "no_color", "expected"),
    [
        (False, {}, False, False),
        (True, {}, False, True),
        (True, {"NO_COLOR": "1"}, False, False),
        (True, {"NO_COLOR": ""}, False, True),  # set but empty: not set (no-color.org)
        (True, {}, True, False),
        (False, {"FORCE_COLOR": "1"}, False, True),
        (False, {"FORCE_COLOR": "true"}, False, True),
        (True, {"FORCE_COLOR": "0"}, False, False),
        (False, {"FORCE_COLOR": ""}, False, False),
        (False, {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False, False),
        (False, {"FORCE_COLOR": "1"}, True, False),
    ],
)
def test_when_the_plan_is_coloured(
    on_terminal: bool,
    environ: dict[str, str],
    no_color: bool,
    expected: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    settings = Settings(no_color=no_color, stdout_is_terminal=lambda: on_terminal)
    assert settings.colour() is expected


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_force_color_colours_a_log(
    command: str, sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    args = ("apply", CONFIG, "--auto-approve") if command == "apply" else ("plan", CONFIG)
    result = run_cli(*args)
    assert result.code == 0, result.err
    assert f"{ESC}32m+ +14155550110" in result.out  # an attach, in green
    assert ESC not in result.err
    assert ESC not in run_cli(*args, "--no-color").out


def test_no_color_on_a_terminal(
    sim: Simulator, run_cli: RunCli, seams: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR")
    seams.stdout_is_terminal = lambda: True
    assert ESC in run_cli("plan", CONFIG).out
    assert ESC not in run_cli("plan", CONFIG, "--no-color").out
    assert ESC not in run_cli("--no-color", "plan", CONFIG).out
    monkeypatch.setenv("NO_COLOR", "1")
    assert ESC not in run_cli("plan", CONFIG).out


def test_json_and_markdown_are_never_coloured(
    sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    for output_format in ("json", "markdown"):
        assert ESC not in run_cli("plan", CONFIG, "--format", output_format).out


def completion(bin_folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`reconciler` with shell completion's variables set: forked.bin's, named as the
    installed command is (completion is keyed on the program's name)."""
    return subprocess.run(
        [str(bin_folder / "reconciler")],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_shell_completion_script_is_produced(shell: str, forked: ForkedCli) -> None:
    done = completion(forked.bin, {"_RECONCILER_COMPLETE": f"{shell}_source"})
    assert done.returncode == 0, done.stderr
    assert "_RECONCILER_COMPLETE" in done.stdout
    assert f"{shell}_complete" in done.stdout


def test_completion_completes_commands_and_options(forked: ForkedCli) -> None:
    words = {"_RECONCILER_COMPLETE": "bash_complete", "COMP_CWORD": "1"}
    commands = completion(forked.bin, {**words, "COMP_WORDS": "reconciler s"})
    assert commands.stdout.split() == ["plain,show", "plain,simulator"]
    options = completion(
        forked.bin, {**words, "COMP_WORDS": "reconciler plan --fo", "COMP_CWORD": "2"}
    )
    assert options.stdout.split() == ["plain,--format", "plain,--force"]
