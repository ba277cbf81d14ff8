"""Attacks on how the account is read, third round: GET /v1/inbound read after the whole
persona listing, the read-ahead, and the export's second listing of the personas.

A 401 that stops a run must be reported as itself whichever read it stopped; an export refused
leaves nothing behind; the listings are compared, not trusted.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from reconciler.api.transport import Transport
from reconciler.settings import Settings
from reconciler.simulator.api import Reply
from tests.conftest import CONFIG, RunCli, writes
from tests.scenarios.conftest import StartSim
from tests.scenarios.test_attack_reads_two import after_reads, no_crash
from tests.simulated import Simulator

REFUSED = {"data": None, "errors": [{"error": "AUTH_FAILURE", "message": "Invalid API key"}]}
BUSY = {"data": None, "errors": [{"error": "UNAVAILABLE", "message": "try again"}]}


def answer(status: int, body: dict[str, Any]) -> Reply:
    return Reply(status, json.dumps(body).encode())


# -- a 401 that stops a page waiting for its retry ---------------------------------------------


def refused_while_page_one_waits(
    sim: Simulator, seams: Settings, monkeypatch: pytest.MonkeyPatch, listing: int
) -> None:
    """In the `listing`-th listing of the personas, one page answers 503 and waits for its retry;
    the next, once it waits, answers 401. The wait ends when the client has taken the 401: the
    retry is then never sent (NotSent). The first listing asks for page 1 alone (no hint yet),
    then pages 2 to 4 at once: there pages 2 and 3 are used, elsewhere 1 and 2 (the hint asks
    for both at once)."""
    waits, refuses = ("2", "3") if listing == 1 else ("1", "2")
    asked = {waits: 0, refuses: 0}  # each page's requests: the listing it belongs to
    lock = threading.Lock()
    waiting = wait_until_stopped(monkeypatch, seams)

    def intercept(record: Any, serve: Any) -> Reply:
        page = record.query.get("page") if record.path == "/v1/personas" else None
        if page in asked:
            with lock:
                asked[page] += 1
                mine = asked[page] == listing
            if mine and page == waits:
                return answer(503, BUSY)
            if mine:
                waiting.wait(10)
                return answer(401, REFUSED)
        reply: Reply = serve(record)
        return reply

    sim.intercept = intercept


def wait_until_stopped(monkeypatch: pytest.MonkeyPatch, seams: Settings) -> threading.Event:
    """A retry's backoff that waits until the client stops (Transport.cancel, as a 401 does):
    the retry is then never sent (NotSent). The event returned is set once one waits."""
    waiting, stopped = threading.Event(), threading.Event()
    cancel = Transport.cancel

    def cancelled(self: Transport, *args: Any, **kwargs: Any) -> None:
        cancel(self, *args, **kwargs)
        stopped.set()

    def sleep(seconds: float) -> None:
        waiting.set()
        stopped.wait(10)

    monkeypatch.setattr(Transport, "cancel", cancelled)
    seams.sleep = sleep
    return waiting


@pytest.mark.parametrize(
    ("command", "listing"),
    [
        pytest.param(("plan", CONFIG), 1, id="plan-first-listing"),
        pytest.param(("export",), 1, id="export-first-listing"),
        pytest.param(("doctor",), 1, id="doctor-listing"),
        pytest.param(("export",), 2, id="export-second-listing"),
        # plan's second listing (GET /v1/inbound names no owners, FREE looks free).
        pytest.param(("plan", CONFIG), 2, id="plan-second-listing"),
    ],
)
def test_a_401_on_one_page_is_reported_as_itself_when_it_stops_another(
    start_sim: StartSim,
    run_cli: RunCli,
    seams: Settings,
    monkeypatch: pytest.MonkeyPatch,
    command: tuple[Any, ...],
    listing: int,
) -> None:
    """A page waits to retry a 503; the next answers 401 meanwhile. The run stops on the 401,
    and says so: not 'not sent', which names the page the 401 stopped, not the key. doctor
    reads the listing as plan does; its credentials check must name the 401."""
    sim = start_sim()
    refused_while_page_one_waits(sim, seams, monkeypatch, listing)

    result = run_cli(*command)

    no_crash(result)
    assert result.code == 1, result.out + result.err
    said = result.out + result.err  # doctor reports on stdout
    assert "AUTH_FAILURE" in said, said
    assert "not sent" not in said, said
    assert writes(sim) == []


def test_a_401_that_stops_a_page_before_its_retry_is_reported_as_itself(
    start_sim: StartSim, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Page 3 answers 401; page 2's 503 comes once the client has taken it, so page 2 is not
    retried ('interrupted before a retry'). The run stops on the 401 and names it, not the 503
    of a page it stopped."""
    sim = start_sim()
    stopped = threading.Event()
    cancel = Transport.cancel

    def cancelled(self: Transport) -> None:
        cancel(self)
        stopped.set()

    def intercept(record: Any, serve: Any) -> Reply:
        page = record.query.get("page") if record.path == "/v1/personas" else None
        if page == "2":
            stopped.wait(10)
            return answer(503, BUSY)
        if page == "3":
            return answer(401, REFUSED)
        reply: Reply = serve(record)
        return reply

    monkeypatch.setattr(Transport, "cancel", cancelled)
    sim.intercept = intercept

    result = run_cli("plan", CONFIG)

    no_crash(result)
    assert result.code == 1, result.out + result.err
    assert "AUTH_FAILURE" in result.err, result.err
    assert "503" not in result.err, result.err


# -- the export's second listing ---------------------------------------------------------------


def persona_added(sim: Simulator) -> None:
    sim.add_persona("p-new", "Added In The Dashboard")


def persona_deleted(sim: Simulator) -> None:
    with sim.lock:
        del sim.account.personas[sim.account.order.pop(0)]


def listing_unavailable(sim: Simulator) -> None:
    """Every later page of the listing answers 503, retries included."""
    before = sim.intercept

    def intercept(record: Any, serve: Any) -> Reply:
        if record.path == "/v1/personas":
            return answer(503, BUSY)
        reply: Reply = serve(record) if before is None else before(record, serve)
        return reply

    sim.intercept = intercept


@pytest.mark.parametrize("change", [persona_added, persona_deleted, listing_unavailable])
@pytest.mark.parametrize("existing", [False, True], ids=["new-file", "forced-over-a-file"])
def test_an_export_refused_by_its_second_listing_leaves_the_out_file_as_it_was(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, change: Any, existing: bool
) -> None:
    """Between GET /v1/inbound (the first read's last) and the second listing, a persona is
    added or deleted, or the listing stops answering: the export is refused, and --out is
    neither written nor replaced, nor is a temporary file left beside it."""
    sim = start_sim()
    out = tmp_path / "exported" / "account.yaml"
    out.parent.mkdir()
    if existing:
        out.write_text("kept: true\n")
    after_reads(sim, {"inbound"}, lambda: change(sim))

    result = run_cli("export", "--out", out, *(["--force"] if existing else []))

    no_crash(result)
    assert result.code == 1, result.out + result.err
    assert "GET /v1/personas" in result.err, result.err
    assert sorted(p.name for p in out.parent.iterdir()) == (["account.yaml"] if existing else [])
    assert not existing or out.read_text() == "kept: true\n"


IVR_MAIN = "+14155550130"  # on Legacy IVR (page 2 of pages of one), then moved to Support
SUPPORT = "7b0c4a9e-1d2f-4c3b-9a8e-5f6d7c8b9a01"  # page 1 of pages of one
OWNERS = {"legacy_inbound_includes_persona": True}  # GET /v1/inbound names owners


@pytest.mark.parametrize(
    "switches", [pytest.param({}, id="owners-unnamed"), pytest.param(OWNERS, id="owners-named")]
)
def test_an_export_never_leaves_out_a_number_moved_onto_a_page_already_read(
    start_sim: StartSim, run_cli: RunCli, switches: dict[str, bool]
) -> None:
    """Pages of one persona: Support on page 1, Legacy IVR on page 2. IVR_MAIN moves from
    Legacy IVR to Support once page 1 is answered: page 1 (before) and page 2 (after) both
    show it on no persona, though it was held the whole time. The export must show it on
    Support, or be refused: a file without it is not the account, and applied back it takes
    IVR_MAIN off Support, leaving the number unanswered."""
    sim = start_sim(limit_cap=1, **switches)
    after_reads(sim, {"page 1"}, lambda: sim.set_owner(IVR_MAIN, SUPPORT))

    result = run_cli("export")

    no_crash(result)
    assert result.code == 1 or IVR_MAIN in result.out, result.out + result.err
