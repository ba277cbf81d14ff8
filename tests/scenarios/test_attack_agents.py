"""Attacks on routing numbers to v2 agents: the CLI against the simulator over loopback HTTP.

Each test plays a careless user or a hostile account. Those marked xfail show a bug still open;
the others are attacks the code survives, kept so it goes on surviving them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.simulator import Simulator
from tests.conftest import RunCli
from tests.scenarios.conftest import StartSim

SUPPORT, SALES, TWIN = "p-support", "p-sales", "p-twin-bot"
BOT, NEW = "ag-bot", "ag-new"
N100, N101, N102, N103, N104, N105, N106 = (f"+1415555010{i}" for i in range(7))

STATE: dict[str, Any] = {
    "numbers": [
        N100, N101, N102, {"phone_number": N103, "pathway_id": "pw-ivr"}, N104, N105, N106,
    ],
    "personas": [
        {"id": SUPPORT, "name": "Support", "numbers": [N100, N106]},
        {"id": SALES, "name": "Sales", "numbers": [N104]},
        {"id": TWIN, "name": "Bot", "numbers": [N101, N105], "tags": [f"v2-agent:{BOT}"]},
    ],
    "agents": [
        {"id": BOT, "name": "Bot", "versions": 2, "production_version_id": "v-2",
         "updated_at": "2026-01-01T00:00:00Z"},
        {"id": NEW, "name": "New", "versions": 1, "production_version_id": "v-1"},
    ],
}  # fmt: skip


def _state(filler_agents: int = 0) -> dict[str, Any]:
    """The account, with `filler_agents` more agents updated after Bot (so the list of 500,
    newest first, leaves Bot out once there are 500 of them)."""
    state = copy.deepcopy(STATE)
    state["agents"] += [
        {"id": f"ag-fill-{i:03}", "name": f"Fill {i}", "updated_at": "2026-06-01T00:00:00Z"}
        for i in range(filler_agents)
    ]
    return state


def _config(tmp_path: Path, personas: list[Any], agents: list[Any], **extra: Any) -> Path:
    path = tmp_path / "routing.yaml"
    document = {"version": 1, "personas": personas, "agents": agents, **extra}
    path.write_text(json.dumps(document, indent=2))
    return path


def _writes(sim: Simulator) -> list[tuple[str, list[str]]]:
    return [
        (record.path, sorted(record.body["inbound_numbers"]))
        for record in sim.writes()
        if record.status == 200 and isinstance(record.body, dict) and "inbound_numbers" in record.body
    ]


def _v1_writes_to_twin(sim: Simulator) -> list[str]:
    return [record.path for record in sim.writes() if TWIN in record.path]


@pytest.mark.xfail(
    strict=True,
    reason="a number on an agent no read can see is planned as a plain attach: protected moves",
)
def test_a_protected_number_on_an_agent_no_read_shows_is_never_moved(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    # Twins neither listed nor readable, GET /v1/inbound names no owner: the agent's numbers
    # cannot be seen. A persona entry claiming one must not take it on a guess that it is free.
    sim = start_sim(_state())
    config = _config(
        tmp_path, [{"id": SUPPORT, "numbers": [N100, N106, N101]}], [], protected=[N101]
    )
    result = run_cli("apply", config, "--auto-approve", "--force")
    assert result.code in (1, 3), result.out + result.err
    assert _writes(sim) == []
    assert N101 in sim.persona_numbers(TWIN)


@pytest.mark.xfail(
    strict=True,
    reason="a persona entry takes every number of an agent no read can see, with no valve",
)
def test_emptying_an_agent_no_read_shows_trips_a_valve_or_is_refused(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(_state())
    config = _config(tmp_path, [{"id": SUPPORT, "numbers": [N100, N106, N101, N105]}], [])
    result = run_cli("apply", config, "--auto-approve")
    assert result.code in (1, 3), result.out + result.err
    assert _writes(sim) == []


@pytest.mark.xfail(
    strict=True,
    reason="the twin of an agent past the list's 500 is taken for a persona and written via v1",
)
def test_the_twin_of_an_agent_past_the_500_listed_is_never_written_through_v1(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    # GET /v1/personas lists the twin, tagged v2-agent:ag-bot; GET /v2/agents stops at 500
    # newest and leaves Bot out.
    sim = start_sim(_state(filler_agents=500), twins_listed=True)
    config = _config(tmp_path, [{"id": TWIN, "numbers": [N101, N105, N102]}], [])
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 1, result.out + result.err
    assert _v1_writes_to_twin(sim) == []


@pytest.mark.xfail(
    strict=True,
    reason="export writes the twin of an agent past the list's 500 as a plain persona",
)
def test_export_never_writes_the_twin_of_an_agent_past_the_500_listed_as_a_persona(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    start_sim(_state(filler_agents=500), twins_listed=True)
    exported = tmp_path / "exported.yaml"
    result = run_cli("export", "--out", exported)
    assert result.code in (0, 1), result.out + result.err
    assert not exported.exists() or TWIN not in exported.read_text()


def test_an_agent_past_the_500_listed_is_found_by_id_and_routed(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(_state(filler_agents=500), twins_listed=True)
    config = _config(tmp_path, [], [{"id": BOT, "numbers": [N101, N105, N102]}])
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 0, result.out + result.err
    assert _writes(sim) == [(f"/v2/agents/{BOT}/inbound/attach", [N102])]
    assert run_cli("plan", config, "--detailed-exitcode").code == 0


def test_an_agent_past_the_500_listed_is_refused_by_name_with_nothing_written(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(_state(filler_agents=500), twins_listed=True)
    config = _config(tmp_path, [], [{"name": "New", "numbers": [N102]}])
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 1, result.out + result.err
    assert "give its id" in result.err
    assert _writes(sim) == []
