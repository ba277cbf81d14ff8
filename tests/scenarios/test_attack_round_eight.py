"""Attacks, eighth round, on the reads: by number 16 at once, by persona id 4 at once, and a
listing read again (the check after apply) that decodes only the pages whose answer bytes changed.

The simulator stands in front of the client over loopback HTTP; its `intercept` seam plays
what the account does between two listings: personas that swap pages, a page served stale
with the bytes of the first listing, a persona gone from the listing; 429s with Retry-After
and a 401 across the reads that go out together, answers delivered side by side, and answers
labelled gzip that are not.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler.simulator import RequestRecord
from reconciler.simulator.api import Reply
from tests.conftest import CONFIG, TEST_KEY, FakeTime, Result, RunCli, write_config, writes
from tests.scenarios.conftest import StartSim
from tests.simulated import Simulator, persona_of
from tests.simulator_faults import streamed

A, B, C = "p-a", "p-b", "p-c"
N = "+14155550100"  # free at first; the config gives it to C
A_NUMBER, B_NUMBER = "+14155550101", "+14155550102"
Serve = Callable[[RequestRecord], Reply]


def one_per_page() -> dict[str, Any]:
    """A, B and C, each alone on its page (the server caps a page at one persona)."""
    personas = [
        {"id": A, "name": "A", "numbers": [A_NUMBER]},
        {"id": B, "name": "B", "numbers": [B_NUMBER]},
        {"id": C, "name": "C", "numbers": []},
    ]
    numbers = [{"phone_number": n} for n in (N, A_NUMBER, B_NUMBER)]
    return {"numbers": numbers, "personas": personas}


def config_giving_n_to_c(tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "p.yaml",
        [
            {"id": A, "numbers": [A_NUMBER]},
            {"id": B, "numbers": [B_NUMBER]},
            {"id": C, "numbers": [N]},
        ],
    )


def in_front(sim: Simulator, play: Callable[[RequestRecord, Serve], Reply]) -> None:
    """Put `play` in front of the simulator's own intercept (its test faults)."""
    inner = sim.intercept
    assert inner is not None

    def intercept(record: RequestRecord, serve: Serve) -> Reply:
        return play(record, lambda r: inner(r, serve))

    sim.intercept = intercept


def page_of(record: RequestRecord) -> int | None:
    if record.path.rstrip("/") != "/v1/personas":
        return None
    return int(record.query.get("page", "1"))


def no_key(result: Result) -> None:
    for text in (result.out, result.err):
        assert TEST_KEY not in text
        assert TEST_KEY[-8:] not in text
    assert "Traceback" not in result.err


# -- a listing read again: pages whose bytes changed, moved, or did not --------------------


def test_personas_that_swap_pages_after_the_write_are_neither_missed_nor_doubled(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    """After the write, A and B swap pages: the check's page 1 has the bytes the first
    listing's page 2 had, and its page 2 those of page 1. Each page is read as what it says."""
    sim = start_sim(one_per_page(), limit_cap=1)

    def on_write(simulator: Simulator, _record: RequestRecord) -> None:
        order = simulator.account.order
        i, j = order.index(A), order.index(B)
        order[i], order[j] = order[j], order[i]

    sim.on_write = on_write
    result = run_cli("apply", config_giving_n_to_c(tmp_path), "--auto-approve")

    no_key(result)
    assert result.code == 0, result.out + result.err
    assert writes(sim) == [(C, "attach", [N])]  # no repair: the check saw A and B where they are
    assert sim.persona_numbers(C) == [N]


def test_a_page_served_stale_after_the_write_never_ends_in_exit_0(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    """A replica behind the API serves C's page with the bytes the first listing got: the
    check reads them as they are (the write not seen), so apply may not say it is done."""
    sim = start_sim(one_per_page(), limit_cap=1)
    first: dict[int, Reply] = {}

    def stale(record: RequestRecord, serve: Serve) -> Reply:
        reply = serve(record)
        page = page_of(record)
        if page is None or reply.status != 200:
            return reply
        if not sim.writes():
            first[page] = reply
        return first.get(page, reply) if page == 3 else reply

    in_front(sim, stale)
    result = run_cli("apply", config_giving_n_to_c(tmp_path), "--auto-approve")

    no_key(result)
    assert result.code == 4, result.out + result.err
    assert f"still needed: attach {N} ('C')" in result.out


def test_a_persona_gone_from_the_listing_after_the_write_is_read_by_id_not_taken_as_empty(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    """After the write, the listing leaves C out (it slid onto a page already read): C was
    listed before, so the check reads it by id and finds N on it."""
    sim = start_sim(one_per_page(), limit_cap=1)

    def without_c(record: RequestRecord, serve: Serve) -> Reply:
        page = page_of(record)
        if page is not None and sim.writes():
            # C's page now holds what the page past it holds: the list is one shorter.
            record = replace(record, query={**record.query, "page": str(page + (page >= 3))})
        return serve(record)

    in_front(sim, without_c)
    result = run_cli("apply", config_giving_n_to_c(tmp_path), "--auto-approve")

    no_key(result)
    assert result.code == 0, result.out + result.err
    assert writes(sim) == [(C, "attach", [N])]
    assert any(r.path == f"/v1/personas/{C}" for r in sim.reads())


# -- 429s and Retry-After across the reads that go out together -------------------------

MANY = [f"+1415555{index:04d}" for index in range(200, 240)]  # 40 numbers, free at first


def many_free() -> dict[str, Any]:
    return {
        "numbers": [{"phone_number": n} for n in MANY],
        "personas": [{"id": C, "name": "C", "numbers": []}],
    }


def rate_limited_once_each(sim: Simulator, retry_after: str) -> dict[str, int]:
    """Every read by number answers 429 with `retry_after` the first time it is asked."""
    asked: dict[str, int] = {}
    lock = threading.Lock()

    def limited(record: RequestRecord, serve: Serve) -> Reply:
        if not record.path.startswith(("/v1/inbound/+", "/v1/inbound/%2B")):
            return serve(record)
        with lock:
            asked[record.path] = asked.get(record.path, 0) + 1
            first = asked[record.path] == 1
        if not first:
            return serve(record)
        body = b'{"errors":[{"error":"RATE_LIMITED","message":"slow down"}]}'
        return Reply(429, body, headers={"Retry-After": retry_after})

    in_front(sim, limited)
    return asked


def test_429s_with_retry_after_on_every_read_by_number_still_plan_every_number(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, fake_time: FakeTime
) -> None:
    sim = start_sim(many_free())
    asked = rate_limited_once_each(sim, "2")
    config = write_config(tmp_path / "p.yaml", [{"id": C, "numbers": MANY}])

    result = run_cli("-v", "apply", config, "--auto-approve")

    no_key(result)  # -v logs every request and every retry
    assert result.code == 0, result.out + result.err
    assert "429" in result.err
    assert sim.persona_numbers(C) == sorted(MANY)
    # Each number read until it was answered, and none read more than needed.
    assert len(asked) == len(MANY) and set(asked.values()) <= {2}
    assert 2.0 in fake_time.slept or any(s >= 1.9 for s in fake_time.slept)


def _applied_with_one_error_line(sim: Simulator, run_cli: RunCli, config: Path) -> str:
    """apply's one line on stderr, when it ended with exit 1 and nothing written."""
    result = run_cli("apply", config, "--auto-approve")
    no_key(result)
    assert result.code == 1, result.out + result.err
    assert sim.writes() == []
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    return lines[0]


def test_a_retry_after_past_the_deadline_on_reads_by_number_stops_in_one_line_unwritten(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(many_free())
    rate_limited_once_each(sim, "3600")
    config = write_config(tmp_path / "p.yaml", [{"id": C, "numbers": MANY}])

    line = _applied_with_one_error_line(sim, run_cli, config)
    assert "429" in line or "rate limited" in line


@pytest.mark.parametrize("retry_after", ["0", "1.5", "Wed, 21 Oct 2015 07:28:00 GMT", "soon"])
def test_odd_retry_after_values_across_concurrent_reads_by_number_plan_every_number(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, retry_after: str
) -> None:
    sim = start_sim(many_free())
    rate_limited_once_each(sim, retry_after)
    config = write_config(tmp_path / "p.yaml", [{"id": C, "numbers": MANY}])

    result = run_cli("plan", config, "--format", "json")

    no_key(result)
    assert result.code == 0, result.out + result.err
    assert result.out.count('"phone_number"') >= len(MANY)


# -- reads by id side by side, within --max-response-size ---------------------------------

KiB = 1024
SHARED = [f"+1415555{index:04d}" for index in range(300, 310)]  # each on two personas


def each_number_on_two_personas() -> dict[str, Any]:
    """P-i and Q-i both hold number i (a non-exclusive attach): all 20 are read by id."""
    personas = [
        {"id": f"{side}-{i}", "name": f"{side.upper()} {i}", "numbers": [number]}
        for i, number in enumerate(SHARED)
        for side in ("p", "q")
    ]
    return {"numbers": [{"phone_number": n} for n in SHARED], "personas": personas}


class SideBySide:
    """Each answer of a read by id padded to 200 KiB, its first 63 KiB sent at once and the
    rest once `together` such answers have begun: as a slow link delivers them side by side."""

    def __init__(self, together: int) -> None:
        self.together = together
        self.begun = 0
        self.condition = threading.Condition()

    def play(self, record: RequestRecord, serve: Serve) -> Reply:
        reply = serve(record)
        if persona_of(record.path) is None or reply.status != 200:
            return reply
        payload = reply.payload.ljust(200 * KiB)  # whitespace after JSON is JSON
        framing = {"Content-Length": str(len(payload)), "Connection": "close"}
        return streamed(replace(reply, headers={**reply.headers, **framing}), self.pieces(payload))

    def pieces(self, payload: bytes) -> Iterator[bytes]:
        yield payload[: 63 * KiB]
        with self.condition:
            self.begun += 1
            self.condition.notify_all()
            # A cap, not a pause: the wait ends as soon as the answers have all begun.
            self.condition.wait_for(lambda: self.begun >= self.together, timeout=10)
        yield payload[63 * KiB :]


def test_reads_by_id_side_by_side_do_not_refuse_answers_each_under_the_size_limit(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    """--max-response-size is "the largest API answer read" (docs/commands.md), and the answers
    held at once share it. Each answer here is 200 KiB, a fifth of the 1M given, and the reads
    by id confirming the numbers seen twice go out 4 at once, each held back until four have
    begun, so their bytes arrive side by side: together they stay under the limit."""
    sim = start_sim(each_number_on_two_personas())
    in_front(sim, SideBySide(together=4).play)
    entries = [{"id": f"p-{i}", "numbers": [number]} for i, number in enumerate(SHARED)]
    config = write_config(tmp_path / "p.yaml", entries)

    result = run_cli("plan", config, "--max-response-size", "1M", "--force")

    no_key(result)
    assert sum(1 for r in sim.reads() if persona_of(r.path)) >= 16  # the reads by id went out
    assert result.code == 0, result.err  # today: "the answer is over the 1 MiB limit (with
    # the answers read alongside it; ...)"


def test_a_401_on_one_of_the_reads_by_number_stops_the_run_in_one_line_unwritten(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    """The key revoked while 16 reads by number are in flight: one line names the 401, the
    reads refused after it are not reported one by one, and nothing is written."""
    sim = start_sim(many_free())
    asked: list[str] = []
    lock = threading.Lock()

    def revoked(record: RequestRecord, serve: Serve) -> Reply:
        if not record.path.startswith("/v1/inbound/%2B"):
            return serve(record)
        with lock:
            asked.append(record.path)
            fifth = len(asked) == 5
        if fifth:
            body = b'{"errors":[{"error":"UNAUTHORIZED","message":"invalid api key"}]}'
            return Reply(401, body)
        return serve(record)

    in_front(sim, revoked)
    config = write_config(tmp_path / "p.yaml", [{"id": C, "numbers": MANY}])

    assert "401" in _applied_with_one_error_line(sim, run_cli, config)
    assert len(asked) < len(MANY)  # the reads not yet sent were not sent


def test_429s_on_every_page_of_the_check_listing_still_verify_the_apply(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    """The check after apply asks for every page the plan's listing took at once (16 of them in
    flight): each answers 429 with Retry-After the first time. The apply is verified, exit 0."""
    personas = [{"id": f"p-{i:02d}", "name": f"P {i:02d}", "numbers": []} for i in range(20)]
    state = {"numbers": [{"phone_number": N}], "personas": personas}
    sim = start_sim(state, limit_cap=1)
    limited: set[str] = set()
    lock = threading.Lock()

    def once_each(record: RequestRecord, serve: Serve) -> Reply:
        page = page_of(record)
        if page is None or not sim.writes():
            return serve(record)
        with lock:
            first = str(page) not in limited
            limited.add(str(page))
        if first:
            body = b'{"errors":[{"error":"RATE_LIMITED","message":"slow down"}]}'
            return Reply(429, body, headers={"Retry-After": "1"})
        return serve(record)

    in_front(sim, once_each)
    config = write_config(tmp_path / "p.yaml", [{"id": "p-19", "numbers": [N]}])

    result = run_cli("apply", config, "--auto-approve")

    no_key(result)
    assert result.code == 0, result.out + result.err
    assert writes(sim) == [("p-19", "attach", [N])]
    assert len(limited) >= 21  # every page of the check, its empty page included


# -- answers whose body cannot be decoded ------------------------------------------------


def labelled_gzip(sim: Simulator, wanted: Callable[[RequestRecord], bool]) -> None:
    """The answers `wanted` picks say `Content-Encoding: gzip` over a body that is not gzip,
    as a proxy that mislabels what it passes on."""

    def mislabelled(record: RequestRecord, serve: Serve) -> Reply:
        reply = serve(record)
        if not wanted(record) or reply.status != 200:
            return reply
        return replace(reply, headers={**reply.headers, "Content-Encoding": "gzip"})

    in_front(sim, mislabelled)


def test_writes_whose_answers_cannot_be_decompressed_are_reported_as_made(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    """The writes reach the account; their answers' bodies cannot be read. Today the run ends
    in one "unexpected" line with no word of the two attaches made, and the audit log holds
    only their `sent` lines: a user reads exit 1 as nothing written."""
    labelled_gzip(sim, lambda record: record.kind == "write")
    log_file = tmp_path / "audit.jsonl"

    result = run_cli(
        "apply", CONFIG, "--auto-approve", "--parallelism", "1", "--log-file", log_file
    )

    no_key(result)
    assert writes(sim)  # the account was changed
    assert "unexpected" not in result.err, result.err
    # Every write made is named where the run reports its writes.
    assert "Sales:" in result.out.split("Plan:")[-1], result.out
    outcomes = [json.loads(line)["outcome"] for line in log_file.read_text().splitlines()]
    assert any(outcome != "sent" for outcome in outcomes), outcomes


@pytest.mark.parametrize("path", ["/v1/personas", "/v1/inbound"])
def test_a_read_whose_answer_cannot_be_decompressed_names_its_endpoint_in_one_line(
    sim: Simulator, run_cli: RunCli, path: str
) -> None:
    labelled_gzip(sim, lambda record: record.path == path)

    result = run_cli("plan", CONFIG)

    no_key(result)
    assert result.code == 1
    assert sim.writes() == []
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert f"GET {path}" in lines[0] and "unexpected" not in lines[0], lines[0]


def test_a_check_after_apply_whose_answers_cannot_be_decompressed_ends_unverified(
    sim: Simulator, run_cli: RunCli
) -> None:
    """The writes are made and answered; the reads of the check after them are mislabelled.
    Like any read of the check that fails, it should end with the writes' report and exit 4."""
    labelled_gzip(sim, lambda record: record.kind == "read" and bool(sim.writes()))

    result = run_cli("apply", CONFIG, "--auto-approve", "--parallelism", "1")

    no_key(result)
    assert len(writes(sim)) == 3
    assert "unexpected" not in result.err, result.err
    assert "cannot read the account back" in result.out + result.err
    assert result.code == 4
