"""Attacks, seventh round, on the audit log core.apply now keeps (--log-file) and on the
simulator's merged attach and detach handlers (the CLI against the simulator over loopback HTTP).

The log is opened before the first write, and each write has its `sent` line before it goes to
the wire. These tests give it paths a careless user gives, and files that fail once the writes
have begun: whatever the log does, the run must say in one line what is wrong with it, and
what was written to the account.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.simulator import RequestRecord
from tests.conftest import CONFIG, SALES, TEST_KEY, RunCli, writes
from tests.scenarios import agent_account as agents
from tests.scenarios.conftest import StartSim
from tests.simulated import Simulator, persona_of

SALES_ATTACHED = "Sales: attached 2 numbers"
SALES_ATTACH = (SALES, "attach", ["+14155550110", "+14155550111"])


@pytest.fixture
def log_fills_after_the_first_write(sim: Simulator, tmp_path: Path) -> Iterator[Path]:
    """A log file that takes no more bytes once the simulator serves the first write: its
    `sent` line is in, the lines after it fail (EFBIG, as a full disk fails with ENOSPC)."""
    log_file = tmp_path / "audit.jsonl"
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)

    def on_write(_served: object, record: RequestRecord) -> None:
        if len(sim.writes()) == 1:
            resource.setrlimit(resource.RLIMIT_FSIZE, (log_file.stat().st_size, limits[1]))

    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not the process killed
    sim.on_write = on_write
    try:
        yield log_file
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, previous)


def test_a_log_file_that_fills_after_a_write_is_named_and_the_write_made_is_reported(
    sim: Simulator, run_cli: RunCli, log_fills_after_the_first_write: Path
) -> None:
    log_file = log_fills_after_the_first_write
    result = run_cli(
        "apply", CONFIG, "--auto-approve", "--parallelism", "1", "--log-file", log_file
    )
    assert writes(sim) == [SALES_ATTACH]  # made before the log failed
    assert result.code != 0
    assert str(log_file) in result.err
    assert "unexpected" not in result.err
    assert SALES_ATTACHED in result.out  # the one place that says what was written


def test_a_log_file_that_fills_after_a_write_still_gets_the_json_report(
    sim: Simulator, run_cli: RunCli, log_fills_after_the_first_write: Path
) -> None:
    log_file = log_fills_after_the_first_write
    result = run_cli(
        "apply", CONFIG, "--auto-approve", "--parallelism", "1", "--format", "json",
        "--log-file", log_file,
    )  # fmt: skip
    assert writes(sim) == [SALES_ATTACH]
    report = json.loads(result.out)  # today: stdout is empty
    assert report["exit_status"] == result.code != 0
    assert str(log_file) in json.dumps(report)


def test_a_log_pipe_whose_reader_goes_away_is_named_and_the_write_made_is_reported(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    # `--log-file >(tee ...)` whose reader ends: the lines after the first meet a closed pipe.
    fifo = tmp_path / "audit.pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    read: list[bytes] = []

    def on_write(_served: object, record: RequestRecord) -> None:
        if not read:  # the first write's `sent` line is in the pipe: read it, and go
            read.append(os.read(reader, 65536))
            os.close(reader)

    sim.on_write = on_write
    result = run_cli("apply", CONFIG, "--auto-approve", "--parallelism", "1", "--log-file", fifo)
    assert json.loads(read[0])["outcome"] == "sent"
    assert writes(sim) == [SALES_ATTACH]
    assert result.code != 0
    assert str(fifo) in result.err  # today: stderr is empty
    assert SALES_ATTACHED in result.out


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
@pytest.mark.parametrize("output_format", ["text", "json"])
def test_a_log_file_on_a_full_disk_stops_in_one_line_naming_it(
    sim: Simulator, run_cli: RunCli, output_format: str
) -> None:
    result = run_cli(
        "apply", CONFIG, "--auto-approve", "--format", output_format, "--log-file", "/dev/full"
    )
    assert result.code == 1
    assert writes(sim) == []  # the first `sent` line failed: nothing went to the wire
    assert "/dev/full" in result.err
    assert "unexpected" not in result.err
    if output_format == "json":
        assert json.loads(result.out)["exit_status"] == 1


def test_an_empty_log_file_name_is_refused_naming_the_option(
    sim: Simulator, run_cli: RunCli
) -> None:
    # `--log-file "$AUDIT_LOG"` with the variable unset. Before core.apply kept the log, this
    # ran every write with no log at all; now it is refused, but the error names nothing.
    result = run_cli("apply", CONFIG, "--auto-approve", "--log-file", "")
    assert result.code == 1
    assert writes(sim) == []
    assert result.err.startswith("error: --log-file"), result.err


def test_apply_of_a_saved_plan_does_not_log_into_the_config_it_was_made_from(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    # apply CONFIG refuses a --log-file that is its config; the config a saved plan was made
    # from (and names) is as much the user's source, and a log line appended breaks it.
    config = Path(shutil.copy(CONFIG, tmp_path / "personas.yaml"))
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", config, "--out", plan_file).code == 0
    before = config.read_bytes()
    result = run_cli("apply", plan_file, "--log-file", config)
    assert config.read_bytes() == before
    assert result.code == 1
    assert writes(sim) == []


def test_a_saved_plan_applied_as_json_logs_each_write_and_warns_on_stderr_only(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    """core.apply keeps the log for a saved plan as for a config: a `sent` line and an outcome
    for each write, the shared file's warning on stderr, stdout one JSON report."""
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", CONFIG, "--out", plan_file).code == 0
    log_file = tmp_path / "shared.log"
    log_file.write_text("")
    log_file.chmod(0o644)
    result = run_cli("apply", plan_file, "--format", "json", "--log-file", log_file)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["exit_status"] == 0
    assert result.err.startswith(f"warning: the log file {log_file} can be read by group")
    text = log_file.read_text()
    assert TEST_KEY not in text
    lines = [json.loads(line) for line in text.splitlines()]
    sent = [(e["persona_id"], e["action"]) for e in lines if e["outcome"] == "sent"]
    ended = [(e["persona_id"], e["action"]) for e in lines if e["outcome"] != "sent"]
    made = [(persona_of(r.path), r.path.rsplit("/", 1)[-1]) for r in sim.writes()]
    assert sorted(sent) == sorted(ended) == sorted(made) and len(made) == 3
    assert {e["outcome"] for e in lines} == {"sent", "done"}
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o644


# The merged attach/detach handlers, over HTTP: the body is checked before the owner is looked
# up, a v2 detach needs no saved version, and the route's method list is unchanged.
MERGED_ROUTES = [
    ("POST", "/v1/personas/nope/inbound/attach", {"inbound_numbers": "x"}, 400, "INVALID_BODY"),
    ("POST", "/v1/personas/nope/inbound/detach", {"inbound_numbers": []}, 400, "INVALID_BODY"),
    ("POST", "/v1/personas/nope/inbound/detach", {"inbound_numbers": [agents.N100]}, 404,
     "PERSONA_NOT_FOUND"),
    ("POST", "/v1/personas/p-support/inbound/Attach", {"inbound_numbers": [agents.N101]}, 404,
     None),
    ("POST", f"/v2/agents/{agents.NEW}/inbound/attach", {"inbound_numbers": "x"}, 400,
     "INVALID_BODY"),
    ("POST", "/v2/agents/ag-none/inbound/attach", {"inbound_numbers": [agents.N102]}, 404,
     "NO_VERSIONS"),
    ("POST", "/v2/agents/ag-none/inbound/detach", {"inbound_numbers": [agents.N102]}, 200, None),
    ("POST", f"/v2/agents/{agents.NEW}/inbound/attach", {"inbound_numbers": ["+19995550100"]},
     400, "INVALID_INBOUND_NUMBERS"),
    ("GET", f"/v2/agents/{agents.BOT}/inbound/detach", None, 405, None),
    ("PUT", "/v1/personas/p-support/inbound/attach", None, 405, None),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), MERGED_ROUTES)
def test_the_merged_attach_and_detach_routes_answer_as_the_separate_ones_did(
    start_sim: StartSim,
    method: str,
    path: str,
    body: object,
    status: int,
    code: str | None,
) -> None:
    state = agents.state()
    state["agents"].append({"id": "ag-none", "name": "None", "versions": 0})
    sim = start_sim(state)
    before = sim.export_state()
    response = httpx.request(
        method, sim.url + path, json=body, headers={"authorization": TEST_KEY}, verify=False
    )
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["errors"][0]["error"] == code
    if status == 405:
        assert response.headers["allow"] == "POST"
    if status == 200:
        assert response.json()["data"] == {"agent_id": "ag-none", "detached_count": 0}
    assert sim.export_state() == before  # each answer refused, or changed nothing
