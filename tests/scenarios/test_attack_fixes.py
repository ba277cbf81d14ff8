"""Attacks on the latest fixes: a 403 PERSONA_NOT_FOUND as one persona's answer, files whose
read fails, YAML integers too long for decimal, stdout closed from the start, the log file
opened without waiting, and a listing page stopped by another page's 401/403.

Each was a defect, found as a failing test before its fix, or a case no other test drives.
"""

from __future__ import annotations

import copy
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.simulator import RequestRecord
from reconciler.simulator.api import Reply, error_reply
from tests.conftest import CONFIG, ROOT, SALES, SUPPORT, TEST_KEY, RunCli, write_config
from tests.scenarios import agent_account
from tests.scenarios.conftest import StartSim
from tests.scenarios.test_attack_stops import apply_logging_to
from tests.scenarios.test_broken_pipe import free_numbers, one_each
from tests.simulated import Simulator

HUGE = "0x" + "f" * 5000  # an integer of about 6,000 decimal digits, past Python's 4,300


def cli_environment(sim: Simulator | None = None) -> dict[str, str]:
    env = {**os.environ, "BLAND_API_KEY": TEST_KEY, "NO_COLOR": "1"}
    if sim is not None:
        env["BLAND_API_URL"] = sim.url
    env.pop("BLAND_API_KEY_FILE", None)
    return env


def stdout_closed(args: list[str], sim: Simulator | None = None, timeout: float = 60) -> Any:
    """`reconciler ARGS >&-`: the process starts without a file descriptor 1."""
    command = [sys.executable, "-m", "reconciler", *args]
    return subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", *command],
        env=cli_environment(sim), cwd=ROOT, stderr=subprocess.PIPE, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip


# -- YAML integers too long for decimal, where the schema wants another type or a smaller one ---

HUGE_PLACES = [
    pytest.param(f"  - id: {HUGE}\n    numbers: []\n", 3, id="persona id"),
    pytest.param(f"  - name: {HUGE}\n    numbers: []\n", 3, id="persona name"),
    pytest.param(f"  - name: a\n    numbers: [{HUGE}]\n", 4, id="number"),
    pytest.param(
        f'  - name: a\n    numbers:\n      - number: "+14155550100"\n        label: {HUGE}\n',
        6,
        id="label",
    ),
    pytest.param(
        f'  - name: a\n    numbers:\n      - number: "+14155550100"\n'
        f"        settings: {{pathway_id: p, pathway_version: {HUGE}}}\n",
        6,
        id="pathway_version",
    ),
    pytest.param(f"  []\nsafety:\n  max_detach_percent: {HUGE}\n", 5, id="max_detach_percent"),
    pytest.param(f"  []\nsafety:\n  allow_emptying: {HUGE}\n", 5, id="allow_emptying"),
    pytest.param(f"  []\nprotected: [{HUGE}]\n", 4, id="protected"),
]


@pytest.mark.parametrize(("entry", "line"), HUGE_PLACES)
def test_a_huge_integer_where_the_schema_wants_another_type_is_one_positioned_error(
    run_cli: RunCli, tmp_path: Path, entry: str, line: int
) -> None:
    config = tmp_path / "personas.yaml"
    config.write_text(f"version: 1\npersonas:\n{entry}")

    result = run_cli("validate", config)

    assert result.code == 1
    assert "unexpected" not in result.err, result.err[:300]
    assert result.err.startswith(f"{config}:{line}:"), result.err[:300]


def test_a_huge_min_numbers_is_refused_by_validate_or_saved_by_plan(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    config = tmp_path / "personas.yaml"
    config.write_text(CONFIG.read_text() + f"safety:\n  min_numbers: {HUGE}\n")
    saved = tmp_path / "saved.plan"

    checked = run_cli("validate", config)
    planned = run_cli("plan", config, "--out", saved)

    assert "unexpected" not in checked.err + planned.err, planned.err[:300]
    assert checked.code == planned.code == 1 or (checked.code == planned.code == 0), planned.err


# -- stdout closed from the start ----------------------------------------------------------------


@pytest.mark.parametrize("args", [["--version"], ["--help"]], ids=["--version", "--help"])
def test_version_and_help_with_stdout_closed_from_the_start_say_so_and_exit_1(
    args: list[str],
) -> None:
    done = stdout_closed(args)

    assert done.returncode == 1, done.stderr
    assert done.stderr == "error: stdout was closed before all output was written\n"


def test_the_simulator_with_stdout_closed_from_the_start_says_so_and_exits_1(
    tmp_path: Path,
) -> None:
    ready = tmp_path / "ready"
    state = ROOT / "examples" / "account.json"
    args = ["simulator", "--state", str(state), "--port", "0", "--ready-file", str(ready)]
    try:
        done = stdout_closed(args, timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("the simulator served on with stdout closed, saying nothing")
    assert done.returncode == 1, done.stderr
    assert "stdout was closed" in done.stderr


@pytest.mark.parametrize(
    "args",
    [["doctor"], ["plan", str(CONFIG), "--format", "json"]],
    ids=["doctor", "plan json"],
)
def test_more_commands_with_stdout_closed_from_the_start_say_so_and_exit_1(
    sim: Simulator, args: list[str]
) -> None:
    done = stdout_closed(args, sim)

    assert sim.writes() == []
    assert done.returncode == 1, done.stderr
    assert done.stderr == "error: stdout was closed before all output was written\n"


def test_show_with_stdout_closed_from_the_start_says_so_and_exits_1(
    run_cli: RunCli, sim: Simulator, tmp_path: Path
) -> None:
    saved = tmp_path / "saved.plan"
    assert run_cli("plan", CONFIG, "--out", saved).code == 0

    done = stdout_closed(["show", str(saved)])

    assert done.returncode == 1, done.stderr
    assert done.stderr == "error: stdout was closed before all output was written\n"


@pytest.mark.parametrize("how", ["closed", "no reader"], ids=[">&-", "| a pipe with no reader"])
def test_a_json_apply_whose_stdout_is_gone_from_the_start_writes_nothing_unsaid(
    sim: Simulator, how: str
) -> None:
    args = ["apply", str(CONFIG), "--auto-approve", "--format", "json"]
    if how == "closed":
        done = stdout_closed(args, sim)
        code, err = done.returncode, done.stderr
    else:
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            piped = subprocess.run(
                [sys.executable, "-m", "reconciler", *args],
                env=cli_environment(sim), cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE,
                text=True, timeout=60, check=False,
            )  # fmt: skip
        finally:
            os.close(write_end)
        code, err = piped.returncode, piped.stderr

    assert code != 0, err
    # As the text report does: write nothing, or say on stderr what was written.
    assert sim.writes() == [] or "+14155550110" in err, err


def test_stdout_failing_mid_apply_sends_no_new_write_and_reports_each_one_made(
    tmp_path: Path,
) -> None:
    # `reconciler apply ... > file` on a disk that fills: stdout takes the plan, then a write's
    # line fails (EFBIG here, from a 512-byte file size limit; ENOSPC on a full disk).
    count = 8
    state = free_numbers(count)
    config = one_each(tmp_path / "personas.yaml", count)
    out = tmp_path / "out.txt"
    with Simulator(state, api_key=TEST_KEY) as sim:
        command = [sys.executable, "-m", "reconciler", "apply", str(config), "--auto-approve"]
        done = subprocess.run(
            ["sh", "-c", 'ulimit -f 1; exec "$@" > "$OUT"', "sh", *command, "--parallelism", "1"],
            env={**cli_environment(sim), "OUT": str(out)}, cwd=ROOT, stderr=subprocess.PIPE,
            text=True, timeout=60, check=False,
        )  # fmt: skip
        made = [r.body["inbound_numbers"][0] for r in sim.writes() if r.status == 200]
    shown = out.read_text()
    # The plan went out, then the output was cut short among the writes.
    assert shown.startswith("Persona 00 (p00)") and "Plan: 8 to attach" in shown
    assert len(shown) == 512 and "Apply " not in shown, shown

    assert done.returncode == 4, done.stderr
    assert "unexpected" not in done.stderr, done.stderr
    for number in made:  # each write made is reported, on stdout or else on stderr
        assert f"({number})" in shown.split("Plan: ")[1] + done.stderr, number


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize(
    "args", [["validate", str(CONFIG)], ["plan", str(CONFIG)]], ids=["validate", "plan"]
)
def test_stdout_on_a_full_disk_is_one_line_naming_stdout(sim: Simulator, args: list[str]) -> None:
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", *args],
            env=cli_environment(sim), cwd=ROOT, stdout=full, stderr=subprocess.PIPE, text=True,
            timeout=60, check=False,
        )  # fmt: skip
    finally:
        os.close(full)

    assert done.returncode == 1, done.stderr
    assert "unexpected" not in done.stderr, done.stderr
    assert "stdout" in done.stderr, done.stderr


# -- plan files whose read fails ------------------------------------------------------------------

UNREADABLE = "/proc/self/mem"  # a regular file whose first read fails (EIO)


@pytest.mark.skipif(not os.path.exists(UNREADABLE), reason="needs /proc/self/mem")
def test_show_names_a_plan_file_whose_read_fails(run_cli: RunCli) -> None:
    result = run_cli("show", UNREADABLE)

    assert result.code == 1
    assert result.err.startswith(f"error: {UNREADABLE}: cannot read"), result.err


# -- a 403 PERSONA_NOT_FOUND where no persona is named ---------------------------------------------

N1, N2, N3 = "+14155550101", "+14155550102", "+14155550103"
LABELS_STATE: dict[str, Any] = {
    "numbers": [{"phone_number": n, "label": None} for n in (N1, N2, N3)],
    "personas": [{"id": "p-one", "name": "One", "numbers": [N1, N2, N3]}],
}


def read_answers(sim: Simulator, path: str, status: int, code: str) -> None:
    """GET `path` is answered `status` with error `code`, every time."""
    own = sim.intercept
    assert own is not None

    def intercept(record: RequestRecord, serve: Callable[[RequestRecord], Reply]) -> Reply:
        if record.method == "GET" and record.path.rstrip("/") == path:
            return error_reply(status, code, "Refused")
        return own(record, serve)

    sim.intercept = intercept


def answer_writes(sim: Simulator, suffix: str, status: int, code: str) -> list[RequestRecord]:
    """The first write whose path ends with `suffix` is answered `status` `code`, not made; the
    writes sent after it are listed."""
    own = sim.intercept
    assert own is not None
    after: list[RequestRecord] = []
    answered: list[RequestRecord] = []

    def intercept(record: RequestRecord, serve: Callable[[RequestRecord], Reply]) -> Reply:
        if record.kind == "write" and answered:
            after.append(record)
        if record.kind == "write" and not answered and record.path.rstrip("/").endswith(suffix):
            answered.append(record)
            return error_reply(status, code, "Persona not found or access denied")
        return own(record, serve)

    sim.intercept = intercept
    return after


def test_a_403_persona_not_found_on_a_label_write_stops_the_run(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(LABELS_STATE)
    after = answer_writes(sim, "/update_label", 403, "PERSONA_NOT_FOUND")
    entries = [
        {"id": "p-one", "numbers": [{"number": n, "label": f"L{n[-1]}"} for n in (N1, N2, N3)]}
    ]
    config = write_config(tmp_path / "personas.yaml", entries)

    result = run_cli("apply", config, "--auto-approve", "--parallelism", "1")

    # The 403's message itself says the key lacks permission; the other labels go out, and
    # the repair sends the refused one again.
    assert [r.path for r in after] == [], result.out
    assert result.code != 0, result.out


# -- a signal while stderr is a full pipe ----------------------------------------------------------


def full_pipe() -> tuple[int, int]:
    """A pipe whose buffer is full: a blocking write to it waits until someone reads."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    try:
        while True:
            os.write(write_end, b"x" * 4096)
    except BlockingIOError:
        pass
    os.set_blocking(write_end, True)
    return read_end, write_end


@pytest.mark.parametrize(
    ("args", "kind", "signals"),
    [(["plan", str(CONFIG)], "read", 1), (["apply", str(CONFIG), "--auto-approve"], "write", 2)],
    ids=["plan, one signal", "apply's writes, two signals"],
)
def test_a_signal_with_stderr_a_full_pipe_still_ends_the_run(
    start_sim: StartSim, args: list[str], kind: str, signals: int
) -> None:
    # `reconciler ... 2>&1 | reader` whose reader has stopped reading, without closing the pipe.
    sim = start_sim(**({"hang": 1} if kind == "read" else {"hang_writes_after": 0}))
    read_end, write_end = full_pipe()
    command = [sys.executable, "-m", "reconciler", "--timeout", "300", *args]
    try:
        process = subprocess.Popen(
            command, env=cli_environment(sim), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=write_end
        )
    finally:
        os.close(write_end)
    try:
        give_up = time.monotonic() + 30
        while not any(r.status == 0 and r.kind == kind for r in sim.requests):
            assert process.poll() is None and time.monotonic() < give_up, "never sent the request"
            threading.Event().wait(0.01)
        for _ in range(signals):
            threading.Event().wait(0.5)
            process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = None
        assert code == 130
    finally:
        process.kill()
        process.wait()
        os.close(read_end)


# -- a 401/403 on the read before a refused attach's fallback ------------------------------------

MOVE_STATE: dict[str, Any] = {
    "numbers": [{"phone_number": N1, "label": None}],
    "personas": [
        {"id": "p-new", "name": "New", "numbers": []},
        {"id": "p-old", "name": "Old", "numbers": [N1]},
    ],
}


@pytest.mark.parametrize("status", [401, 403])
def test_a_key_refused_on_the_read_before_a_fallback_sends_nothing_more(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, status: int
) -> None:
    sim = start_sim(MOVE_STATE, attach_mode="refuse")
    own = sim.intercept
    assert own is not None
    writes: list[RequestRecord] = []
    refused: list[RequestRecord] = []  # the 401/403 on the read of the old persona
    after: list[RequestRecord] = []  # writes sent after it

    def intercept(record: RequestRecord, serve: Callable[[RequestRecord], Reply]) -> Reply:
        if record.kind == "write":
            (after if refused else writes).append(record)
        elif writes and record.method == "GET" and record.path.rstrip("/") == "/v1/personas/p-old":
            refused.append(record)
            code = "AUTH_FAILURE" if status == 401 else "FORBIDDEN"
            return error_reply(status, code, "The key may not do this")
        return own(record, serve)

    sim.intercept = intercept
    config = write_config(tmp_path / "personas.yaml", [{"id": "p-new", "numbers": [N1]}])

    result = run_cli("apply", config, "--auto-approve", "--force")

    assert len(writes) == len(refused) == 1, result.out  # the refused attach, then the read
    assert result.code != 0, result.out
    # Nothing is freed yet: the detach and the attach after the 401/403 are writes the key
    # refused is sent on with.
    assert [(r.method, r.path) for r in after] == [], result.out


# -- the log file a pipe no one reads any more ---------------------------------------------------


@pytest.mark.skipif(not hasattr(fcntl, "F_SETPIPE_SZ"), reason="needs F_SETPIPE_SZ")
def test_a_signal_ends_an_apply_whose_log_pipe_is_full_with_the_report(tmp_path: Path) -> None:
    # `--log-file >(slow reader)` whose reader stops reading: the writes on the wire all end,
    # then a log line waits for room in the pipe.
    count = 40
    state = free_numbers(count)
    config = one_each(tmp_path / "personas.yaml", count)
    fifo = tmp_path / "audit.pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # open, and never read
    fcntl.fcntl(reader, fcntl.F_SETPIPE_SZ, 4096)  # room for some twenty lines
    with Simulator(state, api_key=TEST_KEY) as sim:
        process = apply_logging_to(sim, config, fifo)
        try:
            seen, give_up = -1, time.monotonic() + 30
            while seen != (seen := len(sim.writes())) or seen == 0:  # until no write goes out
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < give_up, "the writes never stopped"
                threading.Event().wait(1)
            assert all(r.status != 0 for r in sim.writes())  # none on the wire
            process.send_signal(signal.SIGINT)
            try:
                out, err = process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                out, err = "", "still running 10 s after the signal"
        finally:
            process.kill()
            process.wait()
            os.close(reader)

    assert process.returncode == 130, err
    assert "Apply interrupted by SIGINT" in out + err, out + err


# -- a 403 PERSONA_NOT_FOUND on one persona's write, and on the reads ------------------------------


def test_a_403_persona_not_found_on_one_attach_holds_back_its_detach_and_fails_the_apply(
    start_sim: StartSim, run_cli: RunCli
) -> None:
    # One persona's answer, each time it is asked: the other persona's attach goes out, this
    # one's detach (make before break) never does, and the report names what is still needed.
    sim = start_sim()
    own = sim.intercept
    assert own is not None
    refused = f"/v1/personas/{SUPPORT}/inbound/attach"

    def intercept(record: RequestRecord, serve: Callable[[RequestRecord], Reply]) -> Reply:
        if record.kind == "write" and record.path.rstrip("/") == refused:
            return error_reply(403, "PERSONA_NOT_FOUND", "Persona not found or access denied")
        return own(record, serve)

    sim.intercept = intercept

    result = run_cli("apply", CONFIG, "--auto-approve", "--parallelism", "1")

    assert result.code == 4, result.out + result.err
    assert sorted(sim.owners()["+14155550110"]) == [SALES]  # the other persona's attach
    assert sim.owners()["+14155550103"] == [SUPPORT]  # its detach held back
    assert not [r for r in sim.writes() if r.path.endswith("/detach")]
    still = result.out.split("not converged", 1)[-1]
    for number in ("+14155550101", "+14155550102", "+14155550103"):
        assert number in still, result.out


READS = [
    pytest.param("/v1/personas", id="listing"),
    pytest.param("/v1/inbound", id="GET /v1/inbound"),
    pytest.param("/v2/agents", id="agents"),
    pytest.param(f"/v1/personas/{SUPPORT}", id="a persona by id"),
]


@pytest.mark.parametrize("path", READS)
def test_a_403_persona_not_found_on_a_read_of_the_plan_writes_nothing(
    start_sim: StartSim, run_cli: RunCli, example_state: dict[str, Any], path: str
) -> None:
    # +14155550100 listed on Support Agent and on the IVR: each is read again by id.
    state = copy.deepcopy(example_state)
    state["personas"][1]["numbers"].append("+14155550100")
    sim = start_sim(state)
    read_answers(sim, path, 403, "PERSONA_NOT_FOUND")

    result = run_cli("apply", CONFIG, "--auto-approve")

    assert sim.writes() == []
    assert result.code == 1, result.out + result.err
    assert "HTTP 403 PERSONA_NOT_FOUND" in result.err, result.err


# -- stderr unwritable during an apply ------------------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize(
    ("switches", "verbose", "code"),
    [
        ({}, "-vv", 0),
        ({"write_statuses": [400] * 40}, "-v", 4),
        ({"write_statuses": [403]}, "-vv", 1),
    ],
    ids=["done", "incomplete", "key refused"],
)
def test_apply_with_stderr_unwritable_ends_with_its_own_exit_status(
    start_sim: StartSim, switches: dict[str, Any], verbose: str, code: int
) -> None:
    # `2>/dev/full`: the log lines, the "Apply incomplete" line and the error all fail to go out
    # (ENOSPC); the report on stdout and the exit status are the run's.
    sim = start_sim(**switches)
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", verbose, "apply", str(CONFIG), "--auto-approve"],
            env=cli_environment(sim), cwd=ROOT, stdout=subprocess.PIPE, stderr=full, text=True,
            timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.close(full)

    assert done.returncode == code, done.stdout
    assert "Traceback" not in done.stdout
    last = done.stdout.splitlines()[-1]
    assert last.startswith("Apply complete" if code == 0 else "  "), done.stdout


# -- doctor after a 403 on another read than a twin's ---------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/v1/inbound", "/v2/agents", f"/v2/agents/{agent_account.BOT}/inbound"],
    ids=["GET /v1/inbound", "GET /v2/agents", "an agent's binding"],
)
def test_doctor_names_the_403_wherever_a_later_check_cannot_read(
    start_sim: StartSim, run_cli: RunCli, path: str
) -> None:
    sim = start_sim(agent_account.state(), legacy_inbound_includes_persona=True)
    read_answers(sim, path, 403, "FORBIDDEN")

    result = run_cli("doctor")

    # As for a twin read by id: never a check failing on a read not sent, without the 403.
    assert "not sent" not in result.out, result.out
    failed = [line for line in result.out.splitlines() if line.startswith("fail")]
    assert all("403" in line for line in failed), result.out
