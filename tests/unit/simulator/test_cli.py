"""`reconciler simulator` as a standalone process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.unit.simulator.conftest import KEY, N1, N3, B, attach, base_state


def run_command(*args: str, env_key: str | None = KEY) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "BLAND_API_KEY"}
    if env_key is not None:
        env["BLAND_API_KEY"] = env_key
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
        "--state", str(state), "--port", "0", "--ready-file", str(ready),
        "--write-statuses", "503,200", "--attach-mode", "refuse", "--latency", "0",
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        url = ready.read_text().strip()
        assert line == f"Bland API simulator listening on {url} (3 personas, 4 numbers)"
        with httpx.Client(base_url=url, headers={"authorization": KEY}, timeout=5) as client:
            assert client.get("/v1/personas").status_code == 200
            assert attach(client, B, N3).status_code == 503
            assert attach(client, B, N1).status_code == 409
            assert client.get("/_sim/faults").json()["attach_mode"] == "refuse"
            assert len(client.get("/_sim/log").json()["requests"]) == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert KEY not in line + err
    assert not ready.exists()


def test_command_startup_errors(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps(base_state()))
    proc = run_command("--state", str(state), "--port", "0", env_key=None)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 1
    assert err.strip() == "error: environment variable BLAND_API_KEY is not set"

    bad = tmp_path / "bad.json"
    bad.write_text('{"personas": [{"id": 3}]}')
    proc = run_command("--state", str(bad), "--port", "0")
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 1
    assert len(err.strip().splitlines()) == 1 and str(bad) in err
    assert "Traceback" not in err
