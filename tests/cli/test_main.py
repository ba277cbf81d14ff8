"""Global options, the key's sources and the way out of every run, end to end."""

from __future__ import annotations

import subprocess
import sys

import pytest

from reconciler.simulator import Simulator
from tests.conftest import CONFIG, ROOT, RunCli


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


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_a_timeout_must_be_a_finite_positive_number(
    value: str, sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli("--timeout", value, "plan", CONFIG).code == 1
    monkeypatch.setenv("BLAND_TIMEOUT", value)
    result = run_cli("plan", CONFIG)
    assert result.code == 1
    assert "unexpected" not in result.err
    assert sim.requests == []
