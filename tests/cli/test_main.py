"""Global options, the key's sources and the way out of every run, end to end."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from contextlib import suppress

import pytest

from reconciler.simulator import Simulator
from tests.conftest import CONFIG, ROOT, TEST_KEY, RunCli
from tests.forked_cli import ForkedCli


def test_missing_key_names_the_variable(
    sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BLAND_API_KEY")
    result = run_cli("plan", CONFIG)
    assert result.code == 1
    assert result.err.startswith("error: BLAND_API_KEY is not set")
    assert sim.requests == []


def test_a_wrong_key_says_so(
    sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLAND_API_KEY", "not-the-key")
    result = run_cli("plan", CONFIG)
    assert result.code == 1
    assert "AUTH_FAILURE" in result.err and "check BLAND_API_KEY" in result.err
    assert "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_verbose_shows_each_request(sim: Simulator, run_cli: RunCli) -> None:
    result = run_cli("-vv", "plan", CONFIG)
    assert "GET /v1/personas?page=1&limit=100 -> 200" in result.err
    assert "GET /v1/inbound -> 200" in result.err


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("reconciler, version ")


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "1e308", "1e300", "86401"])
def test_a_timeout_must_be_a_number_of_seconds_up_to_a_day(
    value: str, sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_cli("--timeout", value, "plan", CONFIG)
    assert result.code == 1
    assert "Invalid value for '--timeout'" in result.err
    monkeypatch.setenv("BLAND_TIMEOUT", value)
    result = run_cli("plan", CONFIG)
    assert result.code == 1
    assert result.err == (
        f"error: BLAND_TIMEOUT={value!r} is out of range: a number of seconds from 0.001 to 86400\n"
    )
    assert sim.requests == []


def test_a_timeout_of_a_day_is_accepted(
    sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli("--timeout", "86400", "plan", CONFIG).code == 0
    monkeypatch.setenv("BLAND_TIMEOUT", "86400")
    assert run_cli("plan", CONFIG).code == 0


@pytest.mark.parametrize("option", ["--max-rps", "--timeout"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_rates_and_timeouts_are_finite(
    option: str, value: str, sim: Simulator, run_cli: RunCli
) -> None:
    result = run_cli(option, value, "plan", CONFIG)
    assert result.code == 1
    assert f"Invalid value for '{option}'" in result.err
    assert sim.requests == []


def test_a_huge_file_size_limit_is_a_usage_error_not_an_overflow(
    sim: Simulator, run_cli: RunCli
) -> None:
    result = run_cli("--max-file-size", "9" * 30, "validate", CONFIG)
    assert result.code == 1
    assert "Invalid value for '--max-file-size'" in result.err
    assert run_cli("--max-file-size", str(1024**3), "validate", CONFIG).code == 0


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:abc", "http://127.0.0.1:99999", "https://[::1", "http://[::1"]
)
def test_a_base_url_that_does_not_parse_is_one_clean_error(
    url: str, sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLAND_API_URL", url)
    result = run_cli("plan", CONFIG)
    assert result.code == 1
    assert result.err.startswith(f"error: BLAND_API_URL {url!r} is not a valid URL (")
    assert len(result.err.splitlines()) == 1
    assert sim.requests == []


@pytest.mark.parametrize("version", ["v1", "v2/"])
def test_a_base_url_ending_in_the_api_version_sends_nothing(
    version: str, sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLAND_API_URL", f"{sim.url}/{version}")
    result = run_cli("plan", CONFIG)
    assert result.code == 1
    assert result.err == (
        f"error: BLAND_API_URL '{sim.url}/{version}' ends in /{version.strip('/')}: give the "
        f"base URL without it ({sim.url}); each request adds its own /v1 or /v2\n"
    )
    assert sim.requests == []


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        (["plan", CONFIG, "-detailed-exitcode"], "--detailed-exitcode"),
        (["plan", CONFIG, "-out=saved plan.json"], "--out 'saved plan.json'"),
        (["plan", CONFIG, "-out", "x.json"], "--out"),
        (["apply", CONFIG, "-auto-approve"], "--auto-approve"),
        (["plan", CONFIG, "-no-color"], "--no-color"),
        (["-no-color", "plan", CONFIG], "--no-color"),
    ],
)
def test_a_single_dash_long_option_gets_its_two_dash_form(
    typed: list[str], meant: str, sim: Simulator, run_cli: RunCli
) -> None:
    result = run_cli(*typed)
    assert result.code == 1
    word = next(str(arg) for arg in typed if str(arg).startswith("-"))
    assert result.err.endswith(f"Error: No such option {word!r}. Did you mean {meant!r}?\n")
    assert sim.requests == []


def test_an_unknown_single_dash_option_is_left_to_click(sim: Simulator, run_cli: RunCli) -> None:
    result = run_cli("plan", CONFIG, "-x")
    assert result.code == 1
    assert result.err.endswith("Error: No such option '-x'.\n")


def prompt_then_eof(forked: ForkedCli, sim: Simulator, answer: bytes) -> tuple[int, str]:
    """`reconciler apply` on a terminal (a pty): wait for the prompt, type `answer`. It runs in
    a process forked from one that imported the CLI (tests/forked_cli.py)."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "BLAND_API_URL": sim.url, "BLAND_API_KEY": TEST_KEY, "NO_COLOR": "1"}
    process = forked.start(
        "apply", str(CONFIG), env=env, cwd=ROOT, stdin=terminal, stdout=terminal, stderr=terminal
    )
    os.close(terminal)
    shown = b""
    try:
        while b"Type 'yes'" not in shown:
            ready, _, _ = select.select([controller], [], [], 60)
            assert ready, shown.decode()
            shown += os.read(controller, 4096)
        os.write(controller, answer)
        with suppress(OSError):  # the terminal closes with the process
            while chunk := os.read(controller, 4096):
                shown += chunk
        return process.wait(timeout=60), shown.decode().replace("\r\n", "\n")
    finally:
        process.kill()
        os.close(controller)


def test_ctrl_d_at_the_apply_prompt_cancels_in_one_line_as_no_does(
    forked: ForkedCli, sim: Simulator
) -> None:
    code, shown = prompt_then_eof(forked, sim, b"\x04")
    assert shown.endswith(
        "error: apply cancelled: no answer on standard input; nothing was written "
        "(use --auto-approve in CI)\n"
    )
    assert "Aborted" not in shown
    no_code, no_shown = prompt_then_eof(forked, sim, b"no\n")
    assert no_shown.endswith("error: apply cancelled: nothing was written\n")
    assert code == no_code == 1
    assert sim.writes() == []
