"""SIGINT and SIGTERM end every command with 130 or 143 and one line, never a traceback.

Each command runs in a process of its own (forked from one that imported the CLI, and ending as
the installed command ends: tests/forked_cli.py), against an in-process simulator whose
requests hang, so the signal arrives at a known point: the test polls the simulator's log until
the requests are there and the process's main thread sleeps waiting for them, then signals.
Outside an apply's writes the run ends at once; during them the first signal lets the writes
in flight finish and a second one ends the run at once. The signals while the command starts
are sent to the real `python -m reconciler`.

Each moment is checked with one of the two signals, taking turns: which code and line each
signal gives, and that both are handled alike, is tested in-process (tests/unit/test_errors.py,
tests/unit/test_settings.py); what needs a process here is the moment the signal lands.
"""

from __future__ import annotations

import json
import os
import platform
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import CONFIG, ROOT, TEST_KEY
from tests.forked_cli import ForkedCli, ForkedRun
from tests.simulated import Simulator
from tests.simulator_faults import with_test_faults

SIGINT, SIGTERM = (signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")
SIGNALS = [SIGINT, SIGTERM]
# A hung request would end after this; every run here must end long before, on the signal.
TIMEOUT = "300"


@pytest.fixture
def sim(example_state: dict[str, object]) -> Iterator[Simulator]:
    with with_test_faults(Simulator(example_state, api_key=TEST_KEY)) as simulator:
        yield simulator


def environment(sim: Simulator) -> dict[str, str]:
    env = {**os.environ, "BLAND_API_URL": sim.url, "BLAND_API_KEY": TEST_KEY, "NO_COLOR": "1"}
    env.pop("BLAND_API_KEY_FILE", None)
    return env


def start(
    forked: ForkedCli, sim: Simulator, *args: str | Path, stdin: int | None = None
) -> ForkedRun:
    """`reconciler ARGS...` against the simulator, in a process forked from one that imported
    the CLI."""
    command = ["--timeout", TIMEOUT, *map(str, args)]
    return forked.start(*command, env=environment(sim), cwd=ROOT, stdin=stdin)


def wait_for(
    done: Callable[[], bool], process: ForkedRun | subprocess.Popen[str], what: str
) -> None:
    """Poll until done() (an event in the simulator's log), failing if the process ends first."""
    woken = threading.Event()
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up:
        if done():
            return
        assert process.poll() is None, process.communicate()
        woken.wait(0.01)  # polling the simulator's log for an event, not waiting for time
    process.kill()
    raise AssertionError(f"never {what}: {process.communicate()}")


def hung(sim: Simulator, kind: str, count: int = 1) -> Callable[[], bool]:
    return lambda: sum(r.status == 0 and r.kind == kind for r in sim.requests) >= count


# System call numbers of a thread waiting on a lock (futex) or reading a file, per machine.
_CALLS = {"x86_64": {"futex": 202, "read": 0}, "aarch64": {"futex": 98, "read": 63}}


def wait_until_blocked(process: ForkedRun, call: str) -> None:
    """Poll until the process's main thread sleeps in `call` (/proc/PID/syscall).

    A signal then interrupts the call and its handler runs at once. Sent a moment earlier, it
    could come between Python's last check for signals and the call, and wait with the call.
    """
    number = _CALLS.get(platform.machine(), {}).get(call)
    syscall = Path(f"/proc/{process.pid}/syscall")
    if number is None or not os.access(syscall, os.R_OK):
        pytest.skip("needs /proc/PID/syscall on x86_64 or aarch64")

    def blocked() -> bool:
        try:
            return syscall.read_text().split()[:1] == [str(number)]
        except (OSError, IndexError):
            return False  # ended: wait_for reports it

    wait_for(blocked, process, f"waited in {call}")


def ended(process: ForkedRun) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=30)
    assert process.returncode is not None
    return process.returncode, out, err


@pytest.mark.parametrize(
    ("args", "signum", "code", "name"),
    [
        (("plan", CONFIG), *SIGINT),
        (("plan", CONFIG, "--out", "{tmp}/saved.json"), *SIGTERM),
        (("export",), *SIGINT),
        (("apply", CONFIG), *SIGTERM),
    ],
    ids=["plan", "plan --out", "export", "apply (reading)"],
)
def test_a_signal_during_a_read_ends_the_run_at_once(
    args: tuple[str, ...],
    signum: int,
    code: int,
    name: str,
    forked: ForkedCli,
    sim: Simulator,
    tmp_path: Path,
) -> None:
    sim.faults.hang = 1  # the first read (page 1 of the listing) never gets an answer
    words = (arg.replace("{tmp}", str(tmp_path)) for arg in map(str, args))
    process = start(forked, sim, *words)
    wait_for(hung(sim, "read", 1), process, "sent its read")
    wait_until_blocked(process, "futex")
    process.send_signal(signum)
    returncode, out, err = ended(process)
    assert returncode == code, err
    assert err == f"Stopped by {name}.\n"
    assert out == ""
    assert list(tmp_path.iterdir()) == []  # no plan file, no temporary file
    assert sim.writes() == []


@pytest.mark.parametrize(("signum", "code", "name"), [SIGTERM])
def test_a_signal_during_validate_ends_it(
    signum: int, code: int, name: str, tmp_path: Path
) -> None:
    """validate sends no request: the signal is sent by the process itself, from config loading."""
    script = tmp_path / "validate_interrupted.py"
    script.write_text(
        "import os, sys\n"
        "import reconciler.settings\n"
        "from reconciler.cli import main\n"
        "from reconciler.config.load import load_config\n"
        "def interrupted(files, **limits):\n"
        f"    os.kill(os.getpid(), {int(signum)})\n"
        "    return load_config(files, **limits)\n"
        "reconciler.settings.load_config = interrupted\n"
        "main(sys.argv[1:])\n"
    )
    done = subprocess.run(
        [sys.executable, str(script), "validate", str(CONFIG)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == code, done.stderr
    assert done.stderr == f"Stopped by {name}.\n"
    assert done.stdout == ""


@pytest.mark.parametrize(("signum", "code", "name"), [SIGINT])
def test_a_second_signal_during_the_writes_ends_the_apply_at_once(
    signum: int, code: int, name: str, forked: ForkedCli, sim: Simulator, tmp_path: Path
) -> None:
    sim.faults.hang_writes_after = 0  # every write hangs
    log_file = tmp_path / "run.log"
    process = start(forked, sim, "apply", CONFIG, "--auto-approve", "--log-file", log_file)
    # The plan's two attaches go out together; its detach waits for them (make before break).
    wait_for(hung(sim, "write", 2), process, "sent its attaches")
    wait_until_blocked(process, "futex")
    process.send_signal(signum)
    assert process.stderr is not None
    first = process.stderr.readline()  # the first signal is handled: the run asks to stop
    assert first.startswith(f"Received {name}: finishing the writes in flight"), first
    wait_until_blocked(process, "futex")  # back to waiting for the writes in flight
    process.send_signal(signum)
    returncode, out, err = ended(process)
    assert returncode == code, err
    assert err == (
        f"Stopping at once: a write in flight may or may not take effect ({log_file} lists each "
        f"write sent); run plan to see what remains.\nStopped by {name}.\n"
    )
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert len(lines) == len(sim.writes()) > 0  # each write in flight has its "sent" line
    assert {line["outcome"] for line in lines} == {"sent"}
    assert "Traceback" not in out + err


@pytest.mark.parametrize(("signum", "code", "name"), [SIGINT])
def test_a_signal_at_the_confirmation_prompt(
    signum: int, code: int, name: str, forked: ForkedCli, sim: Simulator
) -> None:
    controller, terminal = pty.openpty()
    try:
        process = start(forked, sim, "apply", CONFIG, stdin=terminal)
        assert process.stdout is not None
        shown = ""
        while "Type 'yes'" not in shown:  # the prompt ends without a line break
            ready, _, _ = select.select([process.stdout], [], [], 30)
            assert ready, shown
            chunk = os.read(process.stdout.fileno(), 4096).decode()
            assert chunk, (shown, process.communicate())
            shown += chunk
        wait_until_blocked(process, "read")  # reading the answer from the terminal
        process.send_signal(signum)
        returncode, _, err = ended(process)
    finally:
        os.close(controller)
        os.close(terminal)
    assert returncode == code, err
    assert err == f"Stopped by {name}.\n"
    assert sim.writes() == []


# Runs the command line as `python -m reconciler` does, signalling itself while the CLI's
# modules are being imported: the moment a Ctrl-C typed right after the command lands.
_SIGNAL_WHILE_IMPORTING = """
import builtins, os, runpy, signal, sys
real_import = builtins.__import__
signum = getattr(signal, sys.argv[1])
def importing(name, *args, **kwargs):
    if name == "reconciler.cli" and not importing.done:
        importing.done = True
        os.kill(os.getpid(), signum)
    return real_import(name, *args, **kwargs)
importing.done = False
builtins.__import__ = importing
sys.argv = ["reconciler", "validate", sys.argv[2]]
runpy.run_module("reconciler", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize(("signum", "code", "name"), SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_starting_up_ends_the_run_without_a_traceback(
    signum: signal.Signals, code: int, name: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SIGNAL_WHILE_IMPORTING, name, str(CONFIG)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (code, f"Stopped by {name}.\n")
    assert done.stdout == ""


# Runs the command line as `python -m reconciler` does, and writes one byte to the file
# descriptor argv[1] as the command's first module of its own (reconciler.*) starts loading:
# the earliest moment the command itself can be said to have started. (Python's own start-up
# before it, `site` and `runpy`, is beyond any program's reach.) The audit hook only watches.
_MARK_WHEN_STARTED = """
import os, runpy, sys
mark = int(sys.argv[1])
def started(event, args):
    global mark
    if mark >= 0 and event == "import" and args[0].startswith("reconciler.") \\
            and args[0] != "reconciler.__main__":
        os.write(mark, b"!")
        os.close(mark)
        mark = -1
sys.addaudithook(started)
sys.argv = ["reconciler", "validate", sys.argv[2]]
runpy.run_module("reconciler", run_name="__main__", alter_sys=True)
"""
# The signals are spread over the first 40 ms after the start, about 3 ms apart (the two
# signals take turns). All of it is spent importing the command line, behind the one handler
# run() installs: denser runs would test that handler in that phase again, a start each time.
EARLY_RUNS = 14
EARLIEST_WINDOW = 0.040


def _signalled_early(run: int) -> tuple[int, int, str]:
    """Start the command, wait for it to start, signal it `run` steps into the first 40 ms."""
    signum = SIGNALS[run % 2][0]
    reader, writer = os.pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", _MARK_WHEN_STARTED, str(writer), str(CONFIG)],
            cwd=ROOT,
            pass_fds=[writer],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.close(writer)
        writer = -1
        started = os.read(reader, 1)  # blocks until the mark, or end of file if it ended first
    finally:
        os.close(reader)
        if writer >= 0:
            os.close(writer)
    assert started == b"!", process.communicate(timeout=30)
    threading.Event().wait(EARLIEST_WINDOW * run / EARLY_RUNS)  # the stagger itself
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    return signum, process.returncode, err


def test_signals_in_the_first_moments_end_the_run_without_a_traceback() -> None:
    """14 runs, each signalled a little later than the one before, over the first 40 ms."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(_signalled_early, range(EARLY_RUNS)))
    expected = {int(signum): (code, name) for signum, code, name in SIGNALS}
    wrong = [
        (run, signum, returncode, err)
        for run, (signum, returncode, err) in enumerate(outcomes)
        if (returncode, err) != (expected[signum][0], f"Stopped by {expected[signum][1]}.\n")
    ]
    assert wrong == []
