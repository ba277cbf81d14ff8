"""Attacks on routing numbers to v2 agents: the CLI against the simulator over loopback HTTP.

Each test plays a careless user or a hostile account. Those that once showed a bug now guard
its fix; the others are attacks the code survives, kept so it goes on surviving them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import Settings
from reconciler.simulator import Simulator
from reconciler.simulator.api import Reply
from tests.conftest import RunCli
from tests.scenarios.agent_account import (
    BOT,
    N100,
    N101,
    N102,
    N103,
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


def _v1_writes_to_twin(sim: Simulator) -> list[str]:
    return [record.path for record in sim.writes() if TWIN in record.path]


CLAIMS = {
    "by a persona": ([{"id": SUPPORT, "numbers": [N100, N106, N101]}], []),
    "by another agent": ([], [{"id": NEW, "numbers": [N101]}]),
}


@pytest.mark.parametrize(("personas", "agents"), CLAIMS.values(), ids=CLAIMS)
def test_a_protected_number_on_an_agent_no_read_shows_is_never_moved(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, personas: list[Any], agents: list[Any]
) -> None:
    # Twins neither listed nor readable, GET /v1/inbound names no owner: the agent's numbers
    # cannot be seen. An entry claiming one must not take it on a guess that it is free.
    sim = start_sim(_state())
    config = _config(tmp_path, personas, agents, protected=[N101])
    result = run_cli("apply", config, "--auto-approve", "--force")
    assert result.code in (1, 3), result.out + result.err
    assert _writes(sim) == []
    assert N101 in sim.persona_numbers(TWIN)


def test_emptying_an_agent_no_read_shows_trips_a_valve_or_is_refused(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(_state())
    config = _config(tmp_path, [{"id": SUPPORT, "numbers": [N100, N106, N101, N105]}], [])
    result = run_cli("apply", config, "--auto-approve")
    assert result.code in (1, 3), result.out + result.err
    assert _writes(sim) == []


def test_the_twin_of_an_agent_past_the_500_listed_is_never_written_through_v1(
    start_sim_past_the_agent_list: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    # GET /v1/personas lists the twin, tagged v2-agent:ag-bot; GET /v2/agents stops at 500
    # newest and leaves Bot out.
    sim = start_sim_past_the_agent_list(twins_listed=True)
    config = _config(tmp_path, [{"id": TWIN, "numbers": [N101, N105, N102]}], [])
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 1, result.out + result.err
    assert _v1_writes_to_twin(sim) == []


def test_export_never_writes_the_twin_of_an_agent_past_the_500_listed_as_a_persona(
    start_sim_past_the_agent_list: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    start_sim_past_the_agent_list(twins_listed=True)
    exported = tmp_path / "exported.yaml"
    result = run_cli("export", "--out", exported)
    assert result.code in (0, 1), result.out + result.err
    assert not exported.exists() or TWIN not in exported.read_text()


def test_an_agent_past_the_500_listed_is_found_by_id_and_routed(
    start_sim_past_the_agent_list: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim_past_the_agent_list(twins_listed=True)
    config = _config(tmp_path, [], [{"id": BOT, "numbers": [N101, N105, N102]}])
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 0, result.out + result.err
    assert _writes(sim) == [(f"/v2/agents/{BOT}/inbound/attach", [N102])]
    assert run_cli("plan", config, "--detailed-exitcode").code == 0


def test_an_agent_past_the_500_listed_is_refused_by_name_with_nothing_written(
    start_sim_past_the_agent_list: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim_past_the_agent_list(twins_listed=True)
    config = _config(tmp_path, [], [{"name": "New", "numbers": [N102]}])
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 1, result.out + result.err
    assert "give its id" in result.err
    assert _writes(sim) == []


def _changed(sim: Simulator, change: Any) -> None:
    """The account as the dashboard leaves it after `change(state)`."""
    state = sim.export_state()
    change(state)
    sim.load(state)


def _delete_bot(state: dict[str, Any]) -> None:
    next(a for a in state["agents"] if a["id"] == BOT)["deleted_at"] = "2026-12-06T00:00:00Z"


def _attach_to_new(state: dict[str, Any]) -> None:
    # Someone's first attach to agent New makes its twin, taking +14155550100 from Support.
    support = next(p for p in state["personas"] if p["id"] == SUPPORT)
    support["numbers"] = [n for n in support["numbers"] if n != N100]
    state["personas"].append(
        {"id": "p-twin-new", "name": "New", "numbers": [N100], "tags": [f"v2-agent:{NEW}"]}
    )


CHANGES_WHILE_WAITING = {"the agent is deleted": _delete_bot, "a twin is made": _attach_to_new}


@pytest.mark.parametrize("reading", [{"twins_listed": True}, {"twins_readable": True}])
@pytest.mark.parametrize("change", CHANGES_WHILE_WAITING.values(), ids=CHANGES_WHILE_WAITING)
def test_an_agent_changed_while_the_plan_waits_for_confirmation_writes_nothing(
    start_sim: StartSim,
    run_cli: RunCli,
    seams: Settings,
    tmp_path: Path,
    reading: dict[str, bool],
    change: Any,
) -> None:
    sim = start_sim(_state(), **reading)
    config = _config(
        tmp_path,
        [{"id": SUPPORT, "numbers": [N100, N106]}],
        [{"id": BOT, "numbers": [N101, N105, N102]}, {"id": NEW, "numbers": [N104]}],
    )
    seams.confirm = lambda: _changed(sim, change)
    result = run_cli("apply", config, "--force")
    assert "Traceback" not in result.err
    assert result.code in (1, 3), result.out + result.err
    assert _writes(sim) == []


@pytest.mark.parametrize("reading", [{"twins_listed": True}, {"twins_readable": True}])
def test_a_saved_plan_for_an_agent_deleted_since_writes_nothing(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, reading: dict[str, bool]
) -> None:
    sim = start_sim(_state(), **reading)
    config = _config(tmp_path, [], [{"id": BOT, "numbers": [N101, N105, N102]}])
    saved = tmp_path / "saved.plan.json"
    assert run_cli("plan", config, "--out", saved).code == 0
    _changed(sim, _delete_bot)
    result = run_cli("apply", saved)
    assert "Traceback" not in result.err
    assert result.code in (1, 3), result.out + result.err
    assert len(result.err.strip().splitlines()) <= 3, result.err
    assert "ag-bot" in result.err, result.err
    assert _writes(sim) == []


SPELLINGS = {
    "twin lists a number without +": {"listing_spellings": {N101: "14155550101"}},
    "twin lists a number with spaces": {"listing_spellings": {N105: "+1 415 555 0105"}},
    "account spells a free number its way": {"inbound_spellings": {N102: "+1 (415) 555-0102"}},
    "account and twin spell one number two ways": {
        "inbound_spellings": {N101: "+1-415-555-0101"},
        "listing_spellings": {N101: "1 415 555 0101"},
    },
}


@pytest.mark.parametrize("reading", [{"twins_listed": True}, {"twins_readable": True}])
@pytest.mark.parametrize("spellings", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_numbers_spelled_otherwise_route_to_an_agent_and_round_trip(
    start_sim: StartSim,
    run_cli: RunCli,
    tmp_path: Path,
    reading: dict[str, bool],
    spellings: dict[str, dict[str, str]],
) -> None:
    sim = start_sim(_state(), **reading, **spellings)
    config = _config(tmp_path, [], [{"id": BOT, "numbers": [N101, N105, N102]}])
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 0, result.out + result.err
    account_spelling = spellings.get("inbound_spellings", {}).get(N102, N102)
    attaches = [r.body["inbound_numbers"] for r in sim.writes() if r.status == 200]
    assert attaches == [[account_spelling]]  # v2 wants each number as the account spells it
    assert run_cli("plan", config, "--detailed-exitcode").code == 0
    exported = tmp_path / "exported.yaml"
    assert run_cli("export", "--out", exported).code == 0
    assert TWIN not in exported.read_text()
    assert run_cli("plan", exported, "--detailed-exitcode").code == 0


def _answering(sim: Simulator, method: str, path: str, body: bytes) -> None:
    """Every answer to `method path` is replaced by a 200 with `body` (the write still done)."""
    serve_before = sim.intercept

    def intercept(record: Any, serve: Any) -> Reply:
        reply = serve(record) if serve_before is None else serve_before(record, serve)
        if record.method == method and record.path == path:
            return Reply(200, body)
        return reply

    sim.intercept = intercept


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


BOT_PATH, BOT_INBOUND = f"/v2/agents/{BOT}", f"/v2/agents/{BOT}/inbound"
MALFORMED_READS = {
    "list: not json": ("/v2/agents", b"<html>oops</html>"),
    "list: data null": ("/v2/agents", _json({"data": None, "errors": None})),
    "list: an agent is a string": ("/v2/agents", _json({"data": [BOT]})),
    "list: an id is a list": ("/v2/agents", _json({"data": [{"id": [BOT], "name": "Bot"}]})),
    "list: an id is true": ("/v2/agents", _json({"data": [{"id": True, "name": "Bot"}]})),
    "agent: another agent": (BOT_PATH, _json({"data": {"id": NEW, "name": "New"}})),
    "agent: data a list": (BOT_PATH, _json({"data": [{"id": BOT}]})),
    "binding: another agent": (BOT_INBOUND, _json({"data": {"agent_id": NEW,
                                                            "persona_id": TWIN}})),
    "binding: persona_id an object": (BOT_INBOUND, _json({"data": {"agent_id": BOT,
                                                                   "persona_id": {"id": TWIN}}})),
    "binding: no persona_id": (BOT_INBOUND, _json({"data": {"agent_id": BOT}})),
    "binding: data a list": (BOT_INBOUND, _json({"data": [TWIN]})),
    "binding: a twin that is a plain persona": (BOT_INBOUND, _json({"data": {
        "agent_id": BOT, "persona_id": SALES}})),
}  # fmt: skip


@pytest.mark.parametrize(("path", "body"), MALFORMED_READS.values(), ids=MALFORMED_READS)
def test_a_malformed_agent_read_stops_the_run_in_one_line_before_any_write(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, path: str, body: bytes
) -> None:
    sim = start_sim(_state(), twins_listed=True)
    _answering(sim, "GET", path, body)
    config = _config(tmp_path, [{"id": SALES, "numbers": [N104, N102]}],
                     [{"id": BOT, "numbers": [N101, N105, N100]}])  # fmt: skip
    result = run_cli("apply", config, "--auto-approve", "--force")
    assert "Traceback" not in result.err
    assert result.code in (1, 2), result.out + result.err
    assert len(result.err.strip().splitlines()) <= 3, result.err
    assert _writes(sim) == []


def _writes_answered_but_not_done(sim: Simulator, path_end: str, answer: bytes) -> None:
    """Writes whose path ends with `path_end` are answered 200 with `answer` and not done."""

    def intercept(record: Any, serve: Any) -> Reply:
        if record.method == "POST" and record.path.endswith(path_end):
            return Reply(200, answer)
        return serve(record)

    sim.intercept = intercept


LYING_WRITES = {
    "v2 attach": ("/inbound/attach", {"data": {"agent_id": BOT}, "errors": None},
                  [{"id": SUPPORT, "numbers": [N106]}],
                  [{"id": BOT, "numbers": [N101, N105, N100]}]),
    "v2 attach, empty answer": ("/inbound/attach", None,
                                [{"id": SUPPORT, "numbers": [N106]}],
                                [{"id": BOT, "numbers": [N101, N105, N100]}]),
    "v2 detach": ("/inbound/detach", {"data": {"agent_id": BOT, "detached_count": 1},
                                      "errors": None},
                  [], [{"id": BOT, "numbers": [N101]}]),
    "v1 attach from an agent": ("/inbound/attach", {"data": {"id": SUPPORT, "name": "Support",
                                "inbound_numbers": [N100, N106, N101]}, "errors": None},
                                [{"id": SUPPORT, "numbers": [N100, N106, N101]}],
                                [{"id": BOT, "numbers": [N105]}]),
}  # fmt: skip


@pytest.mark.parametrize("reading", [{"twins_listed": True}, {"twins_readable": True}])
@pytest.mark.parametrize(
    ("path_end", "answer", "personas", "agents"), LYING_WRITES.values(), ids=LYING_WRITES
)
def test_a_write_answered_ok_but_not_done_never_ends_in_exit_0(
    start_sim: StartSim,
    run_cli: RunCli,
    tmp_path: Path,
    reading: dict[str, bool],
    path_end: str,
    answer: Any,
    personas: list[Any],
    agents: list[Any],
) -> None:
    sim = start_sim(_state(), **reading)
    before = sim.export_state()
    _writes_answered_but_not_done(sim, path_end, b"" if answer is None else _json(answer))
    result = run_cli("apply", _config(tmp_path, personas, agents), "--auto-approve", "--force")
    assert "Traceback" not in result.err
    assert result.code == 4, result.out + result.err
    assert "not converged" in result.out
    assert sim.export_state() == before


@pytest.mark.parametrize("reading", [{"twins_listed": True}, {"twins_readable": True}])
def test_an_agent_deleted_during_the_writes_ends_incomplete_leaving_numbers_routed(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, reading: dict[str, bool]
) -> None:
    sim = start_sim(_state(), **reading)
    serve_before = sim.intercept

    def delete_bot_at_the_first_write(record: Any, serve: Any) -> Reply:
        if record.method == "POST" and not any(a["deleted_at"] for a in _agents(sim)):
            _changed(sim, _delete_bot)
        return serve(record) if serve_before is None else serve_before(record, serve)

    sim.intercept = delete_bot_at_the_first_write
    config = _config(tmp_path, [{"id": SALES, "numbers": [N104, N102]}],
                     [{"id": BOT, "numbers": [N101, N105, N100]}])  # fmt: skip
    result = run_cli("apply", config, "--auto-approve")
    assert "Traceback" not in result.err
    assert result.code in (1, 4), result.out + result.err
    assert "Bot" in result.out + result.err
    assert sim.owners()[N100] == [SUPPORT]  # the move that could not happen left it answered


def _agents(sim: Simulator) -> list[dict[str, Any]]:
    agents: list[dict[str, Any]] = sim.export_state()["agents"]
    return agents


ODD_NAMES = ["Bot: #1 'x' \"y\"", "- yes", "null", "", "🤖 Bot", "Line\nbreak", "  padded  ",
             "Support", "New"]  # fmt: skip


@pytest.mark.parametrize("reading", [{"twins_listed": True}, {"twins_readable": True},
                                     {"legacy_inbound_includes_persona": True}])  # fmt: skip
@pytest.mark.parametrize("name", ODD_NAMES)
def test_export_round_trips_an_account_with_agents_oddly_named(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, reading: dict[str, bool], name: str
) -> None:
    state = _state()
    next(a for a in state["agents"] if a["id"] == BOT)["name"] = name
    state["numbers"][1] = {"phone_number": N101, "label": f"{name} desk"}
    sim = start_sim(state, **reading)
    exported = tmp_path / "exported.yaml"
    result = run_cli("export", "--out", exported)
    assert result.code == 0, result.out + result.err
    assert TWIN not in exported.read_text()
    plan = run_cli("plan", exported, "--detailed-exitcode")
    assert plan.code == 0, plan.out + plan.err
    assert run_cli("apply", exported, "--auto-approve").code == 0
    assert sim.writes() == []


@pytest.mark.parametrize("reading", [{"twins_listed": True}, {"twins_readable": True}])
def test_export_round_trips_two_agents_of_one_name_and_a_persona_of_that_name(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, reading: dict[str, bool]
) -> None:
    state = _state()
    next(a for a in state["agents"] if a["id"] == NEW)["name"] = "Bot"
    next(p for p in state["personas"] if p["id"] == SALES)["name"] = "Bot"
    state["personas"].append(
        {"id": "p-twin-new", "name": "Bot", "numbers": [N102], "tags": [f"v2-agent:{NEW}"]}
    )
    sim = start_sim(state, **reading)
    exported = tmp_path / "exported.yaml"
    assert run_cli("export", "--out", exported).code == 0
    plan = run_cli("plan", exported, "--detailed-exitcode")
    assert plan.code == 0, plan.out + plan.err
    assert run_cli("apply", exported, "--auto-approve").code == 0
    assert sim.writes() == []


def _bot_deleted_holding_numbers() -> dict[str, Any]:
    # The docs leave open what deleting an agent does to its numbers: here they stay on its
    # twin, which is still tagged v2-agent:ag-bot.
    state = _state()
    _delete_bot(state)
    return state


@pytest.mark.parametrize("command", ["export", "apply"])
def test_the_twin_of_a_deleted_agent_is_never_a_persona(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, command: str
) -> None:
    sim = start_sim(_bot_deleted_holding_numbers(), twins_listed=True, twins_readable=True)
    if command == "export":
        result = run_cli("export")
        assert TWIN not in result.out
    else:
        config = _config(tmp_path, [{"id": TWIN, "numbers": [N101]}], [])
        run_cli("apply", config, "--auto-approve", "--force")
        assert _v1_writes_to_twin(sim) == []


@pytest.mark.parametrize("reading", [{"twins_listed": True}, {"twins_readable": True}])
@pytest.mark.parametrize("mode", ["steal", "refuse", "refuse_as_invalid", "keep_old"])
def test_a_move_from_an_agent_to_a_persona_never_writes_the_twin_through_v1(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, reading: dict[str, bool], mode: str
) -> None:
    sim = start_sim(_state(), attach_mode=mode, **reading)
    config = _config(
        tmp_path, [{"id": SUPPORT, "numbers": [N100, N106, N101]}], [{"id": BOT, "numbers": [N105]}]
    )
    result = run_cli("apply", config, "--auto-approve")
    assert "Traceback" not in result.err
    assert _v1_writes_to_twin(sim) == []
    if result.code == 0:
        assert sim.owners()[N101] == [SUPPORT]
        assert run_cli("plan", config, "--detailed-exitcode").code == 0
    else:
        assert result.code == 4, result.out + result.err
        assert sim.owners()[N101] != []  # never left unrouted


PROTECTED_MOVES = {
    "agent to agent": ([], [{"id": NEW, "numbers": [N101]}, {"id": BOT, "numbers": [N105]}], N101),
    "persona to agent": ([{"id": SUPPORT, "numbers": [N106]}],
                         [{"id": BOT, "numbers": [N101, N105, N100]}], N100),
    "pathway to agent": ([], [{"id": BOT, "numbers": [N101, N105, N103]}], N103),
    "agent emptied": ([], [{"id": BOT, "numbers": [N105]}], N101),
}  # fmt: skip


@pytest.mark.parametrize("reading", [{"twins_listed": True}, {"twins_readable": True},
                                     {"legacy_inbound_includes_persona": True}])  # fmt: skip
@pytest.mark.parametrize(("personas", "agents", "number"), PROTECTED_MOVES.values(),
                         ids=PROTECTED_MOVES)  # fmt: skip
def test_a_protected_number_never_moves_between_kinds(
    start_sim: StartSim,
    run_cli: RunCli,
    tmp_path: Path,
    reading: dict[str, bool],
    personas: list[Any],
    agents: list[Any],
    number: str,
) -> None:
    sim = start_sim(_state(), **reading)
    config = _config(tmp_path, personas, agents, protected=[number])
    result = run_cli("apply", config, "--auto-approve", "--force")
    assert "Traceback" not in result.err
    assert result.code == 3, result.out + result.err
    assert f"{number} is protected" in result.err
    assert _writes(sim) == []


@pytest.mark.parametrize(
    "reading",
    [
        {"twins_listed": True},
        {"legacy_inbound_includes_persona": True},
        {"twins_readable": True},
    ],
)
def test_a_protected_number_of_an_agent_past_the_500_listed_never_moves(
    start_sim_past_the_agent_list: StartSim,
    run_cli: RunCli,
    tmp_path: Path,
    reading: dict[str, bool],
) -> None:
    sim = start_sim_past_the_agent_list(**reading)
    config = _config(
        tmp_path, [{"id": SUPPORT, "numbers": [N100, N106, N101]}], [], protected=[N101]
    )
    result = run_cli("apply", config, "--auto-approve", "--force")
    assert result.code in (1, 3), result.out + result.err
    assert _writes(sim) == []


AGENT_WRITE_ANSWERS = {
    "403 forbidden role": (403, {"data": None, "errors": [{"error": "FORBIDDEN",
                                                           "message": "Role lacks access"}]}),
    "409 stale head": (409, {"data": None, "errors": [{"error": "STALE_HEAD", "message": "x"}]}),
    "404 no versions": (404, {"data": None, "errors": [{"error": "NO_VERSIONS",
                                                        "message": "No versions"}]}),
    "400 errors as a string": (400, {"data": None, "errors": "INVALID_BODY: bad"}),
    "200 with errors": (200, {"data": None, "errors": [{"error": "INVALID_INBOUND_NUMBERS",
                                                        "message": "not yours"}]}),
    "200 a bare list": (200, []),
    "502 html": (502, None),
}  # fmt: skip


@pytest.mark.parametrize(
    ("status", "answer"), AGENT_WRITE_ANSWERS.values(), ids=AGENT_WRITE_ANSWERS
)
def test_an_agent_write_refused_or_garbled_ends_incomplete_with_numbers_routed(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, status: int, answer: Any
) -> None:
    sim = start_sim(_state(), twins_listed=True)

    def intercept(record: Any, serve: Any) -> Reply:
        if record.method == "POST" and record.path.startswith("/v2/"):
            body = b"<html>502</html>" if answer is None else _json(answer)
            return Reply(status, body)
        return serve(record)

    sim.intercept = intercept
    config = _config(tmp_path, [{"id": SUPPORT, "numbers": [N106]}],
                     [{"id": BOT, "numbers": [N101, N105, N100]}])  # fmt: skip
    result = run_cli("apply", config, "--auto-approve")
    assert "Traceback" not in result.err
    assert result.code == (1 if status == 403 else 4), result.out + result.err  # 403: stop
    assert "Bot" in result.out
    assert sim.owners()[N100] == [SUPPORT]


def test_one_agent_listed_by_id_and_again_by_name_is_refused_with_nothing_written(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(_state(), twins_listed=True)
    config = _config(
        tmp_path, [], [{"id": BOT, "numbers": [N101, N105]}, {"name": "Bot", "numbers": [N102]}]
    )
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 1, result.out + result.err
    assert "agent 'Bot' is listed twice" in result.err
    assert _writes(sim) == []
