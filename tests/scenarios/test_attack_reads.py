"""Attacks on how the account is read: a GET /v1/inbound entry that shows `persona_id`,
`pathway_id` and `prompt` taken as its number's route (no GET /v1/inbound/{number}), and the
persona listing's read-ahead.

What answers a declared number that looks free decides whether taking it is a plain attach or a
move the plan shows and the valves and `protected:` see; an answer that shows a number free
where another reading shows it held must never make the take an unseen steal.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.simulator.api import Reply
from tests.conftest import CONFIG, TEST_KEY, Result, RunCli, write_config, writes
from tests.scenarios import agent_account
from tests.scenarios.conftest import StartSim
from tests.scenarios.test_listing_skew import (
    X_NUMBER,
    Y_NUMBER,
    N,
    X,
    Z,
    moved_to_page_one_after_it_was_read,
    two_pages,
)
from tests.simulated import Simulator

FREE = "+14155550101"  # declared on Support in the example config, on no persona
HELD = "+14155550102"  # declared on Support, held by Legacy IVR
SUPPORT = "7b0c4a9e-1d2f-4c3b-9a8e-5f6d7c8b9a01"
AFTER_HOURS = "3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a05"
BOTH = {"legacy_inbound_includes_persona": True, "inbound_shows_routing": True}
Entries = list[dict[str, Any]]


def no_crash(result: Result) -> None:
    for text in (result.out, result.err):
        assert TEST_KEY not in text
        assert "Traceback" not in text
        assert "unexpected" not in text, text


def rewrite_inbound(sim: Simulator, edit: Callable[[Entries], Entries]) -> None:
    """Every answer of GET /v1/inbound has its entries passed through `edit`."""
    before = sim.intercept  # the test faults' own, played first

    def intercept(record: Any, serve: Any) -> Reply:
        reply: Reply = serve(record) if before is None else before(record, serve)
        if record.method != "GET" or record.path != "/v1/inbound" or reply.status != 200:
            return reply
        answer = json.loads(reply.payload)
        answer["inbound_numbers"] = edit(answer["inbound_numbers"])
        return Reply(200, json.dumps(answer).encode())

    sim.intercept = intercept


def set_pathway(sim: Simulator, number: str, pathway_id: str) -> None:
    with sim.lock:
        sim.account.numbers[number].pathway_id = pathway_id


def entry_of(entries: Entries, number: str) -> dict[str, Any]:
    return next(e for e in entries if e["phone_number"] == number)


# -- one number shown by two entries ----------------------------------------------------------

FREE_ENTRY = {"persona_id": None, "pathway_id": None, "prompt": None}


def duplicated(spelling: str, first: bool) -> Callable[[Entries], Entries]:
    """GET /v1/inbound shows FREE a second time (as `spelling`), free, before or after its own."""

    def edit(entries: Entries) -> Entries:
        again = {**entry_of(entries, FREE), **FREE_ENTRY, "phone_number": spelling}
        return [again, *entries] if first else [*entries, again]

    return edit


DUPLICATES = [
    pytest.param("pathway", FREE, False, id="pathway-same-spelling-after"),
    pytest.param("pathway", "+1 415 555 0101", False, id="pathway-other-spelling-after"),
    pytest.param("pathway", FREE, True, id="pathway-same-spelling-before"),
    pytest.param("persona", FREE, False, id="persona-same-spelling-after"),
]


@pytest.mark.parametrize(("holder", "spelling", "first"), DUPLICATES)
def test_an_entry_showing_a_number_free_does_not_hide_another_entry_showing_it_held(
    start_sim: StartSim, run_cli: RunCli, holder: str, spelling: str, first: bool
) -> None:
    """FREE answers a pathway, or After Hours (which a stale listing page does not show); GET
    /v1/inbound shows it held in one entry and free in another. Before entries were taken as
    routes, the number's own record was read and the take was a move (or, its spelling unknown
    there, the plan was refused); it must not become a plain attach."""
    sim = start_sim(**BOTH)
    if holder == "pathway":
        set_pathway(sim, FREE, "pw-1")
        source = "pathway pw-1"
    else:
        sim.set_owner(FREE, AFTER_HOURS)
        source = "'After Hours'"
    stale_page = holder == "persona"
    serve_inbound = duplicated(spelling, first)
    before = sim.intercept

    def intercept(record: Any, serve: Any) -> Reply:
        reply: Reply = serve(record) if before is None else before(record, serve)
        if record.method != "GET" or reply.status != 200:
            return reply
        answer = json.loads(reply.payload)
        if record.path == "/v1/inbound":
            answer["inbound_numbers"] = serve_inbound(answer["inbound_numbers"])
        elif record.path == "/v1/personas" and stale_page:  # the page read before the attach
            for persona in answer["data"]:
                persona["inbound_numbers"] = [
                    n for n in persona["inbound_numbers"] if FREE not in json.dumps(n)
                ]
        return Reply(200, json.dumps(answer).encode())

    sim.intercept = intercept

    result = run_cli("plan", CONFIG, "--force")

    # A move, or a refusal to plan (as before, where the number's record could not be read in
    # a spelling of the entries'); never a plain attach.
    no_crash(result)
    assert f"+ {FREE}\n" not in result.out, result.out
    assert result.code == 1 or f"~ {FREE} (from {source})" in result.out, result.out + result.err


def test_an_entry_showing_free_a_number_the_listing_shows_held_is_a_move(
    start_sim: StartSim, run_cli: RunCli
) -> None:
    sim = start_sim(**BOTH)
    rewrite_inbound(
        sim, lambda entries: [{**e, **FREE_ENTRY} if e["phone_number"] == HELD else e
                              for e in entries]
    )  # fmt: skip

    result = run_cli("plan", CONFIG, "--force")

    assert result.code == 0, result.err
    assert f"~ {HELD} (from 'Legacy IVR')" in result.out


def test_a_route_shown_on_a_number_spelled_otherwise_is_a_move_applied_and_checked(
    start_sim: StartSim, run_cli: RunCli
) -> None:
    spellings = {
        "inbound_spellings": {FREE: "14155550101"},
        "listing_spellings": {FREE: "(415) 555-0101"},
    }
    sim = start_sim(**BOTH, **spellings)
    set_pathway(sim, FREE, "pw-1")

    result = run_cli("apply", CONFIG, "--auto-approve", "--force")

    assert result.code == 0, result.out + result.err
    assert f"~ {FREE} (from pathway pw-1)" in result.out
    assert FREE in sim.persona_numbers(SUPPORT)
    assert run_cli("plan", CONFIG, "--detailed-exitcode").code == 0


# -- an entry's `persona_id: null` where GET /v1/inbound names no owner at all ------------------


def all_null(entries: Entries) -> Entries:
    """An API that shows `persona_id` on every entry but never fills it in."""
    return [{**e, "persona_id": None} for e in entries]


def test_a_null_persona_id_of_an_answer_naming_no_owner_does_not_skip_the_second_listing(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    """N slides from Y (page 2) onto X (page 1) while the list is read: it looks free. GET
    /v1/inbound shows `persona_id: null` on every entry, also on numbers the listing shows
    held: its null says nothing. Protected, N must not be taken from X unseen."""
    moved = moved_to_page_one_after_it_was_read().move_during_listing
    sim = start_sim(
        two_pages([X_NUMBER], [N, Y_NUMBER]), move_during_listing=moved, inbound_shows_routing=True
    )
    rewrite_inbound(sim, all_null)
    config = write_config(tmp_path / "p.yaml", [{"id": Z, "numbers": [N]}], protected=[N])

    result = run_cli("apply", config, "--auto-approve")

    assert result.code == 3, result.out + result.err
    assert writes(sim) == []
    assert sim.persona_numbers(X) == sorted([N, X_NUMBER])


@pytest.mark.parametrize("null_entries", [True, False], ids=["null-entries", "as-simulated"])
def test_a_null_persona_id_does_not_clear_a_number_an_unverifiable_agent_may_hold(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, null_entries: bool
) -> None:
    """Bot's twin is neither listed nor readable: Bot's numbers are unknown, so a declared
    number that looks free may be Bot's, and nothing is planned for it, whether or not
    GET /v1/inbound shows `persona_id: null` on every entry."""
    sim = start_sim(copy.deepcopy(agent_account.STATE), inbound_shows_routing=True)
    if null_entries:
        rewrite_inbound(sim, all_null)
    n101 = agent_account.N101
    config = agent_account.config(
        tmp_path, [{"id": agent_account.SUPPORT, "numbers": [agent_account.N100,
                                                            agent_account.N106, n101]}], []
    )  # fmt: skip

    result = run_cli("apply", config, "--auto-approve")

    assert result.code != 0, result.out + result.err
    assert f"{n101} may be held by agent 'Bot'" in result.err
    assert agent_account.writes(sim) == []


# -- what an entry shows, read as it is ---------------------------------------------------------

MALFORMED_ENTRIES = {
    "persona_id false": {"persona_id": False},
}


@pytest.mark.parametrize("shown", MALFORMED_ENTRIES.values(), ids=MALFORMED_ENTRIES)
def test_an_entry_whose_route_fields_are_of_the_wrong_type_refuses_the_run(
    start_sim: StartSim, run_cli: RunCli, shown: dict[str, Any]
) -> None:
    sim = start_sim(**BOTH)
    rewrite_inbound(sim, lambda entries: [{**e, **shown} if e["phone_number"] == FREE else e
                                          for e in entries])  # fmt: skip

    result = run_cli("apply", CONFIG, "--auto-approve", "--force")

    no_crash(result)
    assert result.code == 1, result.out + result.err
    assert "GET /v1/inbound: malformed answer: +14155550101: `" in result.err
    assert writes(sim) == []


ROUTES_SHOWN = {
    # persona_id "" reads as none named: the number's own record is read (it shows pw-1).
    "persona_id empty": ({"persona_id": ""}, "pathway pw-1"),
}


@pytest.mark.parametrize(("shown", "source"), ROUTES_SHOWN.values(), ids=ROUTES_SHOWN)
def test_what_an_entry_shows_on_a_free_number_makes_taking_it_a_move(
    start_sim: StartSim, run_cli: RunCli, shown: dict[str, Any], source: str
) -> None:
    sim = start_sim(**BOTH)
    set_pathway(sim, FREE, "pw-1")
    rewrite_inbound(sim, lambda entries: [{**e, **shown} if e["phone_number"] == FREE else e
                                          for e in entries])  # fmt: skip

    result = run_cli("plan", CONFIG, "--force")

    no_crash(result)
    assert f"~ {FREE} (from {source}" in result.out, result.out + result.err
    assert "\x1b" not in result.out + result.err


# -- the valves, whichever way GET /v1/inbound shows routing -------------------------------------

ON_SUPPORT = [f"+1415555020{i}" for i in range(6)]  # with 100 and 103: 8 numbers
ON_THE_PATHWAY = [f"+141555503{i:02d}" for i in range(20)]  # bound to pw-1, in no config


@pytest.mark.parametrize(
    "switches",
    [
        pytest.param({}, id="routing-not-shown"),
        pytest.param(BOTH, id="routing-shown"),
    ],
)
def test_numbers_bound_to_a_pathway_the_file_never_names_do_not_dilute_the_detach_valve(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, switches: dict[str, bool]
) -> None:
    """Support holds 8 numbers and the file keeps 5 of them, adding FREE, which answers pw-1:
    4 of the 9 numbers of the owners it touches are taken (44%, over 25%). pw-1 also answers
    20 numbers no file names; whether GET /v1/inbound shows so must not change the verdict."""
    sim = start_sim(**switches)
    for number in ON_SUPPORT:
        sim.set_owner(number, SUPPORT)
    for number in [FREE, *ON_THE_PATHWAY]:
        sim.add_number(number)
        set_pathway(sim, number, "pw-1")
    kept = ["+14155550100", *ON_SUPPORT[:4]]
    config = write_config(tmp_path / "p.yaml", [{"id": SUPPORT, "numbers": [*kept, FREE]}])

    result = run_cli("apply", config, "--auto-approve")

    assert result.code == 3, result.out + result.err
    assert "the plan takes 4 of the 9 numbers" in result.err
    assert writes(sim) == []


@pytest.mark.parametrize(
    ("made_under", "applied_under"), [({}, BOTH), (BOTH, {})], ids=["entries-later", "record-later"]
)
def test_a_saved_plan_made_under_one_reading_of_a_route_applies_under_the_other(
    start_sim: StartSim,
    run_cli: RunCli,
    tmp_path: Path,
    made_under: dict[str, bool],
    applied_under: dict[str, bool],
) -> None:
    """FREE answers pw-1, read from its own record or from its GET /v1/inbound entry: the
    same move either way, so a plan saved under one reading is applied under the other."""
    sim = start_sim(**made_under)
    set_pathway(sim, FREE, "pw-1")
    saved = tmp_path / "saved.plan"
    made = run_cli("plan", CONFIG, "--out", saved, "--force")
    assert made.code == 0, made.err
    assert f"~ {FREE} (from pathway pw-1)" in made.out
    sim.faults.update({**dict.fromkeys(BOTH, False), **applied_under})

    result = run_cli("apply", saved, "--force")

    assert result.code == 0, result.out + result.err
    assert FREE in sim.persona_numbers(SUPPORT)
    assert run_cli("plan", CONFIG, "--detailed-exitcode").code == 0


# -- the listing's read-ahead on a listing that changes while it is read --------------------------

# Personas a page, as a server capping `limit` sends them: 80 personas, 40 pages, so that the
# read-ahead past page 20 is a quarter of the pages read, not 3.
PAGE = 2
SLID, TAKER = "+14155550400", "p-079"


def long_listing() -> dict[str, Any]:
    """80 personas, pages of 2: p-040, first on page 21, holds SLID."""
    personas = [{"id": f"p-{i:03d}", "name": f"P{i:03d}", "numbers": []} for i in range(80)]
    personas[40]["numbers"] = [SLID]
    return {"numbers": [{"phone_number": SLID}], "personas": personas}


def after_page(sim: Simulator, page: int, change: Callable[[], None]) -> None:
    """`change` runs once, as page `page` of the listing is served: pages the read-ahead
    asked for before it may be served before or after it."""
    before, done = sim.intercept, list[int]()

    def intercept(record: Any, serve: Any) -> Reply:
        reply: Reply = serve(record) if before is None else before(record, serve)
        if record.path == "/v1/personas" and record.query.get("page") == str(page) and not done:
            done.append(page)
            change()
        return reply

    sim.intercept = intercept


def removed_first(sim: Simulator) -> None:
    with sim.lock:  # a hard delete: every later persona moves up one place
        del sim.account.personas[sim.account.order.pop(0)]


def added_first(sim: Simulator) -> None:
    sim.add_persona("p-new", "New")
    with sim.lock:  # listed first: every other persona moves down one place
        sim.account.order.insert(0, sim.account.order.pop())


@pytest.mark.parametrize(
    ("change", "switches"),
    [(removed_first, {}), (added_first, BOTH)],
    ids=["removed-owners-unnamed", "added-owners-and-routing-shown"],
)
def test_a_persona_removed_or_added_during_the_read_ahead_never_hides_a_holder(
    start_sim: StartSim,
    run_cli: RunCli,
    tmp_path: Path,
    switches: dict[str, bool],
    change: Callable[[Simulator], None],
) -> None:
    """Removed, p-040 may slide onto page 20 after it was read; added, p-039 may be listed on
    pages 20 and 21: the listing is refused, or SLID is found on p-040, so taking it is a move
    (refused here: it is protected). It is never attached as a free number."""
    sim = start_sim(long_listing(), limit_cap=PAGE, **switches)
    after_page(sim, 20, lambda: change(sim))
    config = write_config(tmp_path / "p.yaml", [{"id": TAKER, "numbers": [SLID]}], protected=[SLID])

    result = run_cli("apply", config, "--auto-approve")

    no_crash(result)
    assert result.code in (1, 3), result.out + result.err
    assert writes(sim) == []
    if result.code == 1:
        assert "GET /v1/personas" in result.err and "changed while it was read" in result.err
    else:
        moved = f"{SLID} is protected and the plan moves it from"
        assert f"{moved} 'P040'" in result.err or f"{moved} 'p-040'" in result.err


# -- a route that changes after the plan ---------------------------------------------------------


def test_a_saved_plan_is_refused_once_a_pathway_is_bound_to_a_number_it_attaches(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(**BOTH)
    saved = tmp_path / "saved.plan"
    assert run_cli("plan", CONFIG, "--out", saved, "--force").code == 0
    set_pathway(sim, FREE, "pw-late")  # in the dashboard, after the plan

    result = run_cli("apply", saved, "--force")

    assert result.code != 0, result.out + result.err
    assert "the account changed since the plan was made, nothing was written" in result.err
    assert f"now also move {FREE} ('Support Agent') from pathway pw-late" in result.err
    assert writes(sim) == []


def test_a_number_taken_onto_a_pathway_after_its_attach_fails_the_check(
    start_sim: StartSim, run_cli: RunCli
) -> None:
    """The check after the writes plans again: FREE, attached, is moved onto a pathway in the
    dashboard before the check reads it; its entry alone says so. Apply must not exit 0."""
    sim = start_sim(**BOTH)
    before = sim.intercept

    def intercept(record: Any, serve: Any) -> Reply:
        reply: Reply = serve(record) if before is None else before(record, serve)
        body = record.body if isinstance(record.body, dict) else {}
        if record.path.endswith("/inbound/attach") and FREE in body.get("inbound_numbers", []):
            sim.set_owner(FREE, None)
            set_pathway(sim, FREE, "pw-dashboard")
        return reply

    sim.intercept = intercept

    result = run_cli("apply", CONFIG, "--auto-approve", "--force")

    no_crash(result)
    assert result.code not in (0, 2), result.out + result.err
    assert FREE in result.out + result.err
