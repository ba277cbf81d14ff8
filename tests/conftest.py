"""Shared fixtures: a simulator on loopback and a way to run the CLI in-process against it."""

from __future__ import annotations

import fcntl
import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import Settings, main
from reconciler.secrets import REDACTOR
from tests.forked_cli import ForkedCli, forked_cli
from tests.simulated import Simulator, persona_of
from tests.simulator_faults import with_test_faults

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TEST_KEY = "sk-canary-7f3a9c1e5b2d4a6f8e0c"
# The example config and the ids of the example account's personas (examples/account.json).
CONFIG = EXAMPLES / "personas.yaml"
SUPPORT = "7b0c4a9e-1d2f-4c3b-9a8e-5f6d7c8b9a01"
IVR = "0e4f8a2b-6c1d-4e5f-8a9b-0c1d2e3f4a02"
SALES = "5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e03"


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


@pytest.fixture
def fake_time() -> FakeTime:
    """The time every in-process CLI run (run_cli) sleeps and reads: waits take no real time."""
    return FakeTime()


@pytest.fixture
def seams(fake_time: FakeTime) -> Settings:
    """What the CLI takes from its surroundings in run_cli: the one way a test changes it.

    Retries and waits use fake_time. A test sets a field before calling run_cli, for instance
    `seams.confirm = lambda: None` to answer 'yes', or `seams.stdout_is_terminal = lambda: True`.
    """
    return Settings(sleep=fake_time.sleep, clock=fake_time.monotonic)


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
    with with_test_faults(Simulator(example_state, api_key=TEST_KEY)) as simulator:
        yield point_cli_at(simulator, monkeypatch)


PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
# What `pip install .` of this project reads, and what pre-commit reads of a hook repository.
PACKAGE_FILES = ["pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", ".pre-commit-hooks.yaml"]
# The environment of the pip that pre-commit runs: no configuration file, no index, and no
# dependencies (the environment gets this one's, below); the project built with the setuptools
# virtualenv seeds the environment with (no isolated build environment), nothing byte-compiled
# ahead. virtualenv seeds pip and setuptools as links to its cache rather than copies of them.
HOOK_PIP = {
    "PIP_CONFIG_FILE": os.devnull,
    "PIP_NO_INDEX": "1",
    "PIP_NO_DEPS": "1",
    # pip reads a `--no-X` switch set to 0 in the environment as "X off".
    "PIP_NO_BUILD_ISOLATION": "0",
    "PIP_NO_COMPILE": "0",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "VIRTUALENV_NO_PERIODIC_UPDATE": "1",
    "VIRTUALENV_SYMLINK_APP_DATA": "1",
}


def git(cwd: Path, *args: str) -> str:
    """Run git with an identity of its own (commits need one; the machine may have none)."""
    return subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=cwd, check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip


@dataclass(frozen=True)
class HookInstall:
    """This project as a pre-commit hook repository at a commit, and the pre-commit home where
    the real pre-commit built the hook's environment: `pip install .` of the project into a new
    environment, whose `bin` holds the `reconciler` a user gets."""

    repository: Path
    rev: str
    home: Path

    @cached_property
    def bin(self) -> Path:
        [found] = self.home.glob("repo*/py_env-*/bin")
        return found

    def configure(self, project: Path) -> None:
        """Write the configuration a user writes to run the hook, and add it to git's index."""
        (project / ".pre-commit-config.yaml").write_text(
            f"repos:\n  - repo: {self.repository}\n    rev: {self.rev}\n"
            f"    hooks:\n      - id: reconciler-validate\n"
        )
        git(project, "add", ".pre-commit-config.yaml")

    def pre_commit(self, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """`pre-commit ARGS...` in project, with this home."""
        return subprocess.run(
            [str(PRE_COMMIT), *args, "--color", "never"],
            cwd=project, env={**os.environ, "PRE_COMMIT_HOME": str(self.home), **HOOK_PIP},
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip


def build_hook_install(where: Path) -> HookInstall:
    """Commit the project's files to a hook repository; have pre-commit build the hook's
    environment; give it this environment's dependencies."""
    repository = where / "repository"
    repository.mkdir()
    for name in PACKAGE_FILES:
        shutil.copy2(ROOT / name, repository / name)
    shutil.copytree(ROOT / "reconciler", repository / "reconciler", ignore=shutil.ignore_patterns(
        "__pycache__"))  # fmt: skip
    git(repository, "init", "-q")
    git(repository, "add", "-A")
    git(repository, "commit", "-q", "-m", "the hook repository")
    hook = HookInstall(repository, git(repository, "rev-parse", "HEAD").strip(), where / "home")
    project = where / "project"
    project.mkdir()
    git(project, "init", "-q")
    hook.configure(project)
    done = hook.pre_commit(project, "install-hooks")
    if done.returncode != 0:
        log = hook.home / "pre-commit.log"
        detail = log.read_text() if log.exists() else done.stdout + done.stderr
        pytest.fail(f"pre-commit failed to build the hook's environment:\n{detail[-3000:]}")
    python = hook.bin / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # A path line, not a site dir: this environment's editable install of the project stays off.
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    imported = subprocess.run(
        [python, "-c", "import reconciler; print(reconciler.__file__)"],
        cwd=where, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert Path(imported.strip()).is_relative_to(site), imported
    return hook


@pytest.fixture(scope="session")
def hook_install(tmp_path_factory: pytest.TempPathFactory) -> HookInstall:
    """The project installed by the real pre-commit as its hook, once per run: the xdist
    workers share it (the first to need it builds it while the others wait on the lock)."""
    if not PRE_COMMIT.exists():
        pytest.skip("pre-commit is not installed here: `make install` installs it")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / "hook-install"
    shared.mkdir(exist_ok=True)
    built = shared / "built.json"
    with (shared / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not built.exists():  # a build that failed leaves its own folder, and no built.json
            hook = build_hook_install(Path(tempfile.mkdtemp(dir=shared)))
            built.write_text(json.dumps([str(hook.repository), hook.rev, str(hook.home)]))
    repository, rev, home = json.loads(built.read_text())
    return HookInstall(Path(repository), rev, Path(home))


@pytest.fixture(scope="session")
def forked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkedCli]:
    """Runs of the CLI in processes forked from one that imported it already, for the tests
    that need it in a process of its own but not its start (tests/forked_cli.py): `forked.bin`
    holds a `reconciler` for shell scripts, `forked.start(...)` starts one as a subprocess."""
    with forked_cli(tmp_path_factory.mktemp("forked-cli")) as started:
        yield started


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], seams: Settings) -> RunCli:
    """Run `reconciler ARGS...` in this process with `seams`; returns exit code, stdout, stderr."""

    def run(*args: str | Path) -> Result:
        with pytest.raises(SystemExit) as exited:
            main([str(arg) for arg in args], seams=seams)
        captured = capsys.readouterr()
        code = exited.value.code
        return Result(code if isinstance(code, int) else 1, captured.out, captured.err)

    return run


def writes(sim: Simulator) -> list[tuple[str, str, list[str]]]:
    """(persona id, action, numbers) of every attach and detach the simulator applied."""
    return [
        (str(persona_of(r.path)), r.path.rsplit("/", 1)[-1], sorted(r.body["inbound_numbers"]))
        for r in sim.writes()
        if r.status == 200 and r.path.endswith(("/inbound/attach", "/inbound/detach"))
    ]


def write_config(path: Path, personas: list[dict[str, Any]], **extra: Any) -> Path:
    """Write a config file (format 1) with the given persona entries."""
    document = {"version": 1, "personas": personas, **extra}
    path.write_text(json.dumps(document, indent=2))  # JSON is YAML
    return path


class ProxyListener:
    """A "proxy" on 127.0.0.1 that records each connection it gets, then hangs up."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._address = self._socket.getsockname()
        self.url = f"http://127.0.0.1:{self._address[1]}"
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            connection, _ = self._socket.accept()
            with connection:
                if self._closing.is_set():
                    return
                self.requests.append(connection.recv(4096))

    def close(self) -> None:
        self._closing.set()
        socket.create_connection(self._address).close()  # wakes the accept() above
        self._thread.join(timeout=5)
        self._socket.close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProxyListener]:
    """A proxy listener named by every proxy variable, with nothing exempted from it."""
    listener = ProxyListener()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, listener.url)
        monkeypatch.setenv(name.lower(), listener.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    yield listener
    listener.close()


def pytest_collection_finish(session: pytest.Session) -> None:
    """What exists once the tests are collected (modules, test items) lives as long as the run:
    out of the garbage collector's sight, its collections do not walk it again and again."""
    gc.freeze()
