"""The acceptance harness puts back the scratch numbers' routing, settings and labels, and its
check of the simulator's log lets through only writes to scratch numbers on scratch personas."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.harness import Scratch, Target, number_problems, take_snapshot
from tests.acceptance.scratch_account import (
    KEPT_ON_A,
    OTHER,
    OTHER_NUMBER,
    SCRATCH_A,
    SCRATCH_B,
    SCRATCH_NUMBERS,
    SCRATCH_PERSONAS,
    SIMULATOR_FAULTS,
    foreign_writes,
    scratch_state,
    state_differences,
)
from tests.simulated import Simulator

KEY = "sk-acceptance-restore-test"
WITH_SETTINGS = SCRATCH_NUMBERS[0]  # on scratch persona A, with settings and a label


def _scratch(simulator: Simulator, workdir: Path) -> Scratch:
    target = Target("simulator", simulator.url, KEY, SCRATCH_PERSONAS, SCRATCH_NUMBERS, simulator)
    with target.client() as client:
        recorded = take_snapshot(client, target)
        assert number_problems(client, target, recorded) == []  # settings are no reason to stop
    return Scratch(target, workdir, recorded)


def test_the_restore_writes_back_the_settings_and_labels_the_scenarios_changed(
    tmp_path: Path,
) -> None:
    with Simulator(scratch_state(), api_key=KEY) as simulator:
        simulator.faults.update(SIMULATOR_FAULTS)  # the scratch agents' numbers can be read
        before = simulator.export_state()
        scratch = _scratch(simulator, tmp_path)
        assert scratch.recorded_problems() == []
        assert scratch.labelled_number() == WITH_SETTINGS
        changed = {"number": WITH_SETTINGS, "label": "changed", "settings": {"pathway_id": "p2"}}
        moved = scratch.apply(scratch.config(b=[changed, SCRATCH_NUMBERS[1]]))
        assert moved.code == 0, moved.out + moved.err
        assert state_differences(before, simulator.export_state()) != []
        scratch.restore()
        assert state_differences(before, simulator.export_state()) == []
        writes = [asdict(record) for record in simulator.requests]
        assert foreign_writes(writes, SCRATCH_PERSONAS, SCRATCH_NUMBERS) == []


def test_a_restore_that_fails_says_so_with_the_command_to_finish_it(tmp_path: Path) -> None:
    with Simulator(scratch_state(), api_key=KEY) as simulator:
        simulator.faults.update(SIMULATOR_FAULTS)  # the scratch agents' numbers can be read
        scratch = _scratch(simulator, tmp_path)
        scratch.apply(scratch.config(b=[WITH_SETTINGS]))  # its settings are cleared by the move
        simulator.delete_persona(SCRATCH_A)  # and can no longer be written back there
        with pytest.raises(AssertionError, match="settings and labels were NOT restored") as info:
            scratch.restore()
    assert "objects of +15550100001: recorded {'label': 'Scratch one', " in str(info.value)
    assert (
        f"reconciler apply --auto-approve --allow-emptying --max-detach-percent 100 {tmp_path}"
        in (str(info.value))
    )


def _write(method: str, path: str, body: Any, persona: str | None = None) -> dict[str, Any]:
    return {"method": method, "path": path, "body": body, "persona_id": persona}


def _settings_path(persona: str, number: str) -> str:
    return f"/v1/personas/{persona}/inbound/{number.replace('+', '%2B')}/settings"


@pytest.mark.parametrize(
    "request_, foreign",
    [
        (
            _write(
                "POST",
                f"/v1/personas/{SCRATCH_A}/inbound/attach",
                {"inbound_numbers": [WITH_SETTINGS]},
                SCRATCH_A,
            ),
            False,
        ),
        (
            _write(
                "POST",
                f"/v1/personas/{SCRATCH_A}/inbound/attach",
                {"inbound_numbers": [KEPT_ON_A]},
                SCRATCH_A,
            ),
            True,
        ),
        (
            _write(
                "POST",
                f"/v1/personas/{OTHER}/inbound/detach",
                {"inbound_numbers": [WITH_SETTINGS]},
                OTHER,
            ),
            True,
        ),
        (
            _write(
                "PATCH",
                _settings_path(SCRATCH_B, WITH_SETTINGS),
                {"persona_settings": None},
                SCRATCH_B,
            ),
            False,
        ),
        (
            _write(
                "PATCH", _settings_path(SCRATCH_A, KEPT_ON_A), {"persona_settings": None}, SCRATCH_A
            ),
            True,
        ),
        (
            _write(
                "PATCH", _settings_path(OTHER, WITH_SETTINGS), {"persona_settings": None}, OTHER
            ),
            True,
        ),
        (
            _write(
                "POST", "/inbound/update_label", {"phoneNumber": WITH_SETTINGS, "newLabel": "x"}
            ),
            False,
        ),
        (
            _write("POST", "/inbound/update_label", {"phoneNumber": OTHER_NUMBER, "newLabel": "x"}),
            True,
        ),
        (_write("POST", "/inbound/update_label", {"phoneNumber": KEPT_ON_A, "newLabel": ""}), True),
        (_write("DELETE", f"/v1/personas/{SCRATCH_A}", None, SCRATCH_A), True),
    ],
)
def test_only_writes_to_scratch_numbers_on_scratch_personas_pass(
    request_: dict[str, Any], foreign: bool
) -> None:
    found = foreign_writes([request_], SCRATCH_PERSONAS, SCRATCH_NUMBERS)
    assert bool(found) is foreign, found
