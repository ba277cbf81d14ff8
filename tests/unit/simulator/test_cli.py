"""`reconciler simulator`: as a standalone process, and in-process where it fails to start."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from reconciler.simulator import simulator_command
from tests.unit.simulator.conftest import KEY, N1, N3, B, attach, base_state


def run_command(
    *args: str, env_key: str | None = KEY, variable: str = "BLAND_API_KEY"
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != variable}
    if env_key is not None:
        env[variable] = env_key
    code = "from reconciler.simulator import simulator_command; simulator_command()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_command_serves_until_sigterm(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps(base_state()))
    ready = tmp_path / "ready"
    proc = run_command(
        "--state", str(state), "--port", "0", "--ready-file", str(ready), "--latency", "0",
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        url = ready.read_text().strip()
        assert line == f"Bland API simulator listening on {url} (3 personas, 4 numbers)"
        usage = [proc.stdout.readline().rstrip("\n") for _ in range(3)]
        assert usage == [
            "Its state lives in memory only: changes are lost when it stops, and the state "
            "file is never written.",
            "To point reconciler at it (with the same BLAND_API_KEY), run:",
            f"  export BLAND_API_URL={url}",
        ]
        with httpx.Client(
            verify=False, base_url=url, headers={"authorization": KEY}, timeout=5
        ) as client:
            assert client.get("/v1/personas").status_code == 200
            assert attach(client, B, N1).status_code == 200
            assert len(client.get("/_sim/log").json()["requests"]) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert KEY not in line + "".join(usage) + err
    assert not ready.exists()


def test_the_tests_process_takes_their_switches_over_the_control_api(tmp_path: Path) -> None:
    """Scripted statuses and the like are the tests' (tests/simulator_process.py), not options
    of the command."""
    state = tmp_path / "state.json"
    state.write_text(json.dumps(base_state()))
    ready = tmp_path / "ready"
    command = ["-m", "tests.simulator_process", "--state", str(state), "--ready-file", str(ready)]
    proc = subprocess.Popen(
        [sys.executable, *command],
        cwd=Path(__file__).resolve().parents[3],
        env={**os.environ, "BLAND_API_KEY": KEY},
    )
    try:
        while not ready.exists():
            assert proc.poll() is None
            time.sleep(0.05)
        url = ready.read_text().strip()
        with httpx.Client(
            verify=False, base_url=url, headers={"authorization": KEY}, timeout=5
        ) as client:
            switches = {"write_statuses": [503, 200], "retry_after": "3", "drop_after_write": 2}
            assert client.post("/_sim/faults", json=switches).status_code == 200
            assert attach(client, B, N3).status_code == 503
            assert client.post("/_sim/faults", json={}).json()["retry_after"] == "3"
            with pytest.raises(httpx.RemoteProtocolError):
                attach(client, B, N1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert proc.returncode == 0


def start_in_process(*args: str, env_key: str | None = KEY) -> Result:
    """The command in this process, for a start that fails before it serves anything; an
    exception other than its exit is raised, not turned into an exit code."""
    runner = CliRunner()
    return runner.invoke(
        simulator_command, list(args), env={"BLAND_API_KEY": env_key}, catch_exceptions=False
    )


def test_command_startup_errors(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps(base_state()))
    started = start_in_process("--state", str(state), "--port", "0", env_key=None)
    assert started.exit_code == 1
    assert started.stderr.strip() == "Error: environment variable BLAND_API_KEY is not set"

    bad = tmp_path / "bad.json"
    bad.write_text('{"personas": [{"id": 3}]}')
    started = start_in_process("--state", str(bad), "--port", "0")
    assert started.exit_code == 1
    err = started.stderr
    assert len(err.strip().splitlines()) == 1 and str(bad) in err
    assert "Traceback" not in err


def test_a_start_that_fails_in_process_leaves_the_signal_mask_as_it_was(tmp_path: Path) -> None:
    """The command blocks SIGINT and SIGTERM to wait for them; a caller in the same process (a
    test runner's worker) must get them back, or its later signal handlers never run."""
    bad = tmp_path / "bad.json"
    bad.write_text('{"personas": [{"id": 3}]}')
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert start_in_process("--state", str(bad), "--port", "0").exit_code == 1
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before


@pytest.mark.parametrize(
    "key", ["short-k", "  seven  ", "has a space", "tab\there-too", "nön-ascii-key"]
)
def test_a_key_reconciler_would_refuse_is_refused_at_start_up(tmp_path: Path, key: str) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps(base_state()))
    ready = tmp_path / "ready"
    started = start_in_process(
        "--state", str(state), "--port", "0", "--ready-file", str(ready), env_key=key
    )
    out, err = started.stdout, started.stderr
    assert started.exit_code == 1
    assert err.splitlines() == [
        "Error: the key in BLAND_API_KEY is not one reconciler accepts: an API key is one line "
        "of at least 8 printable ASCII characters, without spaces"
    ]
    assert out == "" and not ready.exists()
    assert key.strip() not in err


def test_help_documents_the_latency_switch() -> None:
    result = CliRunner().invoke(
        simulator_command, ["--help"], terminal_width=400, max_content_width=400
    )
    assert result.exit_code == 0
    lines = result.output.splitlines()
    # A long option's help starts on the next line.
    at = next(i for i, line in enumerate(lines) if line.strip().split("  ")[0] == "--latency FLOAT")
    assert "Seconds added" in " ".join(lines[at : at + 2]), lines[at : at + 2]


def test_command_sets_the_fault_switches(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps(base_state()))
    ready = tmp_path / "ready"
    proc = run_command(
        "--state", str(state), "--port", "0", "--ready-file", str(ready),
        "--latency", "0.25",
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        url = ready.read_text().strip()
        with httpx.Client(
            verify=False, base_url=url, headers={"authorization": KEY}, timeout=5
        ) as client:
            assert client.post("/_sim/faults", json={}).json()["latency"] == 0.25
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err


def test_a_bad_latency_is_a_usage_error(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps(base_state()))
    args = ["--state", str(state), "--port", "0", "--latency", "soon"]
    result = CliRunner().invoke(simulator_command, args, env={"BLAND_API_KEY": KEY})
    assert result.exit_code == 2, result.output
    assert "Invalid value" in result.output


def test_on_every_address_it_says_to_export_loopback_and_the_key_it_read(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps(base_state()))
    ready = tmp_path / "ready"
    proc = run_command(
        "--state", str(state), "--host", "0.0.0.0", "--port", "0", "--ready-file", str(ready),
        "--api-key-env", "SIM_KEY", variable="SIM_KEY",
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().rstrip("\n") for _ in range(4)]
        url = ready.read_text().strip()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert url.startswith("http://0.0.0.0:")
    assert lines[2:] == [
        "To point reconciler at it (with BLAND_API_KEY set to the value of SIM_KEY), run:",
        f"  export BLAND_API_URL={url.replace('0.0.0.0', '127.0.0.1')}",
    ]


def test_a_port_in_use_is_one_line_naming_the_address(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps(base_state()))
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        started = start_in_process("--state", str(state), "--port", port)
    assert started.exit_code == 1
    assert started.stderr.startswith("Error: cannot listen: Address already in use")
    assert f"'127.0.0.1', {port}" in started.stderr and len(started.stderr.splitlines()) == 1
