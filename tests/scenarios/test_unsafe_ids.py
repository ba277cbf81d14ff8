"""An id the API gives that would change a request's path is refused before anything is sent.

httpx removes dot segments from a path, and `/`, `?`, `#` or `%` would split it: a write for
such a persona would reach another endpoint (`..` made an attach POST /v1/inbound/attach).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import RunCli, write_config
from tests.scenarios.conftest import StartSim


@pytest.mark.parametrize("unsafe", ["..", ".", "a/../../inbound", "a?b", "a%2F..", "a\tb"])
@pytest.mark.parametrize("command", ["plan", "apply", "export"])
def test_a_persona_whose_id_is_unsafe_in_a_path_stops_the_run_before_any_request_with_it(
    unsafe: str, command: str, start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim()
    sim.add_persona(unsafe, "Night shift", ["+14155550140"])
    config = write_config(
        tmp_path / "night.yaml",
        [{"name": "Night shift", "numbers": ["+14155550140", "+14155550110"]}],
    )
    args = {"plan": ("plan", config), "apply": ("apply", config, "--auto-approve")}
    result = run_cli(*args.get(command, ("export",)))
    assert (result.code, result.out) == (1, "")
    assert result.err.startswith(
        'error: GET /v1/personas: malformed answer: page 1: persona "Night shift" has the id "'
    )
    assert result.err.count("\n") == 1
    assert sim.writes() == []
    assert all(unsafe not in request.path for request in sim.requests)
