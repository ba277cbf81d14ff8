"""Attacks, second round, on routing numbers to personas and v2 agents: the CLI against the
simulator over loopback HTTP.

Numbers spelled several ways, twins tagged, named or hidden, agents deleted while planning,
numbers held by a persona and an agent at once, and names and ids that collide. Each test plays
a careless user or a hostile account. Those marked xfail show a bug that is still there; the
others are attacks the code survives, or bugs since fixed, kept so they stay fixed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.simulator import Simulator
from reconciler.simulator.api import Reply
from tests.conftest import RunCli
from tests.scenarios.agent_account import (
    BOT,
    N100,
    N101,
    N102,
    N104,
    N105,
    N106,
    NEW,
    SALES,
    SUPPORT,
    TWIN,
)
from tests.scenarios.agent_account import config as _config
from tests.scenarios.agent_account import state as _state
from tests.scenarios.agent_account import writes as _writes
from tests.scenarios.conftest import StartSim


def _persona(state: dict[str, Any], persona_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in state["personas"] if p["id"] == persona_id)
    return found


def _shared_state() -> dict[str, Any]:
    """The account after a non-exclusive attach: +14155550101 on Support and on Bot's twin."""
    state = _state()
    _persona(state, SUPPORT)["numbers"].append(N101)
    return state


def _sent(sim: Simulator) -> list[str]:
    """The path of every write sent, whatever its answer."""
    return [record.path for record in sim.writes()]


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _in_front(sim: Simulator, play: Callable[[Any, Callable[[Any], Reply]], Reply]) -> None:
    """`play(record, serve)` answers every request, in front of the faults already played."""
    before = sim.intercept

    def intercept(record: Any, serve: Callable[[Any], Reply]) -> Reply:
        def served(request: Any) -> Reply:
            return serve(request) if before is None else before(request, serve)

        return play(record, served)

    sim.intercept = intercept


def _tag_in_reads(sim: Simulator, persona_id: str, tags: list[str]) -> None:
    """Every GET of a persona object shows `persona_id` with `tags`."""

    def play(record: Any, serve: Callable[[Any], Reply]) -> Reply:
        reply = serve(record)
        if record.method != "GET" or not record.path.startswith("/v1/personas"):
            return reply
        if reply.status != 200:
            return reply
        body = json.loads(reply.payload)
        items = body["data"] if isinstance(body["data"], list) else [body["data"]]
        for item in items:
            if item["id"] == persona_id:
                item["tags"] = tags
        return Reply(200, _json(body))

    _in_front(sim, play)


def _binding_answer(sim: Simulator, agent: str, twin: str | None, then: Any = None) -> None:
    """GET /v2/agents/{agent}/inbound names `twin`; `then(sim)` runs when it is asked."""

    def play(record: Any, serve: Callable[[Any], Reply]) -> Reply:
        if record.method == "GET" and record.path == f"/v2/agents/{agent}/inbound":
            if then is not None:
                then(sim)
            body = {"data": {"agent_id": agent, "persona_id": twin}, "errors": None}
            return Reply(200, _json(body))
        return serve(record)

    _in_front(sim, play)


def _delete_bot(sim: Simulator) -> None:
    state = sim.export_state()
    next(a for a in state["agents"] if a["id"] == BOT)["deleted_at"] = "2026-12-06T00:00:00Z"
    sim.load(state)


# ---------------------------------------------------------------- protected numbers that move


@pytest.mark.parametrize("reading", [{}, {"twins_readable": True}], ids=["hidden", "by id"])
def test_a_twin_tag_on_one_persona_never_unguards_an_agent_past_the_500_listed(
    start_sim_past_the_agent_list: StartSim,
    run_cli: RunCli,
    tmp_path: Path,
    reading: dict[str, bool],
) -> None:
    # GET /v2/agents stops at 500 and leaves Bot out; its twin is not listed. One persona
    # carries a tag naming an agent that no longer exists.
    sim = start_sim_past_the_agent_list(**reading)
    _tag_in_reads(sim, SALES, ["v2-agent:ag-retired"])
    config = _config(
        tmp_path, [{"id": SUPPORT, "numbers": [N100, N106, N101]}], [], protected=[N101]
    )
    result = run_cli("apply", config, "--auto-approve", "--force")
    assert "Traceback" not in result.err
    assert result.code in (1, 3), result.out + result.err
    assert _sent(sim) == []
    assert sim.owners()[N101] == [TWIN]


SHOWN_UNREADABLY = {
    "on a persona": (N104, SALES),
    "on an agent's twin": (N105, TWIN),
}


@pytest.mark.parametrize(("number", "holder"), SHOWN_UNREADABLY.values(), ids=SHOWN_UNREADABLY)
def test_a_protected_number_its_holder_spells_unreadably_is_never_moved(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, number: str, holder: str
) -> None:
    # GET /v1/inbound spells the number canonically; its holder's entry shows "call me".
    sim = start_sim(_state(), twins_listed=True, listing_spellings={number: "call me"})
    config = _config(
        tmp_path, [{"id": SUPPORT, "numbers": [N100, N106, number]}], [], protected=[number]
    )
    result = run_cli("apply", config, "--auto-approve", "--force")
    assert "Traceback" not in result.err
    assert result.code in (1, 3), result.out + result.err
    assert _sent(sim) == []
    assert sim.owners()[number] == [holder]


@pytest.mark.parametrize("reading", [{}, {"twins_readable": True}], ids=["hidden", "by id"])
def test_a_protected_number_of_an_agent_deleted_while_planning_is_never_moved(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, reading: dict[str, bool]
) -> None:
    sim = start_sim(_state(), **reading)
    _binding_answer(sim, BOT, None, then=_delete_bot)
    config = _config(
        tmp_path, [{"id": SUPPORT, "numbers": [N100, N106, N101]}], [], protected=[N101]
    )
    result = run_cli("apply", config, "--auto-approve", "--force")
    assert "Traceback" not in result.err
    assert result.code in (1, 3), result.out + result.err
    assert _sent(sim) == []
    assert sim.owners()[N101] == [TWIN]


@pytest.mark.parametrize("number", ["+16175550100", "+19165550100"])
def test_a_number_listed_without_its_country_code_is_never_detached_as_another_number(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, number: str
) -> None:
    state = {
        "numbers": [number, N104],
        "personas": [
            {"id": SUPPORT, "name": "Support", "numbers": [number]},
            {"id": SALES, "name": "Sales", "numbers": [N104]},
        ],
    }
    sim = start_sim(state, listing_spellings={number: number.removeprefix("+1")})
    config = _config(tmp_path, [{"id": SUPPORT, "numbers": [number]}], [], protected=[number])
    result = run_cli("apply", config, "--auto-approve")
    assert "Traceback" not in result.err
    assert [path for path in _sent(sim) if path.endswith("/detach")] == []


# ---------------------------------------------------------------- twins believed or written


def test_a_binding_naming_another_agents_twin_never_leaves_a_number_unrouted(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(_state(), twins_readable=True)
    _binding_answer(sim, NEW, TWIN)
    config = _config(tmp_path, [], [{"id": NEW, "numbers": [N101]}])
    result = run_cli("apply", config, "--auto-approve", "--force")
    assert "Traceback" not in result.err
    assert result.code in (1, 2), result.out + result.err
    assert _sent(sim) == []
    assert sim.owners()[N101] == [TWIN]


@pytest.mark.parametrize("readable", [False, True], ids=["twin hidden", "twin readable"])
def test_the_refusal_fallback_never_writes_through_v1_to_a_twin_named_by_get_v1_inbound(
    start_sim_past_the_agent_list: StartSim, run_cli: RunCli, tmp_path: Path, readable: bool
) -> None:
    sim = start_sim_past_the_agent_list(
        legacy_inbound_includes_persona=True,
        attach_mode="refuse",
        twins_readable=readable,
    )
    config = _config(tmp_path, [{"id": SUPPORT, "numbers": [N100, N106, N101]}], [])
    result = run_cli("apply", config, "--auto-approve")
    assert "Traceback" not in result.err
    assert [path for path in _sent(sim) if TWIN in path] == []


def test_a_number_left_on_an_unlisted_twin_by_a_non_exclusive_attach_never_ends_in_exit_0(
    start_sim_past_the_agent_list: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim_past_the_agent_list(
        legacy_inbound_includes_persona=True, attach_mode="keep_old"
    )
    config = _config(tmp_path, [{"id": SUPPORT, "numbers": [N100, N106, N101]}], [])
    result = run_cli("apply", config, "--auto-approve")
    assert "Traceback" not in result.err
    assert result.code != 0 or sim.owners()[N101] == [SUPPORT], result.out + result.err


def test_a_second_persona_tagged_for_a_listed_agent_is_not_that_agent(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    # Bot's binding names p-twin-bot; Sales also carries Bot's tag (a stale twin, or a
    # dashboard edit).
    sim = start_sim(_state(), twins_listed=True)
    _tag_in_reads(sim, SALES, [f"v2-agent:{BOT}"])
    config = _config(tmp_path, [], [{"id": BOT, "numbers": [N101, N105, N104]}])
    result = run_cli("apply", config, "--auto-approve", "--force")
    assert "Traceback" not in result.err
    assert result.code != 0 or sim.owners()[N104] == [TWIN], result.out + result.err


def test_an_unsafe_agent_id_in_a_twin_tag_is_refused_as_the_answer_is_read(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(_state(), twins_listed=True)
    _tag_in_reads(sim, SALES, ["v2-agent:x/../y"])
    config = _config(tmp_path, [{"id": SUPPORT, "numbers": [N100, N106, N104]}], [])
    result = run_cli("apply", config, "--auto-approve", "--force")
    assert "Traceback" not in result.err
    assert result.code == 1, result.out + result.err
    assert _sent(sim) == []


def test_a_target_never_detaches_a_number_the_config_gives_to_an_entry_left_out(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    # +14155550106 moves from Support to Bot in this pull request.
    sim = start_sim(_state(), twins_listed=True)
    config = _config(
        tmp_path,
        [{"name": "Support", "numbers": [N100]}],
        [{"name": "Bot", "numbers": [N101, N105, N106]}],
    )
    result = run_cli("apply", config, "--auto-approve", "--target", "Support")
    assert "Traceback" not in result.err
    assert sim.owners()[N106] != [], result.out + result.err


# ---------------------------------------------------------------- names and ids that collide


def test_a_persona_id_with_a_comma_never_hides_a_number_on_two_personas(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    comma = f"{SALES},{SUPPORT}"
    state = _state()
    _persona(state, SUPPORT)["numbers"].append(N104)  # on Sales and Support at once
    state["personas"].append({"id": comma, "name": "Comma", "numbers": [N102]})
    sim = start_sim(state, twins_listed=True)
    config = _config(tmp_path, [{"name": "Comma", "numbers": [N102, N104]}], [])
    result = run_cli("apply", config, "--auto-approve", "--force")
    assert "Traceback" not in result.err
    assert result.code != 0 or sim.owners()[N104] == [comma], result.out + result.err


def test_a_persona_id_like_an_owner_key_keeps_its_numbers_in_the_export(
    start_sim: StartSim, run_cli: RunCli
) -> None:
    state = _state()
    state["personas"].append({"id": f"agent:{NEW}", "name": "Evil", "numbers": [N102]})
    start_sim(state, twins_listed=True)
    result = run_cli("export")
    assert "Traceback" not in result.err
    assert result.code == 1 or N102 in result.out, result.out + result.err


@pytest.mark.parametrize("reading", [{"twins_listed": True}, {"twins_readable": True}])
def test_a_persona_named_like_an_agent_is_managed_by_name(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, reading: dict[str, bool]
) -> None:
    # An agent made from the persona Support (POST /v2/agents/migrate/persona) keeps its name,
    # and so does its twin.
    state = _state()
    next(a for a in state["agents"] if a["id"] == BOT)["name"] = "Support"
    _persona(state, TWIN)["name"] = "Support"
    sim = start_sim(state, **reading)
    config = _config(tmp_path, [{"name": "Support", "numbers": [N100, N106, N102]}], [])
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 0, result.out + result.err
    assert _writes(sim) == [(f"/v1/personas/{SUPPORT}/inbound/attach", [N102])]


# ---------------------------------------------------------------- round trips and dead ends


def test_export_round_trips_when_get_v1_inbound_spells_a_number_unreadably(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    start_sim(_state(), twins_listed=True, inbound_spellings={N104: "call me"})
    exported = tmp_path / "exported.yaml"
    result = run_cli("export", "--out", exported)
    assert result.code == 0, result.out + result.err
    planned = run_cli("plan", exported, "--detailed-exitcode")
    assert planned.code == 0, planned.out + planned.err


@pytest.mark.parametrize(
    "reading", [{"twins_readable": True}, {"twins_listed": True, "twins_readable": True}]
)
def test_a_number_on_a_persona_and_an_agent_never_stops_a_plan_for_a_free_number(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, reading: dict[str, bool]
) -> None:
    start_sim(_shared_state(), **reading)
    config = _config(tmp_path, [{"id": SALES, "numbers": [N104, N102]}], [])
    result = run_cli("plan", config)
    assert "agent%3A" not in result.err
    assert result.code == 0, result.out + result.err


def test_export_says_it_may_leave_out_agents_past_the_500_listed(
    start_sim: StartSim, run_cli: RunCli
) -> None:
    start_sim(_state(filler_agents=500), twins_readable=True)
    result = run_cli("export")
    assert result.code in (0, 1), result.out + result.err
    assert "500" in result.err, result.out + result.err


def test_a_number_on_a_persona_and_a_listed_twin_never_stops_an_unrelated_plan(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    start_sim(_shared_state(), twins_listed=True)
    config = _config(tmp_path, [{"id": SALES, "numbers": [N104]}], [])
    result = run_cli("plan", config, "--detailed-exitcode")
    assert result.code == 0, result.out + result.err


# ---------------------------------------------------------------- attacks the code survives

HELD_TWICE = {
    "the agent keeps it": (
        [{"id": SUPPORT, "numbers": [N100, N106]}], [{"id": BOT, "numbers": [N101, N105]}], TWIN,
    ),
    "the persona keeps it": (
        [{"id": SUPPORT, "numbers": [N100, N106, N101]}], [{"id": BOT, "numbers": [N105]}],
        SUPPORT,
    ),
    "a third owner takes it": ([{"id": SALES, "numbers": [N104, N101]}], [], SALES),
}  # fmt: skip


@pytest.mark.parametrize(("personas", "agents", "holder"), HELD_TWICE.values(), ids=HELD_TWICE)
def test_a_number_on_a_persona_and_an_agent_at_once_ends_on_the_owner_the_file_names(
    start_sim: StartSim,
    run_cli: RunCli,
    tmp_path: Path,
    personas: list[Any],
    agents: list[Any],
    holder: str,
) -> None:
    sim = start_sim(_shared_state(), twins_readable=True)
    config = _config(tmp_path, personas, agents)
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 0, result.out + result.err
    assert sim.owners()[N101] == [holder]
    assert not any(TWIN in path for path in _sent(sim))
    assert run_cli("plan", config, "--detailed-exitcode").code == 0


def test_a_protected_number_on_a_persona_and_an_agent_at_once_is_never_taken(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(_shared_state(), twins_readable=True)
    config = _config(tmp_path, [{"id": SALES, "numbers": [N104, N101]}], [], protected=[N101])
    result = run_cli("apply", config, "--auto-approve", "--force")
    assert result.code == 3, result.out + result.err
    assert f"{N101} is protected" in result.err
    assert _sent(sim) == []


def test_a_number_under_a_persona_in_one_file_and_an_agent_in_another_is_refused(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(_state(), twins_listed=True)
    (tmp_path / "a.yaml").write_text(
        f'version: 1\npersonas:\n  - id: {SUPPORT}\n    numbers: ["{N100}", "{N106}", "{N101}"]\n'
    )
    (tmp_path / "b.yaml").write_text(
        f'version: 1\npersonas: []\nagents:\n  - id: {BOT}\n    numbers: ["{N101}", "{N105}"]\n'
    )
    result = run_cli("apply", tmp_path, "--auto-approve")
    assert result.code == 1, result.out + result.err
    assert result.err == (
        f"{tmp_path / 'b.yaml'}:5:15: {N101} is listed twice (also at {tmp_path / 'a.yaml'}:4:47)\n"
    )
    assert sim.requests == []


WRONG_AGENT_ENTRIES = {
    "its id and another agent's name": (
        {"id": BOT, "name": "New", "numbers": [N101, N105]},
        "agent id ag-bot is named 'Bot', not 'New'",
    ),
    "its twin's id": ({"id": TWIN, "numbers": [N101]}, f"no agent with id {TWIN} on the account"),
    "a persona's id": (
        {"id": SALES, "numbers": [N104]},
        f"no agent with id {SALES} on the account",
    ),
    "its owner key": (
        {"id": f"agent:{BOT}", "numbers": [N101]},
        f"no agent with id agent:{BOT} on the account",
    ),
}


@pytest.mark.parametrize(
    ("entry", "message"), WRONG_AGENT_ENTRIES.values(), ids=WRONG_AGENT_ENTRIES
)
def test_an_agent_entry_naming_no_agent_is_refused_with_nothing_written(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, entry: dict[str, Any], message: str
) -> None:
    sim = start_sim(_state(), twins_listed=True)
    result = run_cli("apply", _config(tmp_path, [], [entry]), "--auto-approve", "--force")
    assert result.code == 1, result.out + result.err
    assert result.err.strip().endswith(message), result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert _sent(sim) == []


AGENTS_MISTAKES = {
    "a misspelt agents key": (
        f'version: 1\npersonas: []\nagnets:\n  - id: {BOT}\n    numbers: ["{N101}"]\n',
        ':3:1: unknown key "agnets" (did you mean "agents"?)',
    ),
    "an unknown key in an agent entry": (
        f'version: 1\npersonas: []\nagents:\n  - id: {BOT}\n    colour: red\n    numbers: []\n',
        ':5:5: unknown key "colour" (allowed: id, name, numbers)',
    ),
    "settings null on an agent's number": (
        f'version: 1\npersonas: []\nagents:\n  - id: {BOT}\n    numbers:\n'
        f'      - number: "{N101}"\n        settings: null\n',
        ":7:9: \"settings\" is not allowed here: persona settings don't apply to agents",
    ),
    "an agent's number written loosely": (
        f'version: 1\npersonas: []\nagents:\n  - id: {BOT}\n    numbers: ["+1 415 555 0101"]\n',
        f':5:15: "+1 415 555 0101" is not canonical E.164: did you mean "{N101}"?',
    ),
}  # fmt: skip


@pytest.mark.parametrize(("text", "message"), AGENTS_MISTAKES.values(), ids=AGENTS_MISTAKES)
def test_a_mistake_in_agents_is_one_line_at_its_place_and_no_request(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, text: str, message: str
) -> None:
    sim = start_sim(_state(), twins_listed=True)
    config = tmp_path / "agents.yaml"
    config.write_text(text)
    result = run_cli("plan", config)
    assert result.code == 1, result.out + result.err
    (line,) = result.err.strip().splitlines()
    assert line.startswith(f"{config}{message}"), result.err
    assert sim.requests == []


@pytest.mark.parametrize("target", [TWIN, BOT, f"agent:{BOT}"])
def test_a_target_naming_no_entry_of_the_config_is_refused_before_any_request(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, target: str
) -> None:
    # The agent entry names Bot by name only: its id, its twin and its owner key are no entry.
    sim = start_sim(_state(), twins_listed=True)
    config = _config(tmp_path, [], [{"name": "Bot", "numbers": [N101, N105]}])
    result = run_cli("apply", config, "--auto-approve", "--target", target)
    assert result.code == 1, result.out + result.err
    assert f"--target {target!r}: no entry of the config has that name or id" in result.err
    assert sim.requests == []


def test_writes_of_a_move_off_an_agent_send_each_number_as_get_v1_inbound_spells_it(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    # GET /v1/inbound and the twin's entry each spell 105 their own way, and 101 lacks its +.
    sim = start_sim(
        _state(),
        twins_listed=True,
        inbound_spellings={N105: "+1 (415) 555-0105", N101: "14155550101"},
        listing_spellings={N105: "1 415 555 0105"},
    )
    config = _config(
        tmp_path,
        [{"id": SUPPORT, "numbers": [N100, N106, N105]}],
        [{"id": BOT, "numbers": [N102]}],
    )
    result = run_cli("apply", config, "--auto-approve", "--force")
    assert result.code == 0, result.out + result.err
    # The attaches run concurrently: their order is not the point.
    assert sorted((r.path, r.body["inbound_numbers"]) for r in sim.writes()) == sorted(
        [
            (f"/v2/agents/{BOT}/inbound/attach", [N102]),
            (f"/v1/personas/{SUPPORT}/inbound/attach", ["+1 (415) 555-0105"]),
            (f"/v2/agents/{BOT}/inbound/detach", ["14155550101"]),
        ]
    )
    assert run_cli("plan", config, "--detailed-exitcode").code == 0
