"""Apply under faults, end to end against the simulator: every fault ends converged or in a clear
exit 4/1 report, in bounded time, with no write sent twice. Waits are faked (conftest.fake_time).
"""

from __future__ import annotations

import email.utils
import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.api import BlandClient
from reconciler.cli import Settings
from reconciler.simulator import RequestRecord, Simulator
from reconciler.simulator.api import Reply
from tests.conftest import CONFIG, IVR, SALES, SUPPORT, TEST_KEY, FakeTime, RunCli, writes
from tests.simulated import persona_of

EXPECTED = [
    (SALES, "attach", ["+14155550110", "+14155550111"]),
    (SUPPORT, "attach", ["+14155550101", "+14155550102"]),
    (SUPPORT, "detach", ["+14155550103"]),
]


def assert_converged(sim: Simulator, run_cli: RunCli) -> None:
    assert sim.persona_numbers(SUPPORT) == ["+14155550100", "+14155550101", "+14155550102"]
    assert sim.persona_numbers(SALES) == ["+14155550110", "+14155550111"]
    assert sim.persona_numbers(IVR) == ["+14155550130"]
    assert run_cli("plan", CONFIG, "--detailed-exitcode").code == 0


def write_attempts(sim: Simulator) -> list[RequestRecord]:
    return sim.writes()


def in_80_seconds() -> str:
    return email.utils.formatdate(time.time() + 80, usegmt=True)


@pytest.mark.parametrize(
    "retry_after, waited",
    [
        (lambda: "7", lambda slept: 7.0 in slept),
        # An HTTP date 80 s ahead, made when the test starts, read against the wall clock when
        # the 429 comes: a loaded machine may take a while to get there, so the wait is (20, 80].
        # (Under 90 s: a longer wait than a request's 120 s deadline allows is refused.)
        (in_80_seconds, lambda slept: any(20 < x <= 80 for x in slept)),
        (lambda: None, lambda slept: len(slept) >= 1 and all(0 <= x <= 10 for x in slept)),
    ],
    ids=["seconds", "http-date", "absent"],
)
def test_a_429_is_waited_out_and_the_apply_converges(
    sim: Simulator,
    run_cli: RunCli,
    fake_time: FakeTime,
    retry_after: Callable[[], str | None],
    waited: Callable[[list[float]], bool],
) -> None:
    sim.faults.write_statuses = [429]
    sim.faults.retry_after = retry_after()
    result = run_cli("apply", CONFIG, "--auto-approve")
    assert result.code == 0, result.err
    assert waited(fake_time.slept), fake_time.slept
    assert "1 retry (1 rate limited)" in result.out
    assert "concurrent writes lowered to 2 after 429s" in result.out
    # The 429 was not applied by the server, so the retry is the only write of that call.
    assert sorted(writes(sim)) == EXPECTED
    assert_converged(sim, run_cli)


def test_a_429_on_reads_holds_every_request(
    sim: Simulator, run_cli: RunCli, fake_time: FakeTime
) -> None:
    sim.faults.read_statuses = [429]
    sim.faults.retry_after = "5"
    result = run_cli("-v", "plan", CONFIG)
    assert result.code == 0, result.err
    assert 5.0 in fake_time.slept
    assert "retry 1 in 5.0s" in result.err


def test_5xx_a_few_times_then_success(sim: Simulator, run_cli: RunCli) -> None:
    sim.faults.write_statuses = [503, 502, 500]
    result = run_cli("-v", "apply", CONFIG, "--auto-approve")
    assert result.code == 0, result.err
    assert "3 retries (0 rate limited)" in result.out
    assert result.err.count("retry ") == 3  # -v shows each one, once
    assert sorted(writes(sim)) == EXPECTED
    # No idempotency key: the persona was read again before each retry of a write.
    persona_reads = [r for r in sim.reads() if r.path.startswith("/v1/personas/")]
    assert len(persona_reads) >= 3
    assert_converged(sim, run_cli)


def test_5xx_on_every_write_ends_in_exit_4_with_a_report(sim: Simulator, run_cli: RunCli) -> None:
    sim.faults.write_statuses = [503] * 1000
    before = run_cli("plan", CONFIG, "--format", "json").out
    result = run_cli("apply", CONFIG, "--auto-approve")
    assert result.code == 4
    assert "Traceback" not in result.err
    # The plan after the writes still shows every change: one repair sends them again, and
    # they fail again; the last plan names each one still needed.
    assert (
        "note: the account still differed after the writes (5 changes): applying them again"
        in result.out
    )
    assert (
        "Apply incomplete: 0 attached, 0 moved, 0 detached; 0 API writes, 4 failed, 2 skipped;"
        in result.out
    )
    assert result.out.split("\n  not converged: ", 1)[1].splitlines() == [
        "still needed: attach +14155550110 ('Sales')",
        "  not converged: still needed: attach +14155550111 ('Sales')",
        "  not converged: still needed: attach +14155550101 ('Support Agent')",
        "  not converged: still needed: move +14155550102 ('Support Agent') from 'Legacy IVR'",
        "  not converged: still needed: detach +14155550103 ('Support Agent')",
    ]
    assert (
        "  Sales: attach of 2 numbers (+14155550110, +14155550111) failed: "
        f"POST /v1/personas/{SALES}/inbound/attach: HTTP 503 INTERNAL_SERVER_ERROR: "
        "An internal server error occurred (gave up after retries)"
    ) in result.out
    assert (
        "  Support Agent: detach of 1 number (+14155550103) skipped: "
        "its attach did not succeed (make before break)"
    ) in result.out
    assert "Run plan to see what remains." in result.err
    # Bounded: at most 6 attempts per attach in each of the two runs, and the detach was never
    # sent.
    attempts = write_attempts(sim)
    assert 4 <= len(attempts) <= 24
    assert all(r.path.endswith("/attach") for r in attempts)
    sim.faults.write_statuses = []
    assert run_cli("plan", CONFIG, "--format", "json").out == before


def test_5xx_on_every_read_ends_in_exit_1(sim: Simulator, run_cli: RunCli) -> None:
    sim.faults.read_statuses = [500] * 1000
    result = run_cli("plan", CONFIG)
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "HTTP 500" in lines[0] and "gave up after retries" in lines[0]
    assert len(sim.reads()) <= 2 * 6


def test_connection_refused(
    sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, fake_time: FakeTime
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("BLAND_API_URL", f"http://127.0.0.1:{port}")
    result = run_cli("apply", CONFIG, "--auto-approve")
    assert result.code == 1
    # Where it tried, and why, rather than a bare exception name.
    assert (
        f"cannot connect to 127.0.0.1:{port}: connection refused (gave up after retries)"
        in result.err
    )
    assert "Traceback" not in result.err
    assert len(fake_time.slept) >= 4  # retried with backoff, at least 5 attempts


@pytest.mark.parametrize("dropped", [1, 3])
def test_a_write_applied_but_its_answer_lost_is_not_sent_again(
    sim: Simulator, run_cli: RunCli, dropped: int
) -> None:
    sim.faults.drop_after_write = dropped
    result = run_cli("apply", CONFIG, "--auto-approve")
    assert result.code == 0, result.err
    attempts = sim.writes()
    assert sim.faults.drop_after_write == 0  # so `dropped` writes lost their answers
    # Each write went out exactly once: the re-read showed it had taken effect.
    sent = sorted((str(persona_of(r.path)), r.path.rsplit("/", 1)[-1]) for r in attempts)
    assert sent == sorted((pid, action) for pid, action, _ in EXPECTED)
    assert_converged(sim, run_cli)


def test_a_server_that_never_answers_times_out(sim: Simulator, run_cli: RunCli) -> None:
    sim.faults.hang = 10_000
    result = run_cli("--timeout", "0.05", "plan", CONFIG)
    assert result.code == 1
    assert "ReadTimeout" in result.err and "gave up after retries" in result.err


def test_writes_that_never_answer_time_out_and_are_not_doubled(
    sim: Simulator, run_cli: RunCli, seams: Settings
) -> None:
    sim.faults.hang_writes_after = 0
    # No backoff: a random one could outlast the 4x deadline and leave nothing retried to check.
    seams.backoff = 0.0
    result = run_cli("--timeout", "0.05", "apply", CONFIG, "--auto-approve")
    assert result.code == 4
    # Failed in the first run and in the one repair: 2 attaches each, the detach skipped each time.
    assert "ReadTimeout" in result.out and "4 failed, 2 skipped" in result.out
    assert all(r.status == 0 for r in sim.writes())
    assert not [r for r in sim.writes() if r.path.endswith("/detach")]
    # A hung write may have been applied: before it is sent again, its persona is read back.
    last_post: dict[str, int] = {}
    for index, record in enumerate(sim.requests):
        if record.method != "POST":
            continue
        persona = str(persona_of(record.path))
        if persona in last_post:
            between = sim.requests[last_post[persona] + 1 : index]
            # Its own read, or the persona list the plan after the writes reads before a repair.
            assert any(
                r.method == "GET" and (persona_of(r.path) == persona or r.path == "/v1/personas")
                for r in between
            ), f"{persona} was written again without a read-back"
        last_post[persona] = index
    assert len(sim.writes()) > len(last_post), "no write was retried: the test shows nothing"


def test_a_401_in_the_middle_stops_the_run_without_retries(
    sim: Simulator, run_cli: RunCli, fake_time: FakeTime
) -> None:
    sim.faults.write_statuses = [200, 401]
    result = run_cli("apply", CONFIG, "--auto-approve", "--parallelism", "1")
    assert result.code == 1
    assert "AUTH_FAILURE" in result.err and "check BLAND_API_KEY" in result.err
    assert result.err.strip().splitlines()[-1].startswith("error: POST ")
    assert fake_time.slept == []
    assert len(sim.writes()) == 2  # the one that worked and the 401; nothing after
    assert (
        "Apply stopped: 2 attached, 0 moved, 0 detached; 1 API write, 1 failed, 1 skipped."
        in result.out
    )
    assert "skipped: the run stopped on an authorisation error" in result.out
    assert TEST_KEY not in result.out + result.err


def test_a_persona_deleted_during_apply_fails_alone(sim: Simulator, run_cli: RunCli) -> None:
    def delete_sales(simulator: Simulator, record: RequestRecord) -> None:
        if persona_of(record.path) == SALES:
            simulator.delete_persona(SALES)

    sim.on_write = delete_sales
    result = run_cli("apply", CONFIG, "--auto-approve")
    assert result.code == 4
    assert (
        f"failed: POST /v1/personas/{SALES}/inbound/attach: HTTP 404 PERSONA_NOT_FOUND: "
        "Persona not found or access denied"
    ) in result.out
    # The other persona carried on and converged.
    assert sim.persona_numbers(SUPPORT) == ["+14155550100", "+14155550101", "+14155550102"]
    assert "  Support Agent: detached 1 number (+14155550103)" in result.out


def test_html_error_bodies(sim: Simulator, run_cli: RunCli) -> None:
    sim.faults.html_errors = True
    sim.faults.write_statuses = [502, 400] * 5  # the repair's writes are refused too
    result = run_cli("apply", CONFIG, "--auto-approve", "--parallelism", "1")
    assert result.code == 4
    assert "HTTP 400: non-JSON body (text/html)" in result.out
    assert "Traceback" not in result.out + result.err


def test_the_log_file_has_a_json_line_as_each_write_goes_and_one_as_it_ends(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    sim.faults.write_statuses = [404, 0, 0, 404]  # Sales's attach, and again in the repair
    log_file = tmp_path / "audit.jsonl"
    result = run_cli(
        "apply", CONFIG, "--auto-approve", "--parallelism", "1", "--log-file", log_file
    )
    assert result.code == 4
    text = log_file.read_text()
    assert TEST_KEY not in text
    entries = [json.loads(line) for line in text.splitlines()]
    assert [(e["persona_name"], e["action"], e["outcome"]) for e in entries] == [
        ("Sales", "attach", "sent"),
        ("Sales", "attach", "failed"),
        ("Support Agent", "attach", "sent"),
        ("Support Agent", "attach", "done"),
        ("Support Agent", "detach", "sent"),
        ("Support Agent", "detach", "done"),
        # The repair the plan after the writes asked for: Sales's attach, sent again.
        ("Sales", "attach", "sent"),
        ("Sales", "attach", "failed"),
    ]
    assert entries[0]["numbers"] == entries[1]["numbers"] == ["+14155550110", "+14155550111"]
    assert entries[0].keys() == {
        "time",
        "persona_id",
        "persona_name",
        "action",
        "numbers",
        "outcome",
    }
    assert entries[1]["error"]["status"] == 404
    assert entries[1]["error"]["code"] == "PERSONA_NOT_FOUND"
    assert entries[1]["persona_id"] == SALES
    assert all(e["time"].endswith("Z") for e in entries)


def test_an_unwritable_log_file_stops_before_any_write(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    result = run_cli("apply", CONFIG, "--auto-approve", "--log-file", tmp_path / "no" / "x.log")
    assert result.code == 1
    assert "cannot open the log file" in result.err
    assert sim.writes() == []


def test_an_unwritable_log_file_stops_before_the_question(
    sim: Simulator, run_cli: RunCli, seams: Settings, tmp_path: Path
) -> None:
    asked: list[bool] = []
    seams.confirm = lambda: asked.append(True)
    result = run_cli("apply", CONFIG, "--log-file", tmp_path / "no" / "x.log")
    assert (result.code, asked) == (1, [])
    assert "cannot open the log file" in result.err
    assert sim.writes() == []


def test_max_rps_paces_requests(sim: Simulator, run_cli: RunCli, fake_time: FakeTime) -> None:
    result = run_cli("--max-rps", "2", "apply", CONFIG, "--auto-approve")
    assert result.code == 0, result.err
    # Two requests a second: the requests after the first waited about half a second each,
    # in all about (n - 1) / 2 seconds (a little less: some real time passes between them).
    requests = len(sim.requests)
    assert requests >= 5
    assert 0.4 * (requests - 1) <= sum(fake_time.slept) <= 0.5 * (requests - 1)
    assert "s waiting" in result.out


def test_the_json_report_on_a_terminal_is_all_that_is_printed(
    sim: Simulator, run_cli: RunCli, seams: Settings
) -> None:
    seams.stdout_is_terminal = lambda: True
    seams.progress_min_personas = 2
    result = run_cli("apply", CONFIG, "--auto-approve", "--format", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["converged"] is True  # no progress bar around it


def test_a_progress_bar_on_a_terminal_for_many_personas(
    sim: Simulator, run_cli: RunCli, seams: Settings
) -> None:
    seams.stdout_is_terminal = lambda: True
    seams.progress_min_personas = 2
    result = run_cli("apply", CONFIG, "--auto-approve")
    assert result.code == 0, result.err
    assert "Applying" in result.out
    assert "Sales: attached" not in result.out  # the bar replaces the per-persona lines
    last_write = max(i for i, r in enumerate(sim.requests) if r.kind == "write")
    reads_after = len(sim.requests) - last_write - 1
    assert reads_after == 4
    assert (
        "Apply complete: 3 attached, 1 moved, 1 detached; 3 API writes; "
        f"verified with {reads_after} reads." in result.out
    )


def test_no_write_goes_out_after_a_401_even_with_writes_in_flight(
    sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the client can promise: once it has the 401, no write passes its check to go out.

    Writes sent before the 401 came back are in flight legitimately, so the order in which the
    server saw requests proves nothing (it varies with speed). The test records, in the client,
    when each thread starts a check for a stop (`cancelled`), when a request goes to the wire
    (httpx's request hook) and when the 401 stopped the run, and requires every write sent
    after that to have started its last check before it.
    """
    events: list[tuple[str, ...]] = []  # ("check", thread), ("sent", method, thread), ("401",)
    lock = threading.Lock()
    cancelled, cancel, client = BlandClient.cancelled, BlandClient.cancel, Settings.client

    def record(*event: str) -> None:
        with lock:
            events.append(event)

    def recorded_check(client: BlandClient) -> bool:
        record("check", threading.current_thread().name)
        return bool(cancelled.fget(client))  # type: ignore[attr-defined]

    def recorded_cancel(client: BlandClient) -> None:
        cancel(client)
        if client._auth_failure:
            record("401")  # once the client has cancelled the run

    def sent(request: Any) -> None:
        record("sent", request.method, threading.current_thread().name)

    def hooked(settings: Settings, event_hooks: Any = None) -> BlandClient:
        return client(settings, {"request": [sent]})

    monkeypatch.setattr(BlandClient, "cancelled", property(recorded_check))
    monkeypatch.setattr(BlandClient, "cancel", recorded_cancel)
    monkeypatch.setattr(Settings, "client", hooked)
    # The first write answered gets a 503 and will be retried; the second gets the 401.
    sim.faults.update({"write_statuses": [503, 401], "latency": 0.05})
    result = run_cli("apply", CONFIG, "--auto-approve", "--parallelism", "4")
    assert result.code == 1
    assert "AUTH_FAILURE" in result.out + result.err
    unauthorised = events.index(("401",))
    for index, event in enumerate(events[unauthorised:], unauthorised):
        if event[:2] == ("sent", "POST"):
            last_check = max(i for i, e in enumerate(events[:index]) if e == ("check", event[2]))
            assert last_check < unauthorised, events


def test_a_wrong_key_reports_the_401_whichever_read_gets_it_first(
    sim: Simulator, run_cli: RunCli
) -> None:
    """Pages 2 and 3 of the listing are read at once. Page 3, past the empty page 2, is
    refused with a 401 once page 2 was answered: the listing ends at page 2, and the read the
    401 stopped (GET /v1/inbound, after the listing) must not hide it behind "not sent"."""
    page_two = threading.Event()
    refused = {"data": None, "errors": [{"error": "AUTH_FAILURE", "message": "Invalid API key"}]}

    def intercept(record: RequestRecord, serve: Callable[[RequestRecord], Reply]) -> Reply:
        page = record.query.get("page") if record.path == "/v1/personas" else None
        if page == "3":
            page_two.wait(10)  # answered after it, else page 2 is stopped
            return Reply(401, json.dumps(refused).encode())
        reply = serve(record)
        if page == "2":
            page_two.set()
        return reply

    sim.intercept = intercept
    result = run_cli("plan", CONFIG)
    assert result.code == 1
    assert "AUTH_FAILURE" in result.err and "check BLAND_API_KEY" in result.err
    assert "not sent" not in result.err
    assert [r.path for r in sim.requests if r.path == "/v1/inbound"] == []


@pytest.mark.parametrize("stop", ["401", "SIGINT"])
def test_a_stop_during_the_refusal_fallback_still_puts_the_number_back(
    stop: str, sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Support's attach is refused (409), IVR's detach frees +14155550102, then the run stops
    before Support's second attach could land: the number must go back to IVR."""
    sim.faults.attach_mode = "refuse"
    if stop == "401":
        # Sales attach, Support attach (refused by the mode), IVR detach, Support attach: 401.
        sim.faults.write_statuses = [200, 200, 200, 401]
    else:
        import signal

        def interrupt_after_the_detach(simulator: Simulator, record: RequestRecord) -> None:
            if record.path.endswith("/detach") and persona_of(record.path) == IVR:
                signal.raise_signal(signal.SIGINT)

        sim.on_write = interrupt_after_the_detach
        sim.faults.write_statuses = [200, 200, 200, 503, 503, 503, 503, 503, 503]
    result = run_cli("apply", CONFIG, "--auto-approve", "--parallelism", "1")
    assert result.code in (1, 130), result.out + result.err
    assert sim.owners()["+14155550102"] == [IVR], result.out
    assert (IVR, "attach", ["+14155550102"]) in writes(sim)
    assert "they were attached back where they were" in result.out


def test_a_refusal_worded_as_invalid_inbound_numbers_falls_back(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    sim.faults.attach_mode = "refuse_as_invalid"
    log_file = tmp_path / "run.log"
    result = run_cli("apply", CONFIG, "--auto-approve", "--log-file", log_file)
    assert result.code == 0, result.out + result.err
    assert sim.owners()["+14155550102"] == [SUPPORT]
    outcomes = [json.loads(line)["outcome"] for line in log_file.read_text().splitlines()]
    assert outcomes.count("refused") == 1  # the refused attach is on record too


def test_a_generic_400_on_a_move_does_not_free_the_number(sim: Simulator, run_cli: RunCli) -> None:
    # Sales attaches; Support's attach: INVALID_REQUEST, and again in the one repair.
    sim.faults.write_statuses = [200, 400, 400]
    result = run_cli("apply", CONFIG, "--auto-approve", "--parallelism", "1")
    assert result.code == 4
    assert not any(persona == IVR for persona, _, _ in writes(sim))
    assert sim.owners()["+14155550102"] == [IVR]
