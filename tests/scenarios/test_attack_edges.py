"""Attacks at the edges: writes answered as done but not made (apply reads no write's answer),
signals during the writes with stdout or stderr closed or full, plan and config files whose read
fails or that are huge, YAML integers too long to show, and doctor's twin read by id.

Each covers a case no other test drives.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import reconciler.settings as settings_module
from reconciler.planfile import is_plan_file
from reconciler.simulator import RequestRecord
from reconciler.simulator.api import Reply, error_reply
from tests.conftest import CONFIG, ROOT, TEST_KEY, RunCli
from tests.forked_cli import ForkedCli
from tests.scenarios import agent_account
from tests.scenarios.conftest import StartSim
from tests.scenarios.test_broken_pipe import free_numbers as free_numbers_state
from tests.scenarios.test_broken_pipe import one_each as one_each_config
from tests.scenarios.test_settings_and_labels import CONFIG as LABELLED_CONFIG
from tests.scenarios.test_settings_and_labels import STATE as LABELLED_STATE
from tests.scenarios.test_signals import wait_for, wait_until_blocked
from tests.simulated import Simulator

# -- writes whose answers lie ----------------------------------------------------------------------


def writes_that_lie(sim: Simulator, suffix: str) -> None:
    """Every write whose path ends with `suffix` is answered as the API answers it once done, and
    then undone: the answer says it took effect, the account says it did not."""
    own = sim.intercept
    assert own is not None

    def intercept(record: RequestRecord, serve: Callable[[RequestRecord], Reply]) -> Reply:
        if record.kind != "write" or not record.path.rstrip("/").endswith(suffix):
            return own(record, serve)
        with sim.lock:
            before = sim.export_state()
            reply = own(record, serve)
            sim.load(before)
        return reply

    sim.intercept = intercept


LYING_PERSONA_WRITES = [
    pytest.param(
        "/inbound/attach",
        [
            "attach +14155550101 ('Support')",
            "move +14155550102 ('Support') from 'Legacy IVR'",
            "settings +14155550101 ('Support')",
            "settings +14155550102 ('Support')",
            "label +14155550101 ('Support')",
        ],
        id="attach",
    ),
    pytest.param(
        "/settings",
        [
            "settings +14155550101 ('Support')",
            "settings +14155550102 ('Support')",
            "settings +14155550103 ('Support')",
        ],
        id="settings",
    ),
    pytest.param("/update_label", ["label +14155550101 ('Support')"], id="label"),
]


@pytest.mark.parametrize(("suffix", "still_needed"), LYING_PERSONA_WRITES)
def test_a_write_answered_as_done_but_not_made_fails_the_apply_naming_each_change(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, suffix: str, still_needed: list[str]
) -> None:
    # Write answers are no longer read: only the plan made after the writes can tell.
    sim = start_sim(LABELLED_STATE)
    writes_that_lie(sim, suffix)
    config = tmp_path / "personas.yaml"
    config.write_text(LABELLED_CONFIG)

    result = run_cli("apply", config, "--auto-approve")

    assert result.code == 4, result.out + result.err
    assert result.err == "Apply incomplete. Run plan to see what remains.\n"
    needed = [
        line.removeprefix("  not converged: still needed: ")
        for line in result.out.splitlines()
        if line.startswith("  not converged: still needed: ")
    ]
    assert len(needed) == len(still_needed), needed
    for change, wanted in zip(needed, still_needed, strict=True):
        assert change.startswith(wanted), (change, wanted)


@pytest.mark.parametrize(
    ("suffix", "still_needed"),
    [
        ("/inbound/attach", "attach +14155550102 (agent 'Bot')"),
        ("/inbound/detach", "detach +14155550105 (agent 'Bot')"),
    ],
    ids=["attach", "detach"],
)
def test_an_agent_write_answered_as_done_but_not_made_fails_the_apply_naming_it(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, suffix: str, still_needed: str
) -> None:
    sim = start_sim(agent_account.state(), legacy_inbound_includes_persona=True)
    writes_that_lie(sim, suffix)
    config = agent_account.config(
        tmp_path,
        [{"id": agent_account.SUPPORT, "numbers": [agent_account.N100, agent_account.N106]}],
        [{"id": agent_account.BOT, "numbers": [agent_account.N101, agent_account.N102]}],
    )

    result = run_cli("apply", config, "--auto-approve")

    assert result.code == 4, result.out + result.err
    assert f"  not converged: still needed: {still_needed}\n" in result.out
    assert result.out.count("not converged") == 1, result.out


def test_a_detach_answered_as_done_but_not_made_is_named_after_the_repair(
    sim: Simulator, run_cli: RunCli
) -> None:
    writes_that_lie(sim, "/inbound/detach")

    result = run_cli("apply", CONFIG, "--auto-approve")

    assert result.code == 4, result.out + result.err
    assert "  not converged: still needed: detach +14155550103 ('Support Agent')\n" in result.out
    assert sim.owners()["+14155550103"] == ["7b0c4a9e-1d2f-4c3b-9a8e-5f6d7c8b9a01"]


# -- signals while stdout or stderr is closed ------------------------------------------------------

PERSONAS = 12
PARALLELISM = 4


@pytest.fixture
def free_numbers() -> Iterator[Simulator]:
    with Simulator(free_numbers_state(PERSONAS), api_key=TEST_KEY) as simulator:
        yield simulator


@pytest.fixture
def one_each(tmp_path: Path) -> Path:
    return one_each_config(tmp_path / "personas.yaml", PERSONAS)


def cli_environment(sim: Simulator) -> dict[str, str]:
    env = {**os.environ, "BLAND_API_URL": sim.url, "BLAND_API_KEY": TEST_KEY, "NO_COLOR": "1"}
    env.pop("BLAND_API_KEY_FILE", None)
    return env


def in_flight(sim: Simulator, count: int) -> Callable[[], bool]:
    return lambda: sum(r.status == 0 for r in sim.writes()) == count


@pytest.mark.parametrize("second_signal", [False, True], ids=["one signal", "two signals"])
def test_a_signal_after_stdout_closed_finishes_the_writes_in_flight(
    forked: ForkedCli,
    free_numbers: Simulator,
    one_each: Path,
    tmp_path: Path,
    second_signal: bool,
) -> None:
    # stdout closed sets the stop event; the SIGINT after it is a first signal: the
    # writes on the wire finish and the report goes to stderr with 130. A second SIGINT ends it.
    sim = free_numbers
    gate = threading.Semaphore(0)
    sim.on_write = lambda _sim, _record: gate.acquire(timeout=60)
    log_file = tmp_path / "run.log"
    args = ["apply", one_each, "--auto-approve", "--parallelism", PARALLELISM]
    process = forked.start(
        *map(str, [*args, "--log-file", log_file]), env=cli_environment(sim), cwd=ROOT
    )
    wait_for(in_flight(sim, PARALLELISM), process, "had its writes in flight")
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader goes, as head does
    process.stdout = None
    gate.release()  # one write ends: its line finds stdout closed, and nothing new is sent
    wait_for(lambda: '"skipped"' in log_file.read_text(), process, "skipped the writes left")
    wait_until_blocked(process, "futex")  # waiting for the writes in flight
    process.send_signal(signal.SIGINT)
    assert process.stderr.readline().startswith("Received SIGINT: finishing the writes in flight")
    if second_signal:
        process.send_signal(signal.SIGINT)
        wait_for(lambda: process.poll() is not None, process, "ended at once")
    for _ in range(PERSONAS):
        gate.release()
    _, err = process.communicate(timeout=60)

    assert process.returncode == 130, err
    assert "Traceback" not in err
    if second_signal:
        assert err.endswith("run plan to see what remains.\nStopped by SIGINT.\n"), err
        return
    assert all(r.status == 200 for r in sim.writes()) and len(sim.writes()) == PARALLELISM
    assert err.startswith(
        f"Apply interrupted by SIGINT: {PARALLELISM} attached, 0 moved, 0 detached; "
        f"{PARALLELISM} API writes, {PERSONAS - PARALLELISM} skipped.\n"
    ), err
    for i in range(PARALLELISM, PERSONAS):
        assert f"Persona {i:02d}: attach of 1 number (+1415555{i:04d}) skipped" in err
    assert err.endswith("Apply interrupted by SIGINT. Run plan to see what remains.\n")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_signal_during_the_writes_with_stderr_unwritable_still_reports_them(
    free_numbers: Simulator, one_each: Path
) -> None:
    # `reconciler apply ... 2>/dev/full` (or stderr on a full disk): writing the "Received
    # SIGINT" line fails with ENOSPC, not BrokenPipeError, which is all echo forgives.
    sim = free_numbers
    gate = threading.Semaphore(0)
    sim.on_write = lambda _sim, _record: gate.acquire(timeout=60)
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", str(one_each), "--auto-approve",
             "--parallelism", str(PARALLELISM)],
            env=cli_environment(sim), cwd=ROOT, stdout=subprocess.PIPE, stderr=full, text=True,
        )  # fmt: skip
    finally:
        os.close(full)
    wait_for(in_flight(sim, PARALLELISM), process, "had its writes in flight")
    wait_until_blocked(process, "futex")  # type: ignore[arg-type]
    process.send_signal(signal.SIGINT)
    threading.Event().wait(0.2)  # the handler runs before any write in flight ends
    for _ in range(PERSONAS):
        gate.release()
    out, _ = process.communicate(timeout=60)

    assert process.returncode == 130, out
    assert f"Apply interrupted by SIGINT: {PARALLELISM} attached" in out
    assert "skipped: the run was interrupted before it was sent" in out


# -- files read ------------------------------------------------------------------------------------

UNREADABLE = "/proc/self/mem"  # a regular file whose first read fails (EIO)


@pytest.mark.skipif(not os.path.exists(UNREADABLE), reason="needs /proc/self/mem")
def test_a_plan_file_swapped_for_an_unreadable_one_after_its_head_was_sniffed(
    sim: Simulator, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = tmp_path / "saved.plan"
    assert run_cli("plan", CONFIG, "--out", saved).code == 0

    def sniffed_then_swapped(path: str) -> bool:
        found = is_plan_file(path)
        if found and Path(path) == saved and not saved.is_symlink():
            saved.unlink()
            saved.symlink_to(UNREADABLE)  # regular, and its reads fail
        return found

    monkeypatch.setattr(settings_module, "is_plan_file", sniffed_then_swapped)
    result = run_cli("apply", saved)

    assert result.code == 1, result.err
    assert result.err.startswith(f"error: {saved}: cannot read"), result.err
    assert "unexpected" not in result.err
    assert sim.writes() == []


@pytest.mark.parametrize("command", ["show", "apply"])
def test_a_huge_plan_file_is_refused_without_being_read_whole(
    sim: Simulator, run_cli: RunCli, tmp_path: Path, command: str
) -> None:
    saved = tmp_path / "saved.plan"
    assert run_cli("plan", CONFIG, "--out", saved).code == 0
    size = saved.stat().st_size
    with saved.open("r+b") as stream:
        stream.truncate(size + 4 * 1024**3)  # sparse: no disk, the head still a plan's
    limited = 'ulimit -v 1500000; exec "$@"'  # KiB of address space
    try:
        done = subprocess.run(
            ["sh", "-c", limited, "sh", sys.executable, "-m", "reconciler", command, str(saved)],
            env=cli_environment(sim), cwd=ROOT, capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip
    finally:
        saved.unlink()  # nothing left that a copy of the folder would fill a disk with

    assert done.returncode in (1, 3), done.stderr
    assert done.stderr.startswith(f"error: {saved}: "), done.stderr
    assert "unexpected" not in done.stderr
    assert sim.writes() == []


@pytest.mark.skipif(not os.path.exists(UNREADABLE), reason="needs /proc/self/mem")
@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_config_file_whose_read_fails_is_named_in_one_line(
    sim: Simulator, run_cli: RunCli, command: str
) -> None:
    result = run_cli(command, UNREADABLE)

    assert result.code == 1
    assert result.err.startswith(f"error: {UNREADABLE}: cannot read"), result.err
    assert "unexpected" not in result.err


def test_out_through_a_link_to_the_key_file_or_onto_a_hard_link_to_it_writes_nothing(
    sim: Simulator, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(f"  {TEST_KEY}\t\n")
    key_file.chmod(0o600)
    monkeypatch.delenv("BLAND_API_KEY")
    monkeypatch.setenv("BLAND_API_KEY_FILE", str(key_file))
    (tmp_path / "soft").symlink_to(key_file)
    os.link(key_file, tmp_path / "hard")
    for out in ("soft", "hard"):
        for args in (["plan", CONFIG], ["export"], ["export", "--force"]):
            result = run_cli(*args, "--out", tmp_path / out)
            assert result.code == 1, result
            assert result.err == (
                f"error: --out {tmp_path / out} is the API key file {key_file}: refusing to "
                "write over it (nothing was written; choose another path)\n"
            )
    assert key_file.read_text() == f"  {TEST_KEY}\t\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hard", "key", "soft"]


# -- YAML the reader passes and the rest refuses ---------------------------------------------------

HUGE_INTEGERS = [
    pytest.param("0x" + "f" * 5000, id="hexadecimal"),
    pytest.param("0b" + "1" * 20000, id="binary"),
    pytest.param("1:" * 3000 + "1", id="sexagesimal"),
]


@pytest.mark.parametrize("written", HUGE_INTEGERS)
def test_a_huge_integer_in_another_base_is_one_positioned_error(
    run_cli: RunCli, tmp_path: Path, written: str
) -> None:
    config = tmp_path / "personas.yaml"
    config.write_text(f"version: {written}\npersonas: []\n")

    result = run_cli("validate", config)

    assert result.code == 1
    assert result.err.startswith(f"{config}:1:10: "), result.err[:300]
    assert "unexpected" not in result.err


# -- doctor and plan on a twin read by id ----------------------------------------------------------


def twin_answers(sim: Simulator, status: int, code: str) -> None:
    """GET /v1/personas/{twin} of agent Bot is answered `status` with error `code`."""
    own = sim.intercept
    assert own is not None
    twin = f"/v1/personas/{agent_account.TWIN}"

    def intercept(record: RequestRecord, serve: Callable[[RequestRecord], Reply]) -> Reply:
        if record.method == "GET" and record.path.rstrip("/") == twin:
            return error_reply(status, code, "Persona not found")
        return own(record, serve)

    sim.intercept = intercept


@pytest.mark.parametrize("code", ["PERSONA_NOT_FOUND", "FORBIDDEN"])
def test_doctor_names_the_403_a_twin_read_by_id_got(
    start_sim: StartSim, run_cli: RunCli, code: str
) -> None:
    sim = start_sim(agent_account.state(), legacy_inbound_includes_persona=True)
    twin_answers(sim, 403, code)

    result = run_cli("doctor")

    # Either the 403 stops the checks and a failed check names it, or the twin is one the API
    # will not serve and every later read is made: never a check failing on a read not sent.
    assert "not sent" not in result.out, result.out
    failed = [line for line in result.out.splitlines() if line.startswith("fail")]
    assert all("403" in line for line in failed), result.out


def test_plan_names_the_403_a_twin_read_by_id_got(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(agent_account.state())
    twin_answers(sim, 403, "PERSONA_NOT_FOUND")
    config = agent_account.config(
        tmp_path,
        [{"id": agent_account.SUPPORT, "numbers": [agent_account.N100, agent_account.N106]}],
        [{"id": agent_account.BOT, "numbers": [agent_account.N101, agent_account.N105]}],
    )

    result = run_cli("plan", config)

    # Either the 403 is the error, or the twin is one the API will not serve and plan says it
    # cannot tell what Bot holds: never an error about a read that was not sent.
    assert result.code != 0
    assert "not sent" not in result.err, result.err
    assert (
        f"GET /v1/personas/{agent_account.TWIN}: HTTP 403" in result.err
        or "cannot tell which numbers agent 'Bot' holds" in result.err
    ), result.err


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "PERSONA_NOT_FOUND"), (500, "PERSONA_NOT_FOUND"), (404, "NOT_FOUND")],
)
def test_doctor_and_plan_read_a_twin_the_api_will_not_serve_alike(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, status: int, code: str
) -> None:
    # Without owners in GET /v1/inbound, doctor warns that plan will refuse, and plan does.
    sim = start_sim(agent_account.state())
    twin_answers(sim, status, code)
    config = agent_account.config(
        tmp_path,
        [{"id": agent_account.SUPPORT, "numbers": [agent_account.N100, agent_account.N106]}],
        [{"id": agent_account.BOT, "numbers": [agent_account.N101, agent_account.N105]}],
    )

    doctor = run_cli("doctor")
    plan = run_cli("plan", config)

    twins = next(line for line in doctor.out.splitlines() if "agent_twins" in line)
    assert twins.startswith("warn") and "plan and apply will refuse" in twins, doctor.out
    assert twins.endswith("0 read by id (GET /v1/personas/{id}), 1 neither"), twins
    assert plan.code == 1
    assert "cannot tell which numbers agent 'Bot' holds" in plan.err, plan.err


# -- stdout closed from the start ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["validate", CONFIG], ["plan", CONFIG], ["export"], ["apply", CONFIG, "--auto-approve"]],
    ids=["validate", "plan", "export", "apply"],
)
def test_stdout_closed_from_the_start_is_one_line_and_writes_nothing(
    sim: Simulator, args: list[str | Path]
) -> None:
    # `reconciler ... >&-`: the process starts without a file descriptor 1 (sys.stdout is None),
    # as a process started without a stderr is handled.
    command = [sys.executable, "-m", "reconciler", *map(str, args)]
    done = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", *command],
        env=cli_environment(sim), cwd=ROOT, stderr=subprocess.PIPE, text=True, timeout=60,
        check=False,
    )  # fmt: skip

    assert sim.writes() == []
    assert done.returncode == 1, done.stderr
    assert done.stderr == "error: stdout was closed before all output was written\n"


@pytest.mark.parametrize(
    ("args", "kind", "signals"),
    [(["plan", CONFIG], "read", 1), (["apply", CONFIG, "--auto-approve"], "write", 2)],
    ids=["plan, one signal", "apply's writes, two signals"],
)
def test_a_signal_with_stderr_closed_from_the_start_ends_with_130(
    start_sim: StartSim, args: list[str | Path], kind: str, signals: int
) -> None:
    # `reconciler ... 2>&-`: sys.stderr is None: end_now still ends 128 + SIGINT.
    sim = start_sim(**({"hang": 1} if kind == "read" else {"hang_writes_after": 0}))
    command = [sys.executable, "-m", "reconciler", "--timeout", "300", *map(str, args)]
    process = subprocess.Popen(
        ["sh", "-c", 'exec "$@" 2>&-', "sh", *command],
        env=cli_environment(sim), cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip

    def hung() -> bool:
        return any(r.status == 0 and r.kind == kind for r in sim.requests)

    wait_for(hung, process, f"sent a {kind} that hangs")
    for _ in range(signals):
        wait_until_blocked(process, "futex")  # type: ignore[arg-type]
        process.send_signal(signal.SIGINT)
        threading.Event().wait(0.3)  # handled (nothing shows it, stderr being closed)
    out, _ = process.communicate(timeout=30)

    assert process.returncode == 130, out
    assert "Traceback" not in out
