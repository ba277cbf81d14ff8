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
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import Settings, main
from reconciler.secrets import REDACTOR
from tests.forked_cli import ForkedCli, forked_cli
from tests.simulated import Simulator
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


# What pip says when the package index cannot be reached.
OFFLINE = (
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "No matching distribution found",
    "Could not find a version that satisfies",
)


def wheelhouse_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where a run makes its wheelhouse: the folder its xdist workers share, if any."""
    base = tmp_path_factory.getbasetemp()
    where = (base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / "wheelhouse"
    where.mkdir(exist_ok=True)
    return where


def start_wheelhouse(where: Path) -> subprocess.Popen[bytes] | None:
    """Start pip making the wheelhouse in where/wheels, unless a process of this run has.

    pip holds where/lock until it ends (the lock is on the open file, which it inherits), so
    whoever needs the wheels waits for it by taking the lock. Its output goes to where/pip.log.
    """
    with (where / "lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        if (where / "pip.log").exists():
            return None
        # Built from a copy: setuptools leaves a build/ behind, whose stale modules a later
        # build of the working tree would pack.
        source = where / "source"
        shutil.copytree(ROOT / "reconciler", source / "reconciler", ignore=shutil.ignore_patterns(
            "__pycache__"))  # fmt: skip
        for name in ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"):
            shutil.copy2(ROOT / name, source / name)
        command = [sys.executable, "-m", "pip", "--quiet", "wheel", "--wheel-dir", where / "wheels"]
        env = dict(os.environ)
        if seeded := seeded_setuptools(where / "setuptools"):
            # The build needs no environment of its own: pip would install setuptools into one.
            command.append("--no-build-isolation")
            env["PYTHONPATH"] = str(seeded)
        with (where / "pip.log").open("w") as log:
            return subprocess.Popen(
                [*command, source], env=env, stdout=log, stderr=subprocess.STDOUT,
                pass_fds=[lock.fileno()],
            )  # fmt: skip


def seeded_setuptools(folder: Path) -> Path | None:
    """The setuptools that virtualenv seeds new environments with (the one that builds the
    project in the pre-commit hook's), unpacked into folder; None if virtualenv has none."""
    try:
        from virtualenv.seed.wheels.embed import BUNDLE_FOLDER, BUNDLE_SUPPORT
    except ImportError:
        return None
    wheel = BUNDLE_SUPPORT.get(sysconfig.get_python_version(), {}).get("setuptools")
    if wheel is None:
        return None
    with zipfile.ZipFile(BUNDLE_FOLDER / wheel) as unpacked:
        unpacked.extractall(folder)
    return folder


@pytest.fixture(scope="session", autouse=True)
def wheelhouse_started(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Start making the wheelhouse as soon as a run that needs it begins: fetching the
    dependencies' wheels mostly waits on the package index, and the tests go on meanwhile."""
    items = request.session.items
    needed = any("wheelhouse" in getattr(item, "fixturenames", ()) for item in items)
    pip = start_wheelhouse(wheelhouse_folder(tmp_path_factory)) if needed else None
    yield
    if pip is not None:
        pip.wait()


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of wheels: the project's, made by pip with its real build backend (the
    setuptools virtualenv seeds environments with), and those of the dependencies it installs
    with. Made once per run, the only time the tests read the package index (or pip's cache);
    the tests that install the project install it from here, offline.
    """
    where = wheelhouse_folder(tmp_path_factory)
    pip = start_wheelhouse(where)  # None once wheelhouse_started or another worker has
    if pip is not None:
        pip.wait()
    with (where / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # taken once the pip of this run has ended
    wheels = where / "wheels"
    if any(wheels.glob("bland_reconciler-*.whl")):
        return wheels
    log = (where / "pip.log").read_text()
    if any(marker in log for marker in OFFLINE):
        pytest.skip(f"no package index to fetch the dependencies' wheels from\n{log}")
    pytest.fail(f"pip wheel failed:\n{log[-3000:]}")


@pytest.fixture(scope="session")
def installed_bin(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    """The bin directory of a virtual environment holding the project as a user gets it: its
    wheel from the wheelhouse, installed once per session. Its dependencies are this
    environment's: they were installed by pip here already.
    """
    where = tmp_path_factory.mktemp("installed")
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    site = subprocess.run(
        [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # A path line, not a site dir: this environment's editable install of the project stays off.
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    wheel = next(wheelhouse.glob("bland_reconciler-*.whl"))
    pip = [sys.executable, "-m", "pip", "--quiet", "--python", venv / "bin" / "python"]
    subprocess.run([*pip, "install", "--no-deps", wheel], check=True)
    imported = subprocess.run(
        [venv / "bin" / "python", "-c", "import reconciler; print(reconciler.__file__)"],
        cwd=where, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert Path(imported.strip()).is_relative_to(site), imported
    return venv / "bin"


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
        (str(r.persona_id), r.path.rsplit("/", 1)[-1], sorted(r.body["inbound_numbers"]))
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
