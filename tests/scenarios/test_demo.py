"""`make demo`'s script: it runs end to end, and prints escape codes only on a colour terminal."""

from __future__ import annotations

import errno
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

ESC = b"\x1b["


def run_demo(environ: dict[str, str], *, terminal: bool) -> tuple[int, bytes]:
    """Run scripts/demo.sh with stdout and stderr on a pipe or on a pseudo-terminal."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.update(environ)
    command = ["bash", str(ROOT / "scripts" / "demo.sh")]
    if not terminal:
        done = subprocess.run(command, env=env, capture_output=True, timeout=120, check=False)
        return done.returncode, done.stdout + done.stderr
    leader, follower = pty.openpty()
    with subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower
    ) as process:
        os.close(follower)
        output = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError as error:  # EIO: the terminal's other end is closed
                assert error.errno == errno.EIO
                break
            if not chunk:
                break
            output += chunk
        code = process.wait(timeout=120)
    os.close(leader)
    return code, output


@pytest.mark.parametrize(
    ("environ", "terminal", "coloured"),
    [
        ({}, False, False),  # a log or a pipe
        ({"NO_COLOR": "1"}, True, False),
        ({}, True, True),  # the check that the terminal case can show colour at all
    ],
    ids=["pipe", "terminal with NO_COLOR", "terminal"],
)
def test_the_demo_runs_and_colours_only_a_terminal(
    environ: dict[str, str], terminal: bool, coloured: bool
) -> None:
    code, output = run_demo(environ, terminal=terminal)
    assert code == 0, output.decode(errors="replace")
    text = output.decode()
    assert "$ reconciler apply examples/personas.yaml --auto-approve" in text
    assert "No changes. The account matches examples/personas.yaml." in text
    assert (ESC in output) is coloured
