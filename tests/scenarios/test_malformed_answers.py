"""Answers of the wrong shape are refused: exit 1, nothing written, the fault named."""

from __future__ import annotations

import pytest

from tests.conftest import CONFIG, SUPPORT, RunCli
from tests.scenarios.conftest import StartSim

SHAPES = {
    # Read as a list, the string's characters became numbers, and "+" was planned for detach.
    "inbound_numbers_as_one_string": (
        f"GET /v1/personas: malformed answer: page 1: persona {SUPPORT}: "
        "`inbound_numbers` is a string, not a list"
    ),
    # Dropped, a persona's numbers looked free and the plan attached them elsewhere.
    "numbers_as_integers": (
        f"GET /v1/personas: malformed answer: page 1: persona {SUPPORT}: inbound_numbers[0] is "
        "an object whose `phone_number` is a number (14155550100)"
    ),
    "data_not_a_list": (
        "GET /v1/personas: malformed answer: page 1: `data` is an object, not a list of personas"
    ),
    "persona_without_id": "GET /v1/personas: malformed answer: page 1: data[0] has no `id`",
}


@pytest.mark.parametrize("shape, message", SHAPES.items(), ids=list(SHAPES))
@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_malformed_answer_is_refused(
    start_sim: StartSim, run_cli: RunCli, command: str, shape: str, message: str
) -> None:
    sim = start_sim(malformed=[shape])
    args = (command, "--auto-approve", CONFIG) if command == "apply" else (command, CONFIG)
    result = run_cli(*args)
    assert result.code == 1, result.out
    assert result.err == f"error: {message}; refusing to act on it\n"
    assert result.out == ""
    assert sim.writes() == []


def test_numbers_as_bare_strings_are_still_read(start_sim: StartSim, run_cli: RunCli) -> None:
    sim = start_sim()
    as_objects = run_cli("plan", CONFIG)
    sim.faults.inbound_numbers_as_strings = True
    as_strings = run_cli("plan", CONFIG)
    assert as_strings.code == as_objects.code == 0, as_strings.err
    assert as_strings.out == as_objects.out
    assert "~ +14155550102 (from 'Legacy IVR')" in as_strings.out
