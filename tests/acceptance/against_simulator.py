"""`make acceptance-simulator`: `make acceptance` against the simulator run as its own process.

Starts `reconciler simulator` on a free port with the scratch account (its twin personas
readable by id), hands `make acceptance` the environment a maintainer would set for a live
account, then checks through the simulator's control endpoints that the run left the account
exactly as found and wrote nothing but scratch numbers on scratch personas and agents. Run
from the repository root:
python -m tests.acceptance.against_simulator
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.acceptance.harness import AGENTS_VAR, NUMBERS_VAR, PERSONAS_VAR, SWITCH
from tests.acceptance.scratch_account import (
    SCRATCH_AGENTS,
    SCRATCH_NUMBERS,
    SCRATCH_PERSONAS,
    SIMULATOR_FAULTS,
    foreign_writes,
    scratch_state,
    state_differences,
)

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 30.0


def _wait_for_url(ready: Path, simulator: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if ready.exists():
            return ready.read_text().strip()
        if simulator.poll() is not None:
            raise SystemExit(f"acceptance-simulator: the simulator exited ({simulator.returncode})")
        time.sleep(0.05)
    raise SystemExit("acceptance-simulator: the simulator did not start listening")


def _run_acceptance(url: str, key: str) -> int:
    env = {
        **os.environ,
        SWITCH: "1",
        "BLAND_API_URL": url,
        "BLAND_API_KEY": key,
        PERSONAS_VAR: ",".join(SCRATCH_PERSONAS),
        NUMBERS_VAR: ",".join(SCRATCH_NUMBERS),
        AGENTS_VAR: ",".join(SCRATCH_AGENTS),
    }
    env.pop("BLAND_API_KEY_FILE", None)
    return subprocess.call([os.environ.get("MAKE", "make"), "acceptance"], env=env, cwd=ROOT)


def _problems(before: Any, after: Any, log: list[dict[str, Any]]) -> list[str]:
    problems = [f"state changed: {line}" for line in state_differences(before, after)]
    problems += [
        f"wrote outside the scratch routing: {line}"
        for line in foreign_writes(log, SCRATCH_PERSONAS, SCRATCH_NUMBERS, SCRATCH_AGENTS)
    ]
    if not any(request["method"] != "GET" for request in log):
        problems.append("no scenario wrote anything: did make acceptance skip?")
    return problems


def main() -> int:
    """Run the acceptance suite against a separate simulator; 0 when it passed and left no mark."""
    key = "sk-acceptance-" + secrets.token_hex(8)
    with tempfile.TemporaryDirectory(prefix="reconciler-acceptance-") as work:
        state_file, ready = Path(work, "state.json"), Path(work, "ready")
        state_file.write_text(json.dumps(scratch_state()))
        command = [sys.executable, "-m", "reconciler", "simulator", "--state", str(state_file)]
        simulator = subprocess.Popen(
            [*command, "--port", "0", "--ready-file", str(ready)],
            env={**os.environ, "BLAND_API_KEY": key},
            stdout=subprocess.DEVNULL,
        )
        try:
            url = _wait_for_url(ready, simulator)
            with httpx.Client(base_url=url, headers={"authorization": key}) as control:
                control.post("/_sim/faults", json=SIMULATOR_FAULTS).raise_for_status()
                before = control.get("/_sim/state").json()
                control.post("/_sim/log/clear").raise_for_status()
                code = _run_acceptance(url, key)
                after = control.get("/_sim/state").json()
                log = control.get("/_sim/log").json()["requests"]
        finally:
            simulator.terminate()
            simulator.wait(timeout=10)
    problems = _problems(before, after, log)
    for problem in problems:
        print(f"acceptance-simulator: {problem}", file=sys.stderr)
    writes = sum(request["method"] != "GET" for request in log)
    print(
        f"acceptance-simulator: make acceptance exited {code}; the simulator saw "
        f"{len(log)} requests, {writes} of them writes"
        + (
            ""
            if problems
            else ", all to scratch personas and agents; its state is exactly as found"
        )
    )
    return code or (1 if problems else 0)


if __name__ == "__main__":
    sys.exit(main())
