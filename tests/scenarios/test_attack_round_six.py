"""Attacks, sixth round, on the reads that make up for a persona list with no snapshot (the CLI
against the simulator over loopback HTTP).

The check after apply reads by id each persona the plan's listing showed and its own does not,
and a second listing that lost a persona refuses numbers that look free. Each test plays a
persona deleted, or a list shifting, between the plan and that check.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.simulator import RequestRecord, Simulator
from reconciler.simulator.api import Reply, json_reply
from tests.conftest import RunCli, write_config
from tests.scenarios import agent_account as agents
from tests.scenarios.conftest import StartSim
from tests.scenarios.test_attack_round_five import Edit, ShiftingList
from tests.simulated import persona_of

# 150 personas: page 1 holds p000 to p099, page 2 p100 to p149 (100 a page).
N100, N101, N102 = "+14155550100", "+14155550101", "+14155550102"
FIRST, GONE, HOLDER, SLIDING = "p000", "p005", "p050", "p100"


def _state() -> dict[str, Any]:
    personas = [{"id": f"p{i:03d}", "name": f"P{i}", "numbers": []} for i in range(150)]
    personas[0]["numbers"] = [N100]
    personas[50]["numbers"] = [N102]
    personas[100]["numbers"] = [N101]
    return {"numbers": [N100, N101, N102], "personas": personas}


def _delete(persona_id: str) -> Edit:
    """The persona leaves the account and the list: every later one moves up by one."""

    def edit(state: dict[str, Any]) -> None:
        state["personas"] = [p for p in state["personas"] if p["id"] != persona_id]

    return edit


def _once_written(sim: Simulator, edit: Edit) -> Callable[[int], Edit | None]:
    """The change made once, at the first listing after a write (the check after apply)."""
    done: list[int] = []

    def at(listing: int) -> Edit | None:
        if done or not sim.writes():
            return None
        done.append(listing)
        return edit

    return at


def _answer_by_id(sim: Simulator, persona_id: str, replies: list[Reply]) -> list[RequestRecord]:
    """GET /v1/personas/{persona_id} answered with `replies` in turn, then by the simulator;
    returns the requests so answered."""
    asked: list[RequestRecord] = []
    earlier = sim.intercept

    def intercept(record: RequestRecord, serve: Callable[[RequestRecord], Reply]) -> Reply:
        if record.method == "GET" and record.path == f"/v1/personas/{persona_id}" and replies:
            asked.append(record)
            return replies.pop(0)
        return serve(record) if earlier is None else earlier(record, serve)

    sim.intercept = intercept
    return asked


def _error(status: int, code: str, message: str) -> Reply:
    return json_reply(status, {"data": None, "errors": [{"error": code, "message": message}]})


def _by_id(sim: Simulator) -> list[str]:
    return [pid for r in sim.reads() if r.method == "GET" and (pid := persona_of(r.path))]


def _move_config(tmp_path: Path) -> Path:
    """N101 moves from P100 to P0; P50 keeps N102."""
    return write_config(
        tmp_path / "routing.yaml",
        [{"id": FIRST, "numbers": [N100, N101]}, {"id": HOLDER, "numbers": [N102]}],
        safety={"allow_emptying": True},
    )


# --- A persona deleted for real between the plan and the check ------------------------------


_DELETED = {
    "id": GONE,
    "name": "P5",
    "tags": [],
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-02T00:00:00Z",
    "deleted_at": "2026-01-02T00:00:00Z",
    "inbound_numbers": [],
}
_NOT_FOUND = "Persona not found or access denied"


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(None, id="404"),
        pytest.param(json_reply(200, {"data": _DELETED, "errors": None}), id="marked-deleted"),
        pytest.param(
            _error(400, "PERSONA_NOT_FOUND", _NOT_FOUND),
            id="400",
        ),
        pytest.param(
            _error(403, "PERSONA_NOT_FOUND", _NOT_FOUND),
            id="403",
        ),
    ],
)
def test_a_persona_deleted_before_the_check_does_not_fail_the_apply(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, answer: Reply | None
) -> None:
    # P5 leaves the account before the check lists the personas: the check reads it by id,
    # once, and it holds nothing.
    sim = start_sim(_state())
    ShiftingList(sim, before=_once_written(sim, _delete(GONE)))
    if answer is not None:
        _answer_by_id(sim, GONE, [answer])

    result = run_cli("apply", _move_config(tmp_path), "--auto-approve")

    assert "Traceback" not in result.err
    assert sim.owners()[N101] == [FIRST]
    assert result.code == 0, result.out + result.err
    assert "verified" in result.out
    assert _by_id(sim).count(GONE) == 1


def test_a_read_by_id_answering_200_with_no_persona_ends_the_apply_unverified(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    # The docs do not say a deleted persona may answer 200 with `data: null`: such an answer
    # is malformed, so the check cannot say where the persona's numbers are, and says so.
    sim = start_sim(_state())
    ShiftingList(sim, before=_once_written(sim, _delete(GONE)))
    _answer_by_id(sim, GONE, [json_reply(200, {"data": None, "errors": None})] * 20)

    result = run_cli("apply", _move_config(tmp_path), "--auto-approve")

    assert "Traceback" not in result.err
    assert result.code == 4, result.out + result.err
    assert "cannot read the account back" in result.out
    assert sim.owners()[N101] == [FIRST]


# --- Agents and their twins -----------------------------------------------------------------

TWIN_A, TWIN_B = "t-a", "t-b"  # the twins of agents ag-a and ag-b, listed on page 1


def _agent_state() -> dict[str, Any]:
    """The account above, P5 and P6 replaced by the twin personas of two agents."""
    state = _state()
    for index, (twin, agent) in enumerate([(TWIN_A, "ag-a"), (TWIN_B, "ag-b")], start=5):
        state["personas"][index] = {"id": twin, "name": agent, "tags": [f"v2-agent:{agent}"]}
    state["agents"] = [{"id": "ag-a", "name": "A"}, {"id": "ag-b", "name": "B"}]
    return state


def _delete_agent(agent: str, twin: str) -> Edit:
    """An agent is deleted with its twin persona, which leaves the list: later ones move up."""

    def edit(state: dict[str, Any]) -> None:
        state["agents"] = [a for a in state["agents"] if a["id"] != agent]
        state["personas"] = [p for p in state["personas"] if p["id"] != twin]

    return edit


def _create(name: str) -> Edit:
    """A persona is created and listed first (newest first): every other moves down by one."""

    def edit(state: dict[str, Any]) -> None:
        state["personas"].insert(0, {"id": name, "name": name, "numbers": []})

    return edit


def test_a_protected_number_both_listings_skip_as_agents_are_deleted_is_never_taken(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    # While page 1 of each listing is served, an agent is deleted with its twin (listed on page
    # 1): P100 slides onto page 1 both times (a persona created before the second listing puts
    # it back on page 2 first). What left the list are twins, never personas.
    sim = start_sim(_agent_state(), twins_listed=True)
    ShiftingList(
        sim,
        before=lambda k: _create("p-new") if k == 2 else None,
        after=lambda k: {1: _delete_agent("ag-a", TWIN_A), 2: _delete_agent("ag-b", TWIN_B)}.get(k),
    )
    config = write_config(
        tmp_path / "routing.yaml", [{"id": FIRST, "numbers": [N100, N101]}], protected=[N101]
    )

    result = run_cli("apply", config, "--auto-approve")

    assert "Traceback" not in result.err
    assert result.code != 0, result.out + result.err
    assert [r.path for r in sim.writes()] == []
    assert sim.owners()[N101] == [SLIDING]


# --- The check after apply reading a skipped persona by id ----------------------------------


def _sliding_check(sim: Simulator) -> ShiftingList:
    """While page 1 of the first listing after a write is served, P5 is deleted: P100 slides
    onto page 1, already read, and that listing skips it."""
    return ShiftingList(sim, after=_once_written(sim, _delete(GONE)))


def test_a_saved_plan_never_exits_0_while_a_moved_number_is_left_on_a_skipped_persona(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    # The attach keeps N101 on P100 too (left open by the docs); the check's listing skips P100.
    sim = start_sim(_state(), attach_mode="keep_old")
    plan_file = tmp_path / "routing.plan"
    assert run_cli("plan", _move_config(tmp_path), "--out", plan_file).code == 0
    listings = _sliding_check(sim)

    result = run_cli("apply", plan_file)

    assert "Traceback" not in result.err
    assert listings.listings >= 3, "no listing was read after the attach"
    assert result.code != 0 or sim.owners()[N101] == [FIRST], result.out + result.err


def test_a_targeted_apply_never_exits_0_while_a_moved_number_is_left_on_a_skipped_persona(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(_state(), attach_mode="keep_old")
    listings = _sliding_check(sim)

    result = run_cli("apply", _move_config(tmp_path), "--target", FIRST, "--auto-approve")

    assert "Traceback" not in result.err
    assert listings.listings >= 2, "no listing was read after the attach"
    assert result.code != 0 or sim.owners()[N101] == [FIRST], result.out + result.err


def test_a_skipped_persona_that_took_a_number_declared_elsewhere_is_put_right_or_reported(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    # Between the plan and the check, N102 (declared on P50) is moved onto P100, which the
    # check's listing then skips.
    sim = start_sim(_state(), attach_mode="keep_old")

    def take_and_slide(state: dict[str, Any]) -> None:
        for persona in state["personas"]:
            numbers = [n for n in persona["numbers"] if n != N102]
            persona["numbers"] = numbers + ([N102] if persona["id"] == SLIDING else [])
        _delete(GONE)(state)

    ShiftingList(sim, after=_once_written(sim, take_and_slide))

    result = run_cli("apply", _move_config(tmp_path), "--auto-approve")

    assert "Traceback" not in result.err
    owners = sim.owners()
    in_place = owners[N101] == [FIRST] and owners[N102] == [HOLDER]
    assert result.code != 0 or in_place, result.out + result.err


def test_a_list_that_shifts_at_every_read_after_the_writes_ends_the_apply(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    # After the attach, every listing loses a persona of page 1 while it is served.
    sim = start_sim(_state(), attach_mode="keep_old")
    doomed = iter(f"p{i:03d}" for i in range(1, 50))
    listings = ShiftingList(sim, after=lambda _: _delete(next(doomed)) if sim.writes() else None)

    result = run_cli("apply", _move_config(tmp_path), "--auto-approve")

    assert "Traceback" not in result.err
    assert listings.listings <= 8, f"{listings.listings} listings"
    assert result.code != 0 or sim.owners()[N101] == [FIRST], result.out + result.err


# --- GET /v1/personas/{id} failing in the check ---------------------------------------------


def test_a_skipped_persona_read_by_id_through_a_429_is_checked(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(_state(), attach_mode="keep_old")
    _sliding_check(sim)
    limited = json_reply(429, {"data": None, "errors": [{"error": "RATE_LIMITED"}]})
    asked = _answer_by_id(sim, SLIDING, [limited])

    result = run_cli("apply", _move_config(tmp_path), "--auto-approve")

    assert "Traceback" not in result.err
    assert asked, "P100 was not read by id"
    assert result.code == 0, result.out + result.err
    assert sim.owners()[N101] == [FIRST]


def test_a_skipped_persona_that_cannot_be_read_ends_the_apply_unverified(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(_state(), attach_mode="keep_old")
    _sliding_check(sim)
    _answer_by_id(sim, SLIDING, [_error(500, "INTERNAL_SERVER_ERROR", "oops")] * 20)

    result = run_cli("apply", _move_config(tmp_path), "--auto-approve")

    assert "Traceback" not in result.err
    assert result.code == 4, result.out + result.err
    assert "cannot read the account back" in result.out


def test_a_holder_only_get_v1_inbound_named_is_checked_when_the_check_skips_it(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    # GET /v1/inbound names each number's persona. The plan's listing skips P100 (P5 deleted
    # while page 1 is served), so P100 is known only from GET /v1/inbound; the check's listing
    # skips it too (P6 deleted likewise). The attach keeps N101 on P100 too.
    sim = start_sim(_state(), attach_mode="keep_old", legacy_inbound_includes_persona=True)
    checked = _once_written(sim, _delete("p006"))
    ShiftingList(sim, after=lambda k: _delete(GONE) if k == 1 else checked(k))

    result = run_cli("apply", _move_config(tmp_path), "--auto-approve")

    assert "Traceback" not in result.err
    assert result.code != 0 or sim.owners()[N101] == [FIRST], result.out + result.err


# --- What the check reads on a steady account -----------------------------------------------


@pytest.mark.parametrize(
    ("twins_listed", "twins_readable"), [(True, False), (False, True), (True, True)]
)
def test_the_check_on_a_steady_account_with_agents_reads_no_persona_by_id(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, twins_listed: bool, twins_readable: bool
) -> None:
    sim = start_sim(agents.state(), twins_listed=twins_listed, twins_readable=twins_readable)
    config = agents.config(
        tmp_path,
        [{"id": agents.SUPPORT, "numbers": [agents.N100, agents.N104, agents.N106]}],
        [{"id": agents.BOT, "numbers": [agents.N101, agents.N105]}],
        safety={"allow_emptying": True},
    )
    by_id_in_plan = run_cli("plan", config).code, _by_id(sim)
    sim.requests.clear()

    result = run_cli("apply", config, "--auto-approve")

    assert result.code == 0, result.out + result.err
    assert by_id_in_plan[0] == 0
    assert _by_id(sim) == by_id_in_plan[1] * 2  # the plan's reads, and the check's: the same


def test_an_agent_deleted_with_its_twin_during_the_check_leaves_the_twin_unread_and_unwritten(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    # While page 1 of the check's listing is served, agent ag-a is deleted with its twin (on
    # page 1): P100, which the attach left holding N101, slides onto page 1 and is skipped.
    sim = start_sim(_agent_state(), twins_listed=True, twins_readable=True, attach_mode="keep_old")
    ShiftingList(sim, after=_once_written(sim, _delete_agent("ag-a", TWIN_A)))

    result = run_cli("apply", _move_config(tmp_path), "--auto-approve")

    assert "Traceback" not in result.err
    assert result.code != 0 or sim.owners()[N101] == [FIRST], result.out + result.err
    assert SLIDING in _by_id(sim)
    assert TWIN_A not in _by_id(sim)


def test_a_list_that_changes_at_every_read_refuses_the_number_it_may_hide_once(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    # Before each listing a persona is created and listed first; while its page 1 is served,
    # one of page 1 is deleted: P100 slides onto page 1 each time, and no listing shows N101.
    sim = start_sim(_state())
    doomed = iter(f"p{i:03d}" for i in range(1, 50))
    created = iter(f"p-new-{i}" for i in range(50))
    listings = ShiftingList(
        sim,
        before=lambda k: _create(next(created)) if k > 1 else None,
        after=lambda _: _delete(next(doomed)),
    )
    config = write_config(tmp_path / "routing.yaml", [{"id": FIRST, "numbers": [N100, N101]}])

    result = run_cli("apply", config, "--auto-approve")

    assert "Traceback" not in result.err
    assert result.code == 1, result.out + result.err
    assert listings.listings == 2
    assert result.err.startswith(f"{config}:"), result.err
    assert len(result.err.splitlines()) == 1, result.err
    assert f"{N101} may be held by a persona both listings may have skipped" in result.err
    assert sim.writes() == []


def test_a_skipped_persona_read_by_id_answered_as_another_ends_the_apply_unverified(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(_state(), attach_mode="keep_old")
    _sliding_check(sim)
    other = {**_DELETED, "id": "p101", "name": "P101", "deleted_at": None}
    _answer_by_id(sim, SLIDING, [json_reply(200, {"data": other, "errors": None})])

    result = run_cli("apply", _move_config(tmp_path), "--auto-approve")

    assert "Traceback" not in result.err
    assert result.code == 4, result.out + result.err
    assert "the answer is persona 'p101', not the one asked for" in result.out
