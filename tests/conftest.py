"""Shared fixtures: a simulator on loopback and a way to run the CLI in-process against it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler import cli
from reconciler.cli import main
from reconciler.secrets import REDACTOR
from reconciler.simulator import Simulator

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TEST_KEY = "sk-canary-7f3a9c1e5b2d4a6f8e0c"


@dataclass
class Result:
    """How one CLI run ended."""

    code: int
    out: str
    err: str


RunCli = Callable[..., Result]


class FakeTime:
    """A sleep that returns at once and a clock that runs on real time plus every fake sleep."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self._offset = 0.0
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self._offset += max(0.0, seconds)

    def monotonic(self) -> float:
        with self._lock:
            return time.monotonic() + self._offset


@pytest.fixture(autouse=True)
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    """Every in-process CLI run retries and waits without real time passing."""
    fake = FakeTime()
    monkeypatch.setattr(cli, "CLIENT_SLEEP", fake.sleep)
    monkeypatch.setattr(cli, "CLIENT_CLOCK", fake.monotonic)
    return fake


@pytest.fixture(autouse=True)
def fresh_redactor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts knowing no key, as a real run does (the redactor is process-wide)."""
    monkeypatch.setattr(REDACTOR, "secrets", set())


@pytest.fixture
def example_state() -> dict[str, Any]:
    state: dict[str, Any] = json.loads((EXAMPLES / "account.json").read_text())
    return state


def point_cli_at(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    """Set the CLI's environment to talk to this simulator with the test key, without colour."""
    monkeypatch.setenv("BLAND_API_URL", simulator.url)
    monkeypatch.setenv("BLAND_API_KEY", TEST_KEY)
    monkeypatch.delenv("BLAND_API_KEY_FILE", raising=False)
    monkeypatch.delenv("BLAND_TIMEOUT", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    return simulator


@pytest.fixture
def sim(example_state: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """The example account served over HTTP, with the CLI's environment pointing at it."""
    with Simulator(example_state, api_key=TEST_KEY) as simulator:
        yield point_cli_at(simulator, monkeypatch)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    """Run `reconciler ARGS...` in this process; returns exit code, stdout and stderr."""

    def run(*args: str | Path) -> Result:
        with pytest.raises(SystemExit) as exited:
            main([str(arg) for arg in args])
        captured = capsys.readouterr()
        code = exited.value.code
        return Result(code if isinstance(code, int) else 1, captured.out, captured.err)

    return run


def write_config(path: Path, personas: list[dict[str, Any]], **extra: Any) -> Path:
    """Write a config file (format 1) with the given persona entries."""
    document = {"version": 1, "personas": personas, **extra}
    path.write_text(json.dumps(document, indent=2))  # JSON is YAML
    return path
