"""Numbers routed to v2 agents beside personas: the CLI against the simulator over HTTP.

An agent's numbers are held by its hidden twin persona. Each routing case runs with the twins
listed in GET /v1/personas and with twins readable only by id, the two readings of the docs'
unknown under which an agent's numbers can be seen at all.
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
BOT, NEW, DRAFT = "ag-bot", "ag-new", "ag-draft"
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
        {"id": BOT, "name": "Bot", "versions": 2, "production_version_id": "v-2"},
        {"id": NEW, "name": "New", "versions": 1, "production_version_id": None},
        {"id": DRAFT, "name": "Draft", "versions": 0},
    ],
}  # fmt: skip

READINGS = {
    "twins listed": {"twins_listed": True},
    "twins readable by id": {"twins_readable": True},
}


def _config(tmp_path: Path, personas: list[Any], agents: list[Any], **extra: Any) -> Path:
    path = tmp_path / "routing.yaml"
    document = {"version": 1, "personas": personas, "agents": agents, **extra}
    path.write_text(json.dumps(document, indent=2))
    return path


CASES = {
    "from an agent to a persona": (
        [{"id": SUPPORT, "numbers": [N100, N106, N101]}],
        [{"id": BOT, "numbers": [N105]}],
        [(f"/v1/personas/{SUPPORT}/inbound/attach", [N101])],
        [],
    ),
    "from a persona to an agent": (
        [{"id": SUPPORT, "numbers": [N106]}],
        [{"id": BOT, "numbers": [N101, N105, N100]}],
        [(f"/v2/agents/{BOT}/inbound/attach", [N100])],
        [],
    ),
    "a free number to an agent named by name": (
        [],
        [{"name": "New", "numbers": [N102]}],
        [(f"/v2/agents/{NEW}/inbound/attach", [N102])],
        [],
    ),
    "an agent emptied in the file": (
        [],
        [{"id": BOT, "numbers": []}],
        [(f"/v2/agents/{BOT}/inbound/detach", [N101, N105])],
        ["--force"],  # leaving an owner with none of its numbers trips a valve
    ),
}


def _writes(sim: Simulator) -> list[tuple[str, list[str]]]:
    return [
        (record.path, sorted(record.body["inbound_numbers"]))
        for record in sim.writes()
        if record.status == 200 and isinstance(record.body, dict)
    ]


@pytest.mark.parametrize("reading", READINGS.values(), ids=READINGS.keys())
@pytest.mark.parametrize(
    ("personas", "agents", "expected", "flags"), CASES.values(), ids=CASES.keys()
)
def test_routing_between_personas_and_agents_converges_in_one_write_per_owner(
    start_sim: StartSim,
    run_cli: RunCli,
    tmp_path: Path,
    reading: dict[str, bool],
    personas: list[Any],
    agents: list[Any],
    expected: list[tuple[str, list[str]]],
    flags: list[str],
) -> None:
    sim = start_sim(copy.deepcopy(STATE), **reading)
    config = _config(tmp_path, personas, agents)

    result = run_cli("apply", config, "--auto-approve", *flags)

    assert result.code == 0, result.out + result.err
    assert _writes(sim) == expected
    assert not any(TWIN in record.path for record in sim.writes())  # never v1 on a twin
    assert run_cli("plan", config, "--detailed-exitcode").code == 0
    exported = tmp_path / "exported.yaml"
    assert run_cli("export", "--out", exported).code == 0
    assert TWIN not in exported.read_text()
    assert run_cli("plan", exported, "--detailed-exitcode").code == 0


def test_the_plan_names_the_kind_of_both_sides(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    start_sim(copy.deepcopy(STATE), twins_listed=True)
    config = _config(
        tmp_path,
        [{"id": SUPPORT, "numbers": [N100, N106, N101, N103]}],
        [{"id": BOT, "numbers": [N105]}],
    )
    result = run_cli("plan", config, "--format", "json")
    assert result.code == 0, result.err
    changes = {change["phone_number"]: change for change in json.loads(result.out)["changes"]}
    assert (changes[N101]["from_kind"], changes[N101]["from_persona_id"]) == ("agent", BOT)
    assert (changes[N103]["from_kind"], changes[N103]["from_persona_id"]) == ("pathway", "pw-ivr")
    text = run_cli("plan", config).out
    assert f"~ {N101} (from agent 'Bot')" in text
    assert f"~ {N103} (from pathway pw-ivr)" in text


@pytest.mark.parametrize(
    ("number", "source"),
    [(N101, "agent 'Bot'"), (N103, "pathway pw-ivr")],
    ids=["agent", "pathway"],
)
def test_a_protected_number_on_an_agent_or_a_pathway_is_never_moved_away(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, number: str, source: str
) -> None:
    sim = start_sim(copy.deepcopy(STATE), twins_listed=True)
    config = _config(
        tmp_path,
        [{"id": SUPPORT, "numbers": [N100, N106, number]}],
        [{"id": BOT, "numbers": [N105] if number == N101 else [N101, N105]}],
        protected=[number],
    )
    for command in (["plan", config], ["apply", config, "--auto-approve", "--force"]):
        result = run_cli(*command)
        assert result.code == 3, result.out + result.err
        assert f"{number} is protected and the plan moves it from {source}" in result.err
    assert _writes(sim) == []


def test_a_persona_entry_naming_a_twin_is_refused(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(copy.deepcopy(STATE), twins_listed=True)
    result = run_cli(
        "apply", _config(tmp_path, [{"id": TWIN, "numbers": []}], []), "--auto-approve"
    )
    assert result.code == 1
    assert "is the hidden persona of agent 'Bot' (ag-bot)" in result.err
    assert _writes(sim) == []


def test_an_agent_that_refuses_attaches_ends_the_run_naming_it(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(copy.deepcopy(STATE), twins_listed=True)
    config = _config(
        tmp_path,
        [{"id": SALES, "numbers": [N104, N102]}],
        [{"id": DRAFT, "numbers": [N101]}, {"id": BOT, "numbers": [N105]}],
    )
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 4, result.out + result.err
    assert "Draft: attach of 1 number (+14155550101) failed" in result.out
    assert "NO_VERSIONS" in result.out
    assert (
        f"not converged: still needed: move {N101} (agent 'Draft') from agent 'Bot'" in result.out
    )
    assert (f"/v1/personas/{SALES}/inbound/attach", [N102]) in _writes(sim)  # the rest went on
    assert N101 in sim.persona_numbers(TWIN)  # nothing that was routed was left unrouted


def test_an_agent_whose_numbers_no_read_shows_is_refused_with_nothing_written(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(copy.deepcopy(STATE))  # twins neither listed nor readable, no owners
    config = _config(tmp_path, [], [{"id": BOT, "numbers": [N101, N105, N102]}])
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 1
    assert "cannot tell which numbers agent 'Bot' holds" in result.err
    assert _writes(sim) == []


def test_owners_in_get_inbound_are_enough_to_route_to_an_agent(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(copy.deepcopy(STATE), legacy_inbound_includes_persona=True)
    config = _config(tmp_path, [], [{"id": BOT, "numbers": [N101, N105, N102]}])
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 0, result.out + result.err
    assert _writes(sim) == [(f"/v2/agents/{BOT}/inbound/attach", [N102])]
    assert run_cli("plan", config, "--detailed-exitcode").code == 0


def test_an_agent_with_no_production_version_gets_a_warning(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    start_sim(copy.deepcopy(STATE), twins_listed=True)
    result = run_cli("plan", _config(tmp_path, [], [{"id": NEW, "numbers": [N102]}]))
    assert result.code == 0, result.err
    assert "Warning: agent 'New' has no version pinned to production" in result.out
