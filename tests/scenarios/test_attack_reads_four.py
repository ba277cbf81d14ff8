"""Attacks on how the account is read, fourth round: the export's two listings compared, the
entries of GET /v1/inbound standing in for the reads by number, and a 401/403 reported as itself.

An export is refused only where the account changed while it was read, never on a steady one;
a number moved while the listing was read is never left out of an export that exits 0.
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

from reconciler.settings import Settings
from reconciler.simulator.api import Reply
from tests.conftest import CONFIG, RunCli
from tests.scenarios import agent_account
from tests.scenarios.agent_account import BOT, N101, N102, N105, TWIN, writes
from tests.scenarios.conftest import StartSim
from tests.scenarios.test_attack_reads import rewrite_inbound
from tests.scenarios.test_attack_reads_three import wait_until_stopped
from tests.scenarios.test_attack_reads_two import no_crash
from tests.simulated import Simulator

OWNERS = {"legacy_inbound_includes_persona": True}  # GET /v1/inbound names owners
BOTH = {**OWNERS, "inbound_shows_routing": True}  # ... and shows pathway_id and prompt
TWINS = {"twins_listed": True, "twins_readable": True}
CHANGED = "changed while it was read"
LATE = "p-late"  # a persona listed after the twin
REFUSED = {"data": None, "errors": [{"error": "AUTH_FAILURE", "message": "Invalid API key"}]}
BUSY = {"data": None, "errors": [{"error": "UNAVAILABLE", "message": "try again"}]}


def answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(body).encode(), headers=headers or {})


def exported_numbers(text: str) -> set[str]:
    """Every number an exported config routes, to a persona or an agent."""
    document = yaml.safe_load(text) or {}
    found: set[str] = set()
    for entry in [*(document.get("personas") or []), *(document.get("agents") or [])]:
        for number in entry.get("numbers") or []:
            found.add(number if isinstance(number, str) else next(iter(number)))
    return found


def between_pages(sim: Simulator, read: str, unread: str, change: Callable[[], None]) -> None:
    """`change` runs once page `read` of the listing is answered, before page `unread` is: that
    page waits for it, whatever order the pages read ahead are asked in."""
    before, done = sim.intercept, threading.Event()

    def intercept(record: Any, serve: Any) -> Reply:
        page = record.query.get("page") if record.path == "/v1/personas" else None
        if page == unread:
            done.wait(10)
        reply: Reply = serve(record) if before is None else before(record, serve)
        if page == read and not done.is_set():
            change()
            done.set()
        return reply

    sim.intercept = intercept


# -- an export of a steady account is never refused ---------------------------------------------


def example(**_: Any) -> None:
    return None


def agents_and_late(state: dict[str, Any]) -> dict[str, Any]:
    """The agent account with one more persona, listed after the twin, holding N102."""
    state["personas"].append({"id": LATE, "name": "Late", "numbers": [N102]})
    return state


def deleted_holding(sim: Simulator) -> None:
    """A soft-deleted persona that still holds a number."""
    sim.add_persona("p-gone", "Gone", ["+14155550140"], deleted=True)


def twin_of_a_deleted_agent(state: dict[str, Any]) -> dict[str, Any]:
    state["agents"] = [a for a in state["agents"] if a["id"] != BOT]
    return state


STEADY: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]] | None, dict[str, Any]]] = {
    "example": (None, {}),
    "example-owners": (None, OWNERS),
    "example-owners-routing": (None, BOTH),
    "example-pages-of-one": (None, {"limit_cap": 1}),
    "example-strings": (None, {"inbound_numbers_as_strings": True}),
    "example-listing-spellings": (
        None,
        {"listing_spellings": {"+14155550100": "+1 415 5550100", "+14155550102": "14155550102"}},
    ),
    "example-listing-spelled-as-text": (None, {"listing_spellings": {"+14155550130": "IVR"}}),
    "example-inbound-spellings": (None, {"inbound_spellings": {"+14155550130": "(415) 555-0130"}}),
    "example-number-kept-on-two": (None, {"inbound_owner_overrides": {"+14155550140": "x"}}),
    "agents": (agents_and_late, {}),
    "agents-twins": (agents_and_late, TWINS),
    "agents-twins-listed-only": (agents_and_late, {"twins_listed": True}),
    "agents-twins-owners": (agents_and_late, {**TWINS, **BOTH}),
    "agents-twins-pages-of-one": (agents_and_late, {**TWINS, "limit_cap": 1}),
    "agents-owners-unreadable-twins": (agents_and_late, OWNERS),
    "twin-of-a-deleted-agent": (twin_of_a_deleted_agent, TWINS),
}


@pytest.mark.parametrize(("edit", "switches"), STEADY.values(), ids=STEADY)
@pytest.mark.parametrize("deleted", [False, True], ids=["", "deleted-holder"])
def test_an_export_of_a_steady_account_is_never_refused_as_changed(
    start_sim: StartSim,
    run_cli: RunCli,
    example_state: dict[str, Any],
    edit: Callable[[dict[str, Any]], dict[str, Any]] | None,
    switches: dict[str, Any],
    deleted: bool,
) -> None:
    """Nothing changes while the export reads: its second listing must show what the first did,
    whatever the switches make of twins, spellings, owners named or pages of one."""
    state = copy.deepcopy(example_state) if edit is None else edit(agent_account.state())
    sim = start_sim(state, **switches)
    if deleted:
        deleted_holding(sim)

    result = run_cli("export")

    no_crash(result)
    assert CHANGED not in result.err, result.err
    assert result.code == 0, result.out + result.err


# -- a number moved between a twin and a persona while the listing is read ---------------------


# (number, its holder then, the page read before the move, the page read after it, mover)
TWIN_MOVES = {
    # N102 from Late (page 4) onto Bot's twin (page 3, already read): an agent attach.
    "onto-the-twin": (N102, LATE, "3", "4", TWIN),
    # N101 from Bot's twin (page 3) onto Support (page 1, already read): Support is a persona,
    # so the comparison of the two listings sees its numbers change.
    "off-the-twin": (N101, TWIN, "1", "3", agent_account.SUPPORT),
}


@pytest.mark.parametrize(
    "switches",
    [pytest.param({}, id="owners-unnamed"), pytest.param(OWNERS, id="owners-named")],
)
@pytest.mark.parametrize(
    ("number", "holder", "read", "unread", "to"),
    [
        pytest.param(*TWIN_MOVES["onto-the-twin"], id="onto-the-twin"),
        pytest.param(*TWIN_MOVES["off-the-twin"], id="off-the-twin"),
    ],
)
def test_an_export_never_leaves_out_a_number_moved_between_a_twin_and_a_persona(
    start_sim: StartSim,
    run_cli: RunCli,
    switches: dict[str, Any],
    number: str,
    holder: str,
    read: str,
    unread: str,
    to: str,
) -> None:
    """Pages of one, twins listed: Support on page 1, Bot's twin on page 3, Late on page 4.
    Once page `read` is answered, a number moves from its holder on page `unread` to an owner on
    page `read`: both pages show it on no one, though it was held the whole time. The second
    listing shows it on its new owner: the export must show it, or be refused."""
    sim = start_sim(agents_and_late(agent_account.state()), limit_cap=1, **TWINS, **switches)
    assert number in sim.persona_numbers(holder)
    between_pages(sim, read, unread, lambda: sim.set_owner(number, to))

    result = run_cli("export")

    no_crash(result)
    assert result.code == 1 or number in exported_numbers(result.out), result.out + result.err


AFTER_HOURS = "3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a05"  # the example account's page 5 of pages of one
MOVES = {
    # Support main line, on Support Agent (page 1), moves to After Hours (page 5).
    "persona-to-persona": (None, {}, "+14155550100", AFTER_HOURS, "After Hours"),
    # Support's N100 (page 1) moves to Bot's twin (page 3): the agent's, as the listing shows.
    "persona-to-twin": (agents_and_late, TWINS, agent_account.N100, TWIN, "Bot"),
}


@pytest.mark.parametrize(("edit", "switches", "number", "to", "holder"), MOVES.values(), ids=MOVES)
def test_an_export_shows_a_number_listed_twice_on_the_owner_read_by_id(
    start_sim: StartSim,
    run_cli: RunCli,
    example_state: dict[str, Any],
    edit: Callable[[dict[str, Any]], dict[str, Any]] | None,
    switches: dict[str, Any],
    number: str,
    to: str,
    holder: str,
) -> None:
    """Pages of one: once page 1 is answered, its number moves to an owner on a later page, so
    the first listing shows it twice. Read again by id, it is on its new owner, and the second
    listing shows the same: the export is not refused, and names that owner for it."""
    state = copy.deepcopy(example_state) if edit is None else edit(agent_account.state())
    move = {"number": number, "to_persona": to, "after_page": 1}
    start_sim(state, limit_cap=1, move_during_listing=move, **switches)

    result = run_cli("export")

    no_crash(result)
    assert result.code == 0, result.out + result.err
    document = yaml.safe_load(result.out)
    owners = [
        entry["name"]
        for entry in [*document.get("personas", []), *document.get("agents", [])]
        for held in entry.get("numbers", [])
        if (held if isinstance(held, str) else held["number"]) == number
    ]
    assert owners == [holder], result.out


def test_a_429_past_the_end_asking_a_wait_longer_than_the_run_allows_stops_it_as_itself(
    start_sim: StartSim, run_cli: RunCli
) -> None:
    """Page 3, asked for ahead past the empty page 2, answers 429 with a Retry-After longer than
    any request may take: every request after it is held, so the run stops before any write,
    saying it was rate limited, not 'not sent' nor a listing refused."""
    sim = start_sim()
    before = sim.intercept
    slow = {"Retry-After": "100000"}

    def intercept(record: Any, serve: Any) -> Reply:
        if record.path == "/v1/personas" and record.query.get("page") == "3":
            return answer(429, BUSY, slow)
        reply: Reply = serve(record) if before is None else before(record, serve)
        return reply

    sim.intercept = intercept

    result = run_cli("apply", CONFIG, "--auto-approve", "--force")

    no_crash(result)
    assert result.code == 1, result.out + result.err
    assert sim.writes() == []
    assert "429" in result.err and "rate limited" in result.err, result.err
    assert "not sent" not in result.err, result.err


# -- a 401 on one read by id that stops another, read beside it --------------------------------


def refused_while_another_waits(
    sim: Simulator,
    seams: Settings,
    monkeypatch: pytest.MonkeyPatch,
    waits: str,
    refuses: str,
    after_writes: bool = False,
) -> None:
    """Two reads sent at once: `waits` answers 503 and waits for its retry; `refuses`, once the
    other waits, answers 401 (once a write was answered, if `after_writes`). The wait ends when
    the client has taken the 401: the retry is then never sent (NotSent)."""
    before, answered = sim.intercept, {waits: False, refuses: False}
    lock = threading.Lock()
    waiting = wait_until_stopped(monkeypatch, seams)

    def intercept(record: Any, serve: Any) -> Reply:
        read = record.path
        if read == "/v1/personas":
            read = f"page {record.query.get('page')}"
        if read in answered and not (after_writes and not sim.writes()):
            with lock:
                first, answered[read] = not answered[read], True
            if first and read == waits:
                return answer(503, BUSY)
            if first:
                waiting.wait(10)
                return answer(401, REFUSED)
        reply: Reply = serve(record) if before is None else before(record, serve)
        return reply

    sim.intercept = intercept


BINDING = "/v2/agents/{}/inbound"


@pytest.mark.parametrize("command", ["export", "plan", "apply"])
def test_a_401_on_one_agent_binding_is_reported_as_itself_when_it_stops_another(
    start_sim: StartSim,
    run_cli: RunCli,
    seams: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: str,
) -> None:
    """The bindings of Bot and New are read at once: Bot's waits to retry a 503, New's answers
    401 meanwhile. The run stops on the 401 and must say so, not 'not sent' (Bot's binding,
    the first of the two in order, is the read the 401 stopped)."""
    sim = start_sim(agent_account.state())
    refused_while_another_waits(
        sim, seams, monkeypatch, BINDING.format(BOT), BINDING.format(agent_account.NEW)
    )

    routing = agent_account.config(tmp_path, [], [{"id": BOT, "numbers": [N101, N105]}])
    args = {"export": (), "plan": (routing,), "apply": (routing, "--auto-approve")}[command]

    result = run_cli(command, *args)

    no_crash(result)
    assert result.code == 1, result.out + result.err
    assert writes(sim) == []
    said = result.out + result.err
    assert "AUTH_FAILURE" in said, said
    assert "not sent" not in said, said


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_401_on_one_number_read_by_number_is_reported_as_itself_when_it_stops_another(
    start_sim: StartSim,
    run_cli: RunCli,
    seams: Settings,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    """The example config declares three numbers on no persona, each read by number, at once:
    the first waits to retry a 503, the second answers 401 meanwhile. The run must name the
    401, not 'not sent' (the first, in order, is the read it stopped)."""
    sim = start_sim()
    refused_while_another_waits(
        sim, seams, monkeypatch, "/v1/inbound/%2B14155550101", "/v1/inbound/%2B14155550110"
    )

    result = run_cli(command, CONFIG, *(["--auto-approve"] if command == "apply" else []))

    no_crash(result)
    assert result.code == 1, result.out + result.err
    assert sim.writes() == []
    said = result.out + result.err
    assert "AUTH_FAILURE" in said, said
    assert "not sent" not in said, said


@pytest.mark.parametrize(
    ("waits", "refuses"),
    [
        pytest.param("page 1", "page 2", id="listing"),
        pytest.param(
            BINDING.format(BOT),
            BINDING.format(agent_account.NEW),
            id="bindings",
        ),
    ],
)
def test_a_401_in_the_check_after_the_writes_hides_no_write(
    start_sim: StartSim,
    run_cli: RunCli,
    seams: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    waits: str,
    refuses: str,
) -> None:
    """N102 is attached to Bot; the reads that check it (the listing, pages of one, or the
    agents' bindings) meet a 401 on one read while another waits to retry a 503. The report
    must name the attach as done and the 401 as what stopped the check."""
    sim = start_sim(agent_account.state(), limit_cap=1, **TWINS)
    refused_while_another_waits(sim, seams, monkeypatch, waits, refuses, after_writes=True)
    routing = agent_account.config(tmp_path, [], [{"id": BOT, "numbers": [N101, N102, N105]}])

    result = run_cli("apply", routing, "--auto-approve")

    no_crash(result)
    assert result.code != 0, result.out + result.err
    assert writes(sim) == [(f"/v2/agents/{BOT}/inbound/attach", [N102])], result.out + result.err
    said = result.out + result.err
    assert "attached 1 number (+14155550102)" in said, said
    assert "AUTH_FAILURE" in said, said
    assert "not sent" not in said, said


# -- GET /v1/inbound naming personas, but not agents' twins --------------------------------------


def test_a_protected_number_on_an_agent_that_get_inbound_shows_free_is_not_taken(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    """GET /v1/inbound names the owner of numbers on v1 personas but shows `persona_id: null`
    (with pathway_id and prompt) for those on an agent's twin: undocumented either way. Bot's
    twin is neither listed nor readable, so no read shows N101 on Bot; its own record (GET
    /v1/inbound/{number}) does, but is no longer read. Support claims N101, protected: it must
    not be attached as a free number."""
    sim = start_sim(agent_account.state(), **BOTH)
    rewrite_inbound(
        sim,
        lambda entries: [
            {**entry, "persona_id": None} if entry["persona_id"] == TWIN else entry
            for entry in entries
        ],
    )
    support = [N101, agent_account.N100, agent_account.N106]
    routing = agent_account.config(
        tmp_path, [{"id": agent_account.SUPPORT, "numbers": support}], [], protected=[N101]
    )

    result = run_cli("apply", routing, "--auto-approve")

    no_crash(result)
    assert result.code != 0, result.out + result.err
    assert writes(sim) == []
    assert N101 in sim.persona_numbers(TWIN)
