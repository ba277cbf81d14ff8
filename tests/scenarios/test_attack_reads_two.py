"""Attacks on how the account is read, second round: a GET /v1/inbound entry that shows
`persona_id`, `pathway_id` and `prompt` taken as its number's route (no GET
/v1/inbound/{number}), and the persona listing's read-ahead.

GET /v1/inbound is read beside the first page of the listing, the number's own record after
the whole listing: a number that looks free is read again by number to find what the listing
may have missed.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.simulator.api import Reply
from tests.conftest import CONFIG, Result, RunCli, write_config, writes
from tests.scenarios import agent_account
from tests.scenarios.conftest import StartSim
from tests.scenarios.test_attack_reads import FREE_ENTRY, rewrite_inbound, set_pathway
from tests.simulated import Simulator

FREE = "+14155550101"  # declared on Support in the example config, on no persona
HELD = "+14155550102"  # declared on Support, held by Legacy IVR
SUPPORT = "7b0c4a9e-1d2f-4c3b-9a8e-5f6d7c8b9a01"
AFTER_HOURS = "3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a05"
OWNERS = {"legacy_inbound_includes_persona": True}  # GET /v1/inbound names owners
BOTH = {**OWNERS, "inbound_shows_routing": True}  # ... and shows pathway_id and prompt
Entries = list[dict[str, Any]]


def no_crash(result: Result) -> None:
    for text in (result.out, result.err):
        assert "Traceback" not in text
        assert "unexpected" not in text, text


def after_reads(sim: Simulator, reads: set[str], change: Callable[[], None]) -> None:
    """`change` runs once, as soon as every read of `reads` ("inbound", "page N") has been
    answered: each was answered before it."""
    before, served, done, lock = sim.intercept, set[str](), list[bool](), threading.Lock()

    def intercept(record: Any, serve: Any) -> Reply:
        reply: Reply = serve(record) if before is None else before(record, serve)
        key = "inbound" if record.path == "/v1/inbound" else ""
        if record.path == "/v1/personas":
            key = f"page {record.query.get('page')}"
        with lock:
            served.add(key)
            fire = not done and served >= reads
            done.extend([True] if fire else [])
        if fire:
            change()
        return reply

    sim.intercept = intercept


# -- a dashboard edit racing the read ----------------------------------------------------------


def given_to_after_hours(sim: Simulator) -> str:
    sim.set_owner(FREE, AFTER_HOURS)
    return "'After Hours'"


def bound_to_a_pathway(sim: Simulator) -> str:
    set_pathway(sim, FREE, "pw-late")
    return "pathway pw-late"


@pytest.mark.parametrize("change", [given_to_after_hours, bound_to_a_pathway])
@pytest.mark.parametrize(
    "switches",
    [
        pytest.param(OWNERS, id="record-read"),
        pytest.param(BOTH, id="entry-taken"),
    ],
)
def test_a_protected_number_given_an_owner_once_its_entry_was_read_is_not_taken(
    start_sim: StartSim,
    run_cli: RunCli,
    tmp_path: Path,
    switches: dict[str, bool],
    change: Callable[[Simulator], str],
) -> None:
    """FREE, protected, is given to After Hours (or bound to a pathway) in the dashboard once
    page 1 was answered: the listing does not show it; GET /v1/inbound, read after the listing,
    or the number's own record does. Taking it is a move of a protected number: refused."""
    sim = start_sim(**switches)
    source: list[str] = []
    after_reads(sim, {"page 1"}, lambda: source.append(change(sim)))
    document = yaml.safe_load(CONFIG.read_text())
    config = write_config(tmp_path / "p.yaml", document["personas"], protected=[FREE])

    result = run_cli("apply", config, "--auto-approve", "--force")

    no_crash(result)
    assert result.code == 3, result.out + result.err
    assert f"{FREE} is protected and the plan moves it from {source[0]}" in result.err
    assert writes(sim) == []
    assert FREE not in sim.persona_numbers(SUPPORT)


@pytest.mark.parametrize(
    "switches",
    [
        pytest.param(OWNERS, id="record-read"),
        pytest.param(BOTH, id="entry-taken"),
    ],
)
def test_a_number_given_to_an_agent_once_its_entry_was_read_is_taken_as_a_move(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, switches: dict[str, bool]
) -> None:
    """Bot's twin is neither listed nor readable: GET /v1/inbound and the number's own record,
    both read after the listing, are all that show Bot's numbers. N102 is given to Bot once
    page 1 was answered; the file declares it on Support."""
    sim = start_sim(copy.deepcopy(agent_account.STATE), **switches)
    n102 = agent_account.N102
    after_reads(sim, {"page 1"}, lambda: sim.set_owner(n102, agent_account.TWIN))
    numbers = [agent_account.N100, agent_account.N106, n102]
    config = agent_account.config(tmp_path, [{"id": agent_account.SUPPORT, "numbers": numbers}], [])

    result = run_cli("plan", config)

    no_crash(result)
    assert result.code == 0, result.out + result.err
    assert f"~ {n102} (from agent 'Bot')" in result.out, result.out


# -- the listing's read-ahead on a listing that shrinks while it is read -------------------------

PAGE = 2  # personas a page, as a server capping `limit` sends them
SLID, TAKER, LAST = "+14155550400", "p-039", "p-040"


def last_alone() -> dict[str, Any]:
    """41 personas, pages of 2: LAST, alone on page 21, holds SLID."""
    personas = [{"id": f"p-{i:03d}", "name": f"P{i:03d}", "numbers": []} for i in range(41)]
    personas[40]["numbers"] = [SLID]
    return {"numbers": [{"phone_number": SLID}], "personas": personas}


def shrinks_between(sim: Simulator, read: int, unread: int) -> None:
    """Once pages 1 to `read` are answered, the first persona is hard-deleted (every later one
    moves up a place); page `unread` is answered only after that."""
    before, deleted = sim.intercept, threading.Event()
    answered, lock = set[int](), threading.Lock()

    def intercept(record: Any, serve: Any) -> Reply:
        page = int(record.query.get("page", 0)) if record.path == "/v1/personas" else 0
        if page == unread:
            deleted.wait(10)  # the pages are asked for at once: answered in this order
        reply: Reply = serve(record) if before is None else before(record, serve)
        with lock:
            answered.add(page)
            due = not deleted.is_set() and answered.issuperset(range(1, read + 1))
            if due:
                with sim.lock:
                    del sim.account.personas[sim.account.order.pop(0)]
                deleted.set()
        return reply

    sim.intercept = intercept


@pytest.mark.parametrize(
    "switches", [pytest.param({}, id="owners-unnamed"), pytest.param(BOTH, id="owners-named")]
)
def test_a_listing_that_shrank_while_it_was_read_never_hides_the_holder_of_a_protected_number(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, switches: dict[str, bool]
) -> None:
    """As the export below: P040 holds SLID and is on no page the listing read. Taking SLID
    (protected) is a move from P040, found by the second listing or named by GET /v1/inbound."""
    sim = start_sim(last_alone(), limit_cap=PAGE, **switches)
    shrinks_between(sim, 20, 21)
    config = write_config(tmp_path / "p.yaml", [{"id": TAKER, "numbers": [SLID]}], protected=[SLID])

    result = run_cli("apply", config, "--auto-approve")

    no_crash(result)
    assert result.code == 3, result.out + result.err
    moved = f"{SLID} is protected and the plan moves it from"
    assert f"{moved} 'P040'" in result.err or f"{moved} 'p-040'" in result.err, result.err
    assert writes(sim) == []


@pytest.mark.parametrize(
    "switches", [pytest.param({}, id="owners-unnamed"), pytest.param(OWNERS, id="owners-named")]
)
def test_an_export_of_a_listing_that_shrank_while_it_was_read_leaves_no_holder_out(
    start_sim: StartSim, run_cli: RunCli, switches: dict[str, bool]
) -> None:
    """P040, alone on page 21, holds SLID the whole time; P000 is deleted once page 20 is read,
    so page 21 is empty when read and P040 is on page 20, already read. Plan and apply find
    P040 again (a second listing, or GET /v1/inbound's owner). The export must hold SLID on
    P040, or be refused; a file that leaves it out is not the account."""
    sim = start_sim(last_alone(), limit_cap=PAGE, **switches)
    shrinks_between(sim, 20, 21)

    result = run_cli("export")

    no_crash(result)
    assert result.code == 1 or SLID in result.out, result.out + result.err
    assert result.code != 0 or LAST in result.out, result.out


# -- pages asked for past the end of the listing -------------------------------------------------

PAST_THE_END = {"errors": [{"error": "PAGE_OUT_OF_RANGE", "message": "no such page"}]}


@pytest.mark.parametrize(
    "status",
    [
        404,
        403,
    ],
)
def test_a_page_past_the_end_answering_an_error_is_dropped_or_reported_as_itself(
    start_sim: StartSim, run_cli: RunCli, status: int
) -> None:
    """The example account's personas fit on page 1; page 2 is empty and page 3, asked for
    ahead, answers an error. A 404 there is the end of the list, a 403 a key refused: the run
    stops and says so."""
    sim = start_sim()
    before, page_two = sim.intercept, threading.Event()

    def intercept(record: Any, serve: Any) -> Reply:
        if record.path == "/v1/personas" and record.query.get("page") == "3":
            page_two.wait(10)  # answered after it, else page 2 is stopped
            return Reply(status, json.dumps(PAST_THE_END).encode())
        reply: Reply = serve(record) if before is None else before(record, serve)
        if record.path == "/v1/personas" and record.query.get("page") == "2":
            page_two.set()
        return reply

    sim.intercept = intercept

    result = run_cli("apply", CONFIG, "--auto-approve", "--force")

    no_crash(result)
    if status == 404:
        assert result.code == 0, result.out + result.err
        assert FREE in sim.persona_numbers(SUPPORT)
    else:
        assert result.code == 1, result.out + result.err
        assert writes(sim) == []
        assert "GET /v1/personas" in result.err and str(status) in result.err, result.err


# -- what an entry shows, against the other readings ---------------------------------------------

ENTRIES_SHOWN = {
    # The listing shows HELD on Legacy IVR, spelled otherwise there and in GET /v1/inbound,
    # whose entry shows it free: the held reading wins.
    "held-spelled-otherwise": (
        HELD,
        FREE_ENTRY,
        {
            "listing_spellings": {HELD: "(415) 555-0102"},
            "inbound_spellings": {HELD: "1 415 555 0102"},
        },
        "'Legacy IVR'",
    ),
    # persona_id 0, a number: an id as the API may send one, named, so no route is taken.
    "persona-id-zero": (FREE, {**FREE_ENTRY, "persona_id": 0}, {}, "'0'"),
}


@pytest.mark.parametrize(
    ("number", "shown", "switches", "source"), ENTRIES_SHOWN.values(), ids=ENTRIES_SHOWN
)
def test_what_an_entry_shows_never_makes_taking_a_held_number_an_attach(
    start_sim: StartSim,
    run_cli: RunCli,
    number: str,
    shown: dict[str, Any],
    switches: dict[str, Any],
    source: str,
) -> None:
    sim = start_sim(**BOTH, **switches)
    spelled = switches.get("inbound_spellings", {}).get(number, number)
    rewrite_inbound(sim, lambda entries: [{**e, **shown} if e["phone_number"] == spelled else e
                                          for e in entries])  # fmt: skip

    result = run_cli("plan", CONFIG, "--force")

    no_crash(result)
    assert result.code == 0, result.err
    assert f"~ {number} (from {source})" in result.out, result.out
    assert "\x1b" not in result.out + result.err and "Answer politely" not in result.out
