"""Attacks on the read limit (a 429 on a read halves the reads in flight) and on a refused attach's
fallback, which goes out even when its audit `sent` line cannot be written.

Two were defects of a read queued for the one slot left after 429s, whose deadline and Retry-After
were checked before its wait: it now takes its turn first, then waits out a pause that came
meanwhile, and its wait does not count against its deadline. The rest hold and no other
test drives them: no read waits for a slot while holding one, a 429 storm on reads ends in its
deadline (exit 1, "gave up after retries") and -v says when the reads were lowered; a log failing
anywhere in the fallback stops the run (exit 1, the log error named) with the number on New, or
back on Old, and no other write sent. The log fails through auditlog's `os` (ENOSPC from a chosen
line on, as a disk that fills up) or for real on /dev/full.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler import auditlog
from reconciler.api import transport
from reconciler.api.client import BlandClient
from reconciler.errors import ApiError
from reconciler.simulator import RequestRecord
from reconciler.simulator.api import Reply
from tests.conftest import CONFIG, ROOT, TEST_KEY, FakeTime, RunCli, write_config
from tests.scenarios.conftest import StartSim
from tests.scenarios.test_attack_stops import wait_for
from tests.simulated import Simulator
from tests.simulator_faults import with_test_faults

DEADLINE = 120.0  # seconds a subprocess gets before it counts as hung
N1, N2 = "+14155550101", "+14155550102"
NO_SPACE = "cannot write the log file (No space left on device)"
Step = tuple[str, str, str]

# New is refused N1 (409 in use, held by Old): the tool frees it on Old, then attaches it.
# Other gains the free N2: a write that is no fallback.
MOVE_STATE: dict[str, Any] = {
    "numbers": [{"phone_number": N1, "label": None}, {"phone_number": N2, "label": None}],
    "personas": [
        {"id": "p-new", "name": "New", "numbers": []},
        {"id": "p-old", "name": "Old", "numbers": [N1]},
        {"id": "p-other", "name": "Other", "numbers": []},
    ],
}
MOVE_CONFIG = [{"id": "p-new", "numbers": [N1]}, {"id": "p-other", "numbers": [N2]}]


class FillingDisk:
    """auditlog's `os`: every line from the `occurrence`th `first_failing` on fails (ENOSPC);
    `written` keeps the lines that were written, as (persona, action, outcome)."""

    def __init__(self, first_failing: Step, occurrence: int = 1) -> None:
        self.first_failing, self.occurrence = first_failing, occurrence
        self.full = False
        self.written: list[Step] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def write(self, descriptor: int, data: bytes) -> int:
        line = json.loads(data)
        step = (line["persona_id"], line["action"], line["outcome"])
        self.occurrence -= step == self.first_failing
        self.full = self.full or self.occurrence == 0
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.written.append(step)
        return os.write(descriptor, data)


def sent_writes(sim: Any) -> list[tuple[str, int]]:
    return [(r.path, r.status) for r in sim.writes()]


def apply_with_failing_log(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    first_failing: Step, occurrence: int = 1, **switches: Any,
) -> tuple[Any, Any, FillingDisk]:  # fmt: skip
    sim = start_sim(MOVE_STATE, attach_mode="refuse", **switches)
    config = write_config(tmp_path / "personas.yaml", MOVE_CONFIG)
    disk = FillingDisk(first_failing, occurrence)
    monkeypatch.setattr(auditlog, "os", disk)
    log = tmp_path / "audit.jsonl"
    result = run_cli(
        "apply", config, "--auto-approve", "--force", "--parallelism", "1", "--log-file", log
    )
    return sim, result, disk


# -- the fallback when the log fails -------------------------------------------------------------


WRITTEN_BEFORE = {
    "the detach's sent line": [("p-new", "attach", "sent"), ("p-new", "attach", "refused")],
    "the detach's done line": [
        ("p-new", "attach", "sent"), ("p-new", "attach", "refused"), ("p-old", "detach", "sent"),
    ],
    "the second attach's sent line": [
        ("p-new", "attach", "sent"), ("p-new", "attach", "refused"), ("p-old", "detach", "sent"),
        ("p-old", "detach", "done"),
    ],
}  # fmt: skip


@pytest.mark.parametrize(
    ("first_failing", "occurrence", "written"),
    [
        (("p-old", "detach", "sent"), 1, WRITTEN_BEFORE["the detach's sent line"]),
        (("p-old", "detach", "done"), 1, WRITTEN_BEFORE["the detach's done line"]),
        (("p-new", "attach", "sent"), 2, WRITTEN_BEFORE["the second attach's sent line"]),
    ],
    ids=list(WRITTEN_BEFORE),
)
def test_a_log_failing_in_the_fallback_still_lands_the_number_on_new_and_stops_the_run(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    first_failing: Step, occurrence: int, written: list[Step],
) -> None:  # fmt: skip
    sim, result, disk = apply_with_failing_log(
        start_sim, run_cli, tmp_path, monkeypatch, first_failing, occurrence
    )

    assert sent_writes(sim) == [
        ("/v1/personas/p-new/inbound/attach", 409),
        ("/v1/personas/p-old/inbound/detach", 200),
        ("/v1/personas/p-new/inbound/attach", 200),
    ], result.out + result.err
    assert sim.owners()[N1] == ["p-new"]
    assert sim.owners()[N2] == []  # Other's attach never went out: the run had stopped
    assert disk.written == written
    assert result.code == 1, result.out + result.err
    assert NO_SPACE in result.err, result.err


@pytest.mark.parametrize(
    ("first_failing", "written"),
    [
        (("p-old", "detach", "sent"), 2),  # the log holds the refused attach's two lines
        (("p-old", "attach", "sent"), 5),  # ... the detach's two, the second attach's sent line
    ],
    ids=["at the detach", "at the put-back"],
)
def test_a_log_failing_in_the_fallback_still_puts_the_number_back_when_the_attach_fails(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    first_failing: Step, written: int,
) -> None:  # fmt: skip
    # The attach after the detach is refused too (400): N1 must go back to Old.
    sim, result, disk = apply_with_failing_log(
        start_sim, run_cli, tmp_path, monkeypatch, first_failing, write_statuses=[0, 0, 400]
    )

    assert sent_writes(sim) == [
        ("/v1/personas/p-new/inbound/attach", 409),
        ("/v1/personas/p-old/inbound/detach", 200),
        ("/v1/personas/p-new/inbound/attach", 400),
        ("/v1/personas/p-old/inbound/attach", 200),
    ], result.out + result.err
    assert sim.owners()[N1] == ["p-old"]
    assert sim.owners()[N2] == []
    assert len(disk.written) == written, disk.written
    assert result.code == 1, result.out + result.err
    assert NO_SPACE in result.err, result.err


def test_a_log_failing_at_the_refusal_frees_nothing(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, result, _ = apply_with_failing_log(
        start_sim, run_cli, tmp_path, monkeypatch, ("p-new", "attach", "refused")
    )

    assert sent_writes(sim) == [("/v1/personas/p-new/inbound/attach", 409)]
    assert sim.owners()[N1] == ["p-old"]
    assert result.code == 1, result.out + result.err
    assert NO_SPACE in result.err, result.err


def test_a_log_on_dev_full_sends_nothing_not_even_the_refused_attach(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    if not os.access("/dev/full", os.W_OK):
        pytest.skip("no writable /dev/full")
    sim = start_sim(MOVE_STATE, attach_mode="refuse")
    config = write_config(tmp_path / "personas.yaml", MOVE_CONFIG)

    result = run_cli("apply", config, "--auto-approve", "--force", "--log-file", "/dev/full")

    assert sim.writes() == [], result.out + result.err
    assert sim.owners() == {N1: ["p-old"], N2: []}
    assert result.code == 1, result.out + result.err
    assert "/dev/full: " + NO_SPACE in result.err, result.err


# -- the read limit --------------------------------------------------------------------------------


def test_minus_v_says_when_a_429_on_a_read_lowers_the_reads_in_flight(
    start_sim: StartSim, run_cli: RunCli
) -> None:
    start_sim(read_statuses=[429])

    result = run_cli("plan", CONFIG, "-v")

    assert result.code in (0, 2), result.out + result.err
    assert "rate limited: concurrent reads lowered to 8" in result.err, result.err


def environment(url: str) -> dict[str, str]:
    """The CLI's environment for the simulator at `url` (as cli_environment)."""
    env = {**os.environ, "BLAND_API_KEY": TEST_KEY, "NO_COLOR": "1", "BLAND_API_URL": url}
    env.pop("BLAND_API_KEY_FILE", None)
    return env


def run_to_the_end(url: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """`reconciler ARGS...` in a subprocess against the simulator at `url`; a run past DEADLINE
    is a hang."""
    command = [sys.executable, "-m", "reconciler", *map(str, args)]
    try:
        return subprocess.run(
            command, env=environment(url), cwd=ROOT, capture_output=True, text=True,
            timeout=DEADLINE,
        )  # fmt: skip
    except subprocess.TimeoutExpired as hung:
        pytest.fail(f"the run hung: {hung.stderr!r}")


def test_a_429_storm_on_reads_that_eases_ends_the_plan_with_the_reads_done(
    start_sim: StartSim, run_cli: RunCli
) -> None:
    # Five 429s in a row (no Retry-After) take the read limit down to 1; the reads then go out
    # one at a time, none waiting for ever. (In process: its backoffs take no real time.)
    start_sim(read_statuses=[429] * 5)
    done = run_cli("plan", CONFIG, "-v")

    assert done.code in (0, 2), done.err[-2000:]
    assert "concurrent reads lowered to 1" in done.err, done.err[-2000:]


def test_a_429_storm_on_reads_that_never_eases_ends_the_plan_within_its_deadline(
    start_sim: StartSim, run_cli: RunCli
) -> None:
    start_sim(read_statuses=[429] * 10_000)
    done = run_cli("--timeout", "2", "plan", CONFIG)

    assert done.code == 1, done.out + done.err
    assert "429" in done.err and "gave up after retries" in done.err, done.err


def one_read_slot(
    sim: Simulator, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch,
    sleep: Callable[[float], None] | None = None, timeout: float = 10.0,
) -> tuple[BlandClient, transport.InFlight, list[str]]:  # fmt: skip
    """A client of `sim` whose read limit 429s on reads took down to 1, its InFlight of reads,
    and two persona ids to read."""
    limits: list[transport.InFlight] = []
    made = transport.InFlight.__init__

    def kept(self: transport.InFlight, ceiling: int, kind: str) -> None:
        made(self, ceiling, kind)
        limits.append(self)

    monkeypatch.setattr(transport.InFlight, "__init__", kept)
    client = BlandClient(
        sim.url,
        TEST_KEY,
        timeout=timeout,
        sleep=sleep or fake_time.sleep,
        clock=fake_time.monotonic,
    )
    reads = next(limit for limit in limits if limit.kind == "reads")
    ids = [persona["id"] for persona in sim.export_state()["personas"]][:2]
    # 429s on reads one after the other, each under a new limit: 16 -> 8 -> 4 -> 2 -> 1.
    for persona_id in ids * 2:
        sim.faults.update({"read_statuses": [429]})
        client.get_persona(persona_id)
    assert reads.limit == 1
    return client, reads, ids


def waiting(reads: transport.InFlight) -> int:
    """How many threads wait for a slot of `reads`."""
    return len(reads._condition._waiters)  # type: ignore[attr-defined]


def read_side_by_side(client: BlandClient, ids: list[str]) -> tuple[list[str], list[str]]:
    """Read the personas at once, one thread each: the ids read, the errors met."""
    answered: list[str] = []
    errors: list[str] = []

    def read(persona_id: str) -> None:
        try:
            answered.append(client.get_persona(persona_id).id)
        except ApiError as error:
            errors.append(str(error))

    threads = [
        threading.Thread(target=read, args=(persona_id,), name=f"read {persona_id}")
        for persona_id in ids
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    assert not any(thread.is_alive() for thread in threads)
    return answered, errors


def test_a_read_that_waited_past_its_deadline_for_its_turn_is_still_sent(
    start_sim: StartSim, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = start_sim()
    client, reads, ids = one_read_slot(sim, fake_time, monkeypatch)
    # Two reads at once: the first holds the only slot while the second waits for it; its
    # answer takes 45 s, past either read's deadline (40 s, 4 x the timeout).
    own = sim.intercept
    assert own is not None
    served: list[str] = []

    def slow(record: RequestRecord, serve: Callable[[RequestRecord], Reply]) -> Reply:
        served.append(record.path)
        if len(served) == 1:
            wait_for(lambda: waiting(reads) >= 1, "the second read waiting for the slot")
            fake_time.sleep(45.0)
        return own(record, serve)

    sim.intercept = slow
    with client:
        answered, errors = read_side_by_side(client, ids)

    # The first is cut short by its own deadline; the second's wait for its turn does not count
    # against its deadline (docs/commands.md, "Time and size"), so it is sent and answered.
    assert len(served) == 2 and len(answered) == 1, (served, answered)
    (error,) = errors
    assert "deadline (40s, 4 x --timeout) passed while its answer was still arriving" in error


def test_a_read_queued_for_a_slot_honours_a_retry_after_that_came_while_it_waited(
    start_sim: StartSim, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = start_sim()
    arrived: dict[str, float] = {}  # path -> when it reached the API

    def sleep(seconds: float) -> None:
        # The first read's wait after its 429 lets the second arrive first, however late.
        first = next(iter(arrived), None)
        if first is not None and threading.current_thread().name == f"read {first.split('/')[-1]}":
            wait_for(lambda: len(arrived) >= 2, "the second read")
        fake_time.sleep(seconds)

    # Fake sleeps add up across threads: the first read's wait and the second's pause both
    # move the clock, so the deadline is made long enough for the two.
    client, reads, ids = one_read_slot(sim, fake_time, monkeypatch, sleep, timeout=30.0)
    own = sim.intercept
    assert own is not None
    paused_at: list[float] = []

    def pause(record: RequestRecord, serve: Callable[[RequestRecord], Reply]) -> Reply:
        if not arrived:  # the first holds the only slot: 429, Retry-After 20 s
            wait_for(lambda: waiting(reads) >= 1, "the second read waiting for the slot")
            sim.faults.update({"read_statuses": [429], "retry_after": "20"})
            paused_at.append(fake_time.monotonic())
        arrived.setdefault(record.path, fake_time.monotonic())
        return own(record, serve)

    sim.intercept = pause
    with client:
        answered, errors = read_side_by_side(client, ids)

    assert errors == [] and sorted(answered) == sorted(ids)
    second = next(when for path, when in arrived.items() if path != next(iter(arrived)))
    assert second >= paused_at[0] + 20.0, f"sent {second - paused_at[0]:.1f}s into a 20s pause"


def test_a_doctor_in_a_429_storm_on_reads_ends_within_its_deadline(
    start_sim: StartSim, run_cli: RunCli
) -> None:
    start_sim(read_statuses=[429] * 10_000)
    done = run_cli("--timeout", "2", "doctor")

    assert done.code == 1, done.out + done.err
    assert "429" in done.out + done.err, done.out + done.err


def test_sigint_ends_a_plan_whose_reads_wait_for_the_one_slot_a_hung_read_holds(
    example_state: dict[str, Any],
) -> None:
    # Five 429s take the read limit to 1; the page read after page 1 then hangs with the only
    # slot, the others waiting behind it. Ctrl-C.
    sim = with_test_faults(Simulator(example_state, api_key=TEST_KEY))
    own = sim.intercept
    assert own is not None
    served: list[str] = []
    release = threading.Event()

    def script(record: RequestRecord, serve: Callable[[RequestRecord], Reply]) -> Reply:
        served.append(record.path)
        if len(served) <= 5:  # Retry-After: 0, so that no backoff holds the test
            sim.faults.update({"read_statuses": [429], "retry_after": "0"})
        elif len(served) == 7:
            release.wait(DEADLINE)
        return own(record, serve)

    sim.intercept = script
    with sim:
        command = [sys.executable, "-m", "reconciler", "--timeout", "1", "plan", str(CONFIG)]
        process = subprocess.Popen(
            [*command, "-v"], env=environment(sim.url), cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            wait_for(lambda: len(served) >= 7 or process.poll() is not None, "the hung read")
            assert process.poll() is None, process.communicate()
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=DEADLINE)
        finally:
            release.set()
            process.kill()
            process.wait()

    assert "concurrent reads lowered to 1" in err, err
    assert process.returncode == 130, out + err
    assert "Traceback" not in err, err


def test_an_apply_whose_write_is_read_back_with_one_read_slot_ends_converged(
    start_sim: StartSim, run_cli: RunCli
) -> None:
    # Five 429s take the read limit to 1 during the plan's reads; the first write's answer is
    # lost, so it is read back (a read, under that limit) before any resend.
    start_sim(read_statuses=[429] * 5, drop_after_write=1)
    done = run_cli("apply", CONFIG, "--auto-approve", "-v")

    assert done.code == 0, done.out[-2000:] + done.err[-2000:]
    assert "concurrent reads lowered to 1" in done.err, done.err[-2000:]
    assert "the earlier attempt took effect" in done.err, done.err[-2000:]
