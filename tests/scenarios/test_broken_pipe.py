"""stdout closed early (`reconciler apply ... | head`): no new write, the report on stderr, exit 4.

The CLI runs in a process of its own whose stdout is a pipe the test closes, against an in-process
simulator that holds every write until the test lets them go: the writes in flight when stdout
closes are known, and so is everything the run may still send.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.simulator import RequestRecord
from tests.conftest import ROOT, TEST_KEY, write_config
from tests.forked_cli import ForkedCli, ForkedRun
from tests.simulated import Simulator, persona_of

PERSONAS = 40
PARALLELISM = 4


def free_numbers(count: int) -> dict[str, Any]:
    """`count` personas with no number, and one free number for each."""
    return {
        "numbers": [{"phone_number": f"+1415555{i:04d}"} for i in range(count)],
        "personas": [{"id": f"p{i:02d}", "name": f"Persona {i:02d}"} for i in range(count)],
    }


def one_each(path: Path, count: int) -> Path:
    """A config giving each of the `count` personas its number."""
    entries = [{"id": f"p{i:02d}", "numbers": [f"+1415555{i:04d}"]} for i in range(count)]
    return write_config(path, entries)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(free_numbers(PERSONAS), api_key=TEST_KEY) as simulator:
        yield simulator


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return one_each(tmp_path / "personas.yaml", PERSONAS)


def start(forked: ForkedCli, sim: Simulator, *args: str | Path, stdout: int | None) -> ForkedRun:
    """The command in a process of its own, forked from one that imported the CLI; it ends as
    the installed command does, flushing stdout at the interpreter's exit (tests/forked_cli.py).
    stdout is a pipe to read from, or the file descriptor given."""
    env = {**os.environ, "BLAND_API_URL": sim.url, "BLAND_API_KEY": TEST_KEY, "NO_COLOR": "1"}
    env.pop("BLAND_API_KEY_FILE", None)
    return forked.start(*map(str, args), env=env, cwd=ROOT, stdout=stdout)


def wait_for_writes_in_flight(sim: Simulator, process: ForkedRun, count: int) -> None:
    woken = threading.Event()
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up:
        if sum(r.status == 0 for r in sim.writes()) == count:
            return
        assert process.poll() is None, process.communicate()
        woken.wait(0.01)  # polling the simulator's log for an event, not waiting for time
    process.kill()
    raise AssertionError(f"never had {count} writes in flight: {process.communicate()}")


def test_stdout_closed_during_the_writes_stops_new_writes_and_logs_every_write_sent(
    forked: ForkedCli, sim: Simulator, config: Path, tmp_path: Path
) -> None:
    release = threading.Event()

    def hold(simulator: Simulator, record: RequestRecord) -> None:
        release.wait(timeout=60)  # every write waits until stdout is closed

    sim.on_write = hold
    log_file = tmp_path / "run.log"
    process = start(
        forked, sim, "apply", config, "--auto-approve", "--parallelism", PARALLELISM,
        "--log-file", log_file, stdout=None,
    )  # fmt: skip
    wait_for_writes_in_flight(sim, process, PARALLELISM)
    assert process.stdout is not None
    process.stdout.close()  # the reader goes, as head does after its lines
    process.stdout = None
    release.set()
    _, err = process.communicate(timeout=60)

    assert process.returncode == 4, err
    sent = sorted(str(persona_of(r.path)) for r in sim.writes())
    assert len(sent) == PARALLELISM  # the writes in flight finished; no other went out
    assert all(r.status == 200 for r in sim.writes())
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    for outcome in ("sent", "done"):
        assert sorted(e["persona_id"] for e in lines if e["outcome"] == outcome) == sent
    skipped = [e for e in lines if e["outcome"] == "skipped"]
    assert len(skipped) == PERSONAS - PARALLELISM
    assert {e["persona_id"] for e in skipped}.isdisjoint(sent)
    assert all(e["reason"] == "the run was interrupted before it was sent" for e in skipped)
    assert err.startswith(
        f"Apply stopped (stdout was closed): {PARALLELISM} attached, 0 moved, 0 detached; "
        f"{PARALLELISM} API writes, {PERSONAS - PARALLELISM} skipped.\n"
    )
    assert err.endswith("Apply stopped (stdout was closed). Run plan to see what remains.\n")
    assert "Traceback" not in err and "Exception ignored" not in err


def closed_pipe() -> int:
    """The write end of a pipe whose read end is already closed."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


@pytest.mark.parametrize("command", ["validate", "plan", "apply", "export"])
def test_stdout_closed_before_any_output_is_one_line_and_writes_nothing(
    command: str, forked: ForkedCli, sim: Simulator, config: Path
) -> None:
    args = {"validate": [config], "plan": [config], "apply": [config, "--auto-approve"]}
    stdout = closed_pipe()
    try:
        process = start(forked, sim, command, *args.get(command, []), stdout=stdout)
    finally:
        os.close(stdout)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    assert err == "error: stdout was closed before all output was written\n"
    assert sim.writes() == []
