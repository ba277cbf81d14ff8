"""`make demo`'s script: it runs end to end, and prints escape codes only on a colour terminal.

The whole demo runs once, on a terminal, where it is coloured. Whether it colours is decided
before its first command, so the uncoloured cases run the demo cut after its first plan: its
own set-up, its colour choice and one command that reconciler colours on a terminal. Each runs
the `reconciler` forked from one that imported it already (tests/forked_cli.py): the command's
start is not what they are about (the README's quick start runs the installed command through
the same steps: test_readme.py).
"""

from __future__ import annotations

import errno
import os
import pty
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.forked_cli import ForkedCli

ESC = b"\x1b["
DEMO = ROOT / "scripts" / "demo.sh"
FIRST_PLAN = "step reconciler plan examples/personas.yaml\n"


def run_demo(
    script: str, environ: dict[str, str], *, terminal: bool, bin_folder: Path
) -> tuple[int, bytes]:
    """Run the demo's script in bash with stdout and stderr on a pipe or on a pseudo-terminal,
    with the `reconciler` of bin_folder."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["PATH"] = f"{bin_folder}{os.pathsep}{env['PATH']}"
    env.update(environ)
    # As `bash scripts/demo.sh` runs it: the script finds the project from its own path ($0).
    command = ["bash", "-c", script, str(DEMO)]
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


def test_the_demo_runs_end_to_end_coloured_on_a_terminal(forked: ForkedCli) -> None:
    code, output = run_demo(DEMO.read_text(), {}, terminal=True, bin_folder=forked.bin)
    assert code == 0, output.decode(errors="replace")
    text = output.decode()
    assert "$ reconciler apply examples/personas.yaml --auto-approve" in text
    assert "No changes. The account matches examples/personas.yaml." in text
    assert ESC in output  # the check that the terminal case can show colour at all


@pytest.mark.parametrize(
    ("environ", "terminal"),
    [({}, False), ({"NO_COLOR": "1"}, True)],
    ids=["pipe", "terminal with NO_COLOR"],
)
def test_the_demo_colours_nothing_on_a_pipe_or_with_no_color(
    environ: dict[str, str], terminal: bool, forked: ForkedCli
) -> None:
    script = DEMO.read_text()
    assert FIRST_PLAN in script
    cut = script.split(FIRST_PLAN)[0] + FIRST_PLAN
    code, output = run_demo(cut, environ, terminal=terminal, bin_folder=forked.bin)
    assert code == 0, output.decode(errors="replace")
    text = output.decode()
    assert "$ reconciler validate examples/personas.yaml" in text
    assert "Plan: 3 to attach, 1 to move, 1 to detach." in text
    assert ESC not in output
