"""`reconciler apply` end to end against the simulator over loopback HTTP."""

from __future__ import annotations

import http.server
import json
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import Settings
from reconciler.errors import InputError
from tests.conftest import (
    CONFIG,
    IVR,
    SALES,
    SUPPORT,
    TEST_KEY,
    RunCli,
    point_cli_at,
    write_config,
    writes,
)
from tests.simulated import Simulator


def test_apply_converges_with_one_call_per_persona_and_direction(
    sim: Simulator, run_cli: RunCli
) -> None:
    result = run_cli("apply", CONFIG, "--auto-approve")
    assert result.code == 0, result.err
    assert sorted(writes(sim)) == [
        (SALES, "attach", ["+14155550110", "+14155550111"]),
        (SUPPORT, "attach", ["+14155550101", "+14155550102"]),
        (SUPPORT, "detach", ["+14155550103"]),
    ]
    # One plan after the writes checks them; the reads it took are the ones counted.
    last_write = max(i for i, r in enumerate(sim.requests) if r.kind == "write")
    reads_after = len(sim.requests) - last_write - 1
    assert reads_after == 4
    assert (
        "Apply complete: 3 attached, 1 moved, 1 detached; 3 API writes; "
        f"verified with {reads_after} reads." in result.out
    )
    assert "still differed" not in result.out
    assert sim.persona_numbers(SUPPORT) == ["+14155550100", "+14155550101", "+14155550102"]
    assert sim.persona_numbers(SALES) == ["+14155550110", "+14155550111"]
    assert sim.persona_numbers(IVR) == ["+14155550130"]
    # Attaches come before any detach.
    kinds = [r.path.rsplit("/", 1)[-1] for r in sim.writes()]
    assert kinds == sorted(kinds)

    sim.requests.clear()
    again = run_cli("apply", CONFIG, "--auto-approve")
    assert again.code == 0
    assert "No changes. The account matches" in again.out
    assert sim.writes() == []
    assert run_cli("plan", CONFIG, "--detailed-exitcode").code == 0


def test_the_three_write_scenario(sim: Simulator, run_cli: RunCli, tmp_path: Path) -> None:
    """A gains one and loses one; B gains a free number and takes one from an unmanaged one."""
    sim.add_persona("pa", "A", ["+14155550200", "+14155550201"])
    sim.add_persona("pb", "B", [])
    sim.add_persona("pu", "Unmanaged", ["+14155550210", "+14155550211"])
    for number in ("+14155550202", "+14155550212"):
        sim.add_number(number)
    config = write_config(
        tmp_path / "ab.yaml",
        [
            {"name": "A", "numbers": ["+14155550200", "+14155550202"]},
            {"name": "B", "numbers": ["+14155550212", "+14155550210"]},
        ],
    )
    sim.requests.clear()
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 0, result.err
    applied = writes(sim)
    # The two attaches run concurrently, in either order; the detach comes after both.
    assert sorted(applied[:2]) == [
        ("pa", "attach", ["+14155550202"]),
        ("pb", "attach", ["+14155550210", "+14155550212"]),
    ]
    assert applied[2:] == [("pa", "detach", ["+14155550201"])]
    assert sim.persona_numbers("pa") == ["+14155550200", "+14155550202"]
    assert sim.persona_numbers("pb") == ["+14155550210", "+14155550212"]
    assert sim.persona_numbers("pu") == ["+14155550211"]
    assert run_cli("plan", config, "--detailed-exitcode").code == 0


def test_a_non_exclusive_attach_is_fixed_by_a_detach(sim: Simulator, run_cli: RunCli) -> None:
    sim.faults.attach_mode = "keep_old"
    result = run_cli("apply", CONFIG, "--auto-approve")
    assert result.code == 0, result.err
    # The attach left +102 on Legacy IVR too: the plan after the writes detaches it there.
    assert (
        "note: the account still differed after the writes (1 change): applying them again"
        in result.out
    )
    assert writes(sim)[-1] == (IVR, "detach", ["+14155550102"])
    assert sim.owners()["+14155550102"] == [SUPPORT]


def test_a_refused_move_falls_back_to_detach_then_attach(sim: Simulator, run_cli: RunCli) -> None:
    sim.faults.attach_mode = "refuse"
    result = run_cli("apply", CONFIG, "--auto-approve")
    assert result.code == 0, result.err
    assert "the API refused to attach numbers held by another persona" in result.out
    applied = writes(sim)
    assert applied.index((IVR, "detach", ["+14155550102"])) < applied.index(
        (SUPPORT, "attach", ["+14155550101", "+14155550102"])
    )
    assert sim.owners()["+14155550102"] == [SUPPORT]


def test_apply_without_a_terminal_refuses_and_writes_nothing(
    sim: Simulator, run_cli: RunCli
) -> None:
    result = run_cli("apply", CONFIG)
    assert result.code == 1
    assert "pass --auto-approve" in result.err
    assert sim.writes() == []


def test_unknown_number_is_reported_before_any_write(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.yaml", [{"name": "Sales", "numbers": ["+14155550999"]}])
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 1
    assert "+14155550999 is not an inbound number of this account" in result.err
    assert f"{config}:" in result.err
    assert sim.writes() == []


@pytest.mark.parametrize(
    "faults",
    [
        # Support's attach fails, and again in the one repair the plan after the writes makes.
        {"write_statuses": [200] + [429] * 12, "retry_after": "0"},
        {"write_statuses": [200, 404, 404], "html_errors": True},
        {"write_statuses": [200] + [503] * 12},
    ],
    ids=["429 after retries", "404 HTML", "503 after retries"],
)
def test_a_failed_move_that_is_no_conflict_never_frees_the_number(
    faults: dict[str, object], sim: Simulator, run_cli: RunCli
) -> None:
    sim.faults.update(faults)
    result = run_cli("apply", CONFIG, "--auto-approve", "--parallelism", "1")
    assert result.code == 4, result.out + result.err
    assert not any(persona == IVR for persona, _, _ in writes(sim))
    assert sim.owners()["+14155550102"] == [IVR]
    assert "refused to attach numbers held by another persona" not in result.out


def test_a_refused_move_whose_attach_then_fails_puts_the_number_back(
    sim: Simulator, run_cli: RunCli
) -> None:
    # Sales attaches, Support's attach is refused (409), IVR's detach frees the number, then
    # Support's second attach fails for good: the number must go back to IVR.
    # The repair the plan after the writes makes goes the same way.
    first_run = [200, 200, 200] + [500] * 6 + [200]
    sim.faults.update(
        {"attach_mode": "refuse", "write_statuses": first_run + [200, 200] + [500] * 6}
    )
    result = run_cli("apply", CONFIG, "--auto-approve", "--parallelism", "1")
    assert result.code == 4, result.out + result.err
    assert "they were attached back where they were" in result.out
    assert (IVR, "detach", ["+14155550102"]) in writes(sim)
    assert (IVR, "attach", ["+14155550102"]) in writes(sim)
    assert sim.owners()["+14155550102"] == [IVR]
    assert sim.persona_numbers(SUPPORT) == ["+14155550100", "+14155550103"]


def test_a_change_while_the_plan_waits_for_confirmation_is_refused(
    sim: Simulator, run_cli: RunCli, seams: Settings
) -> None:
    def someone_edits_the_dashboard() -> None:
        sim.set_owner("+14155550110", IVR)  # Sales was to attach it as a free number

    seams.confirm = someone_edits_the_dashboard
    result = run_cli("apply", CONFIG)
    assert result.code == 3
    assert "the account changed while the plan waited for confirmation" in result.err
    assert "move +14155550110 ('Sales') from 'Legacy IVR'" in result.err
    assert sim.writes() == []


def test_a_confirmed_plan_applies_when_nothing_changed(
    sim: Simulator, run_cli: RunCli, seams: Settings
) -> None:
    seams.confirm = lambda: None
    assert run_cli("apply", CONFIG).code == 0
    assert len(writes(sim)) == 3


def test_control_characters_in_names_are_escaped_in_text_output(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    sim.add_persona("p-evil", "Evil\n  - +14155550999\x1b[2K", [])
    config = write_config(tmp_path / "c.yaml", [{"id": "p-evil", "numbers": ["+14155550140"]}])
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 0, result.err
    assert "Evil\\x0a  - +14155550999\\x1b[2K (p-evil)" in result.out
    assert "\x1b" not in result.out
    assert "\n  - +14155550999" not in result.out


def test_apply_refuses_a_fifo_without_waiting_for_a_writer(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    fifo = tmp_path / "personas.yaml"
    os.mkfifo(fifo)
    result = run_cli("apply", fifo, "--auto-approve")
    assert result.code == 1
    assert "not a regular file" in result.err
    assert sim.requests == []


def test_a_persona_deleted_after_its_writes_is_not_reported_converged(
    sim: Simulator, run_cli: RunCli
) -> None:
    def delete_sales_after_its_attach(simulator: Simulator, record: object) -> None:
        if len(simulator.writes()) == 1:  # the write being made now is the second
            simulator.delete_persona(SALES)

    sim.on_write = delete_sales_after_its_attach
    result = run_cli("apply", CONFIG, "--auto-approve", "--parallelism", "1")
    assert result.code == 4, result.out + result.err
    assert "not converged: after the writes: no active persona named 'Sales'" in result.out


def test_a_number_held_twice_is_detached_from_the_extra_owner_only(
    example_state: dict[str, Any], run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    for persona in example_state["personas"]:
        if persona["id"] == IVR:
            persona["numbers"].append("+14155550100")  # also on Support Agent
    with Simulator(example_state, api_key=TEST_KEY) as sim:
        point_cli_at(sim, monkeypatch)
        assert sorted(sim.owners()["+14155550100"]) == sorted([SUPPORT, IVR])
        result = run_cli("apply", CONFIG, "--auto-approve")
        assert result.code == 0, result.out + result.err
        assert (IVR, "detach", ["+14155550100"]) in writes(sim)
        assert not any(
            "+14155550100" in numbers for _, action, numbers in writes(sim) if action == "attach"
        )
        assert sim.owners()["+14155550100"] == [SUPPORT]


@pytest.mark.parametrize(
    ("attach_mode", "summary"),
    [
        # The API leaves a moved number on its old persona too: the repair frees it there, a
        # detach of its own in the count.
        ("keep_old", "3 attached, 1 moved, 2 detached; 4 API writes; verified with"),
        # The API refuses to take a number from another persona: detach there, then attach.
        ("refuse", "3 attached, 1 moved, 1 detached; 4 API writes; verified with"),
    ],
)
def test_the_summary_counts_the_plans_changes_apart_from_the_api_calls(
    sim: Simulator, run_cli: RunCli, attach_mode: str, summary: str
) -> None:
    sim.faults.attach_mode = attach_mode
    result = run_cli("apply", CONFIG, "--auto-approve")
    assert result.code == 0, result.err
    assert f"Apply complete: {summary}" in result.out
    assert len(writes(sim)) == int(summary.split("; ")[1].split()[0])


def test_the_summary_says_one_change_and_one_write_in_the_singular(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.yaml", [{"id": SALES, "numbers": ["+14155550110"]}])
    sim.requests.clear()
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 0, result.err
    reads_after = (
        len(sim.requests) - 1 - max(i for i, r in enumerate(sim.requests) if r.kind == "write")
    )
    assert result.out.endswith(
        "Apply complete: 1 attached, 0 moved, 0 detached; 1 API write; "
        f"verified with {reads_after} reads.\n"
    )
    assert reads_after == 4


# An API error whose code and message hold line breaks of every kind, and text after them that
# could pass for a line of the report.
MULTILINE_ERROR = {
    "data": None,
    "errors": [
        {
            "error": "INVALID\nREQUEST",
            "message": "first line\nApply complete: 9 writes\r\nthird\u2028fourth\x0bfifth",
        }
    ],
}
ONE_LINE = "INVALID REQUEST: first line Apply complete: 9 writes third fourth fifth"


class _ErrorApi(http.server.BaseHTTPRequestHandler):
    """One persona and one free number; reads fail with MULTILINE_ERROR when `fail_reads`."""

    fail_reads = False

    def _answer(self, status: int, body: object) -> None:
        content = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def do_GET(self) -> None:
        if self.fail_reads:
            self._answer(400, MULTILINE_ERROR)
        elif self.path.startswith("/v1/personas"):
            first = "page=1&" in self.path + "&"  # pages past the first are empty
            personas = [{"id": "p1", "name": "Sales", "inbound_numbers": []}] if first else []
            self._answer(200, {"data": personas})
        elif self.path.startswith("/v2/agents"):
            self._answer(404, {"data": None, "errors": [{"error": "NOT_FOUND"}]})  # no agents
        elif self.path.startswith("/v1/inbound/"):  # one number: on no persona
            self._answer(200, {"data": {"phone_number": "+14155550110", "persona_id": None}})
        else:
            self._answer(200, {"inbound_numbers": [{"phone_number": "+14155550110"}]})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        self._answer(400, MULTILINE_ERROR)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def error_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_ErrorApi]]:
    handler = type("Handler", (_ErrorApi,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("BLAND_API_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("BLAND_API_KEY", TEST_KEY)
    yield handler
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_an_api_error_with_line_breaks_is_reported_on_one_line(
    error_api: type[_ErrorApi], run_cli: RunCli, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "sales.yaml", [{"id": "p1", "numbers": ["+14155550110"]}])
    log_file = tmp_path / "run.log"
    result = run_cli("apply", config, "--auto-approve", "--log-file", log_file)
    assert result.code == 4
    failed = [line for line in result.out.splitlines() if " failed: " in line]
    assert failed and all(line.endswith(f"HTTP 400 {ONE_LINE}") for line in failed), result.out
    assert not any(
        line.startswith(("Apply complete", "third", "fifth")) for line in result.out.splitlines()
    )
    entry = json.loads(log_file.read_text().splitlines()[-1])
    assert entry["error"]["message"] == "first line Apply complete: 9 writes third fourth fifth"
    assert entry["error"]["code"] == "INVALID REQUEST"

    error_api.fail_reads = True
    result = run_cli("plan", config)
    assert result.code == 1
    assert result.err == f"error: GET /v1/personas: HTTP 400 {ONE_LINE}\n"


def test_the_log_file_is_created_readable_by_its_owner_only(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    log_file = tmp_path / "run.log"
    old_umask = os.umask(0o022)
    try:
        result = run_cli("apply", CONFIG, "--auto-approve", "--log-file", log_file)
    finally:
        os.umask(old_umask)
    assert result.code == 0, result.err
    assert result.err == ""
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600


def test_an_existing_log_file_keeps_its_mode_with_a_warning_if_others_can_read_it(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    log_file = tmp_path / "shared.log"
    log_file.write_text("")
    log_file.chmod(0o640)
    result = run_cli("apply", CONFIG, "--auto-approve", "--log-file", log_file)
    assert result.code == 0, result.err
    assert result.err == (
        f"warning: the log file {log_file} can be read by group or others (mode 0640): "
        f"run chmod 600 {log_file}\n"
    )
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o640
    assert log_file.read_text().count("\n") >= 3


def test_a_log_file_others_can_read_is_warned_about_before_the_question(
    sim: Simulator,
    run_cli: RunCli,
    seams: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The user may still answer no once told who else can read what the run will log."""
    log_file = tmp_path / "shared.log"
    log_file.write_text("")
    log_file.chmod(0o644)
    asked: list[str] = []

    def declines() -> None:
        asked.append(capsys.readouterr().err)  # what stderr said before the question
        raise InputError("apply cancelled: nothing was written")

    seams.confirm = declines
    result = run_cli("apply", CONFIG, "--log-file", log_file)
    assert result.code == 1
    assert asked == [
        f"warning: the log file {log_file} can be read by group or others (mode 0644): "
        f"run chmod 600 {log_file}\n"
    ]
    assert sim.writes() == []


@pytest.mark.parametrize("existed", [False, True], ids=["new", "existing"])
def test_a_declined_apply_leaves_no_log_file_it_created(
    existed: bool, sim: Simulator, run_cli: RunCli, seams: Settings, tmp_path: Path
) -> None:
    """Opened before the question, a log file this run created and wrote nothing to is removed;
    one that existed is left as it was."""
    log_file = tmp_path / "run.log"
    if existed:
        log_file.write_text("")
        log_file.chmod(0o600)

    def declines() -> None:
        assert log_file.exists()  # opened before the question: an unwritable path ends it there
        raise InputError("apply cancelled: nothing was written")

    seams.confirm = declines
    result = run_cli("apply", CONFIG, "--log-file", log_file)
    assert result.code == 1
    assert log_file.exists() is existed
    assert sim.writes() == []


@pytest.mark.parametrize("target", ["config", "link to the config", "plan file", "key file"])
def test_the_log_is_never_written_into_an_input_file(
    target: str, sim: Simulator, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "personas.yaml"
    config.write_text(CONFIG.read_text())
    inputs = [config]
    log_file = config
    if target == "link to the config":
        log_file = tmp_path / "link.log"
        log_file.symlink_to(config)
    elif target == "plan file":
        assert run_cli("plan", config, "--out", tmp_path / "saved.json").code == 0
        inputs = [log_file := tmp_path / "saved.json"]
    elif target == "key file":
        log_file = tmp_path / "key"
        log_file.write_text(TEST_KEY)
        log_file.chmod(0o600)
        monkeypatch.setenv("BLAND_API_KEY_FILE", str(log_file))
    before = {path: path.read_bytes() for path in [*inputs, log_file]}
    sim.requests.clear()
    result = run_cli("apply", *inputs, "--auto-approve", "--log-file", log_file)
    assert result.code == 1
    assert f"error: --log-file {log_file} is the " in result.err
    assert {path: path.read_bytes() for path in before} == before
    assert sim.requests == []


def test_a_nan_threshold_in_the_config_writes_nothing(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    """With nan the percentage valve was off: every number could be detached without a word."""
    config = tmp_path / "personas.yaml"
    config.write_text(CONFIG.read_text() + "safety:\n  max_detach_percent: .nan\n")
    result = run_cli("apply", config, "--auto-approve")
    assert result.code == 1
    assert "must be a number from 0 to 100, not .nan" in result.err
    assert sim.requests == []


def test_a_json_apply_of_config_files_needs_auto_approve_and_reads_nothing(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: [\n")
    for config in (CONFIG, broken):  # asked before the config is read
        result = run_cli("apply", config, "--format", "json")
        assert result.code == 1
        report = json.loads(result.out)
        assert report["error"] == (
            "--format json prints only the report: pass --auto-approve with it"
        )
        assert report["plan"] is None and report["exit_status"] == 1
    assert sim.requests == []
