"""Attacks on "the next plan is the check": dashboard edits at every moment of an apply, the
repair plan and how the run reports it.

Each test plays the dashboard against the simulator over loopback HTTP while apply runs. A test
that once showed a bug now guards its fix; the others show an attack the code survives.
"""

from __future__ import annotations

import json
import re
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.simulator import RequestRecord, Simulator
from reconciler.simulator.api import Reply
from tests.conftest import CONFIG, IVR, SALES, SUPPORT, RunCli, write_config
from tests.forked_cli import ForkedCli
from tests.scenarios.test_gitops_loop import _hide_on_first_listing
from tests.scenarios.test_signals import ended, start, wait_for, wait_until_blocked

NIGHT = "p-night"
OTHER = "p-other"
QUIET = "+14155550140"  # declared on Night Desk and already there: the plan never touches it


@pytest.fixture
def night(sim: Simulator) -> Simulator:
    sim.add_persona(NIGHT, "Night Desk")
    sim.set_owner(QUIET, NIGHT)
    sim.add_persona(OTHER, "Other Desk")
    sim.set_owner("+14155550103", OTHER)  # so that taking one back does not empty it
    return sim


def _config(tmp_path: Path) -> Path:
    """Sales gains a number (the plan's one change); Night Desk already holds what it declares."""
    return write_config(
        tmp_path / "routing.yaml",
        [
            {"id": SALES, "numbers": ["+14155550111"]},
            {"id": NIGHT, "numbers": [QUIET]},
            {"id": IVR, "numbers": ["+14155550130", "+14155550102"]},
        ],
    )


def _edit_at(sim: Simulator, moment: int, edit: Callable[[Simulator], None]) -> list[RequestRecord]:
    """Make the dashboard edit just before the simulator serves the `moment`-th request from now.

    Returns a list that holds that request once the edit is made.
    """
    lock = threading.Lock()
    seen: list[int] = []
    made: list[int] = []
    before = len(sim.requests)  # the requests of earlier runs

    def intercept(record: RequestRecord, serve: Callable[[RequestRecord], Reply]) -> Reply:
        with lock:
            seen.append(1)
            if len(seen) == moment:
                edit(sim)
                made.append(before + moment - 1)
        return serve(record)

    sim.intercept = intercept
    return made


def _listed_after(sim: Simulator, place: int) -> bool:
    """True when the persona list's first page (every persona here) was read by the request at
    `place` in the log, or later."""
    return any(
        r.path.rstrip("/") == "/v1/personas" and r.query.get("page") == "1"
        for r in sim.requests[place:]
    )


EDITS: dict[str, Callable[[Simulator], None]] = {
    "moved to a persona the file does not name": lambda s: s.set_owner(QUIET, OTHER),
    "moved to a managed persona": lambda s: s.set_owner(QUIET, SALES),
    "detached": lambda s: s.set_owner(QUIET, None),
}


@pytest.mark.parametrize("moment", range(1, 13))
@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
@pytest.mark.parametrize("how", ["auto-approve", "typed yes", "saved plan"])
def test_apply_exits_0_only_when_the_next_plan_is_empty_whenever_the_dashboard_edits(
    night: Simulator,
    run_cli: RunCli,
    seams: Any,
    tmp_path: Path,
    moment: int,
    edit: Callable[[Simulator], None],
    how: str,
) -> None:
    """Whatever the request the edit comes before, exit 0 means the account is as the file says
    (unless the edit came after apply last read the persona list: nothing can see that)."""
    config = _config(tmp_path)
    args: list[str | Path] = ["apply", config, "--auto-approve"]
    if how == "saved plan":
        args = ["apply", tmp_path / "reviewed.plan.json"]
        assert run_cli("plan", config, "--out", args[1]).code == 0
    elif how == "typed yes":
        args.remove("--auto-approve")
    made = _edit_at(night, moment, edit)
    seams.confirm = lambda: None

    result = run_cli(*args)

    assert result.code in (0, 3, 4), result.out + result.err
    assert "Traceback" not in result.err
    night.intercept = None
    if result.code == 0 and made and _listed_after(night, made[0]):
        assert run_cli("plan", config, "--detailed-exitcode").code == 0, result.out


def _lonely_on_first_write(sim: Simulator) -> None:
    """On the first write, the dashboard moves a declared number to a persona that had none."""
    sim.add_persona("p-lonely", "Lonely")
    done: list[bool] = []

    def on_write(simulator: Simulator, record: RequestRecord) -> None:
        if not done:
            done.append(True)
            simulator.set_owner("+14155550130", "p-lonely")

    sim.on_write = on_write


def test_without_force_a_repair_that_empties_a_persona_is_refused(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "routing.yaml",
        [
            {"id": SALES, "numbers": ["+14155550111"]},
            {"id": IVR, "numbers": ["+14155550102", "+14155550130"]},
        ],
    )
    _lonely_on_first_write(sim)

    result = run_cli("apply", config, "--auto-approve")

    assert result.code == 4, result.out + result.err
    assert "not put right, the safety checks refuse it" in result.out
    assert sim.persona_numbers("p-lonely") == ["+14155550130"]


def test_with_force_a_repair_names_the_valve_it_overrides(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    """--force was given for the valve the plan showed (Support emptied); the repair empties
    'Lonely', a valve nobody saw: apply must at least say it overrode it, as it did the first."""
    config = write_config(
        tmp_path / "routing.yaml",
        [{"id": SUPPORT, "numbers": []}, {"id": IVR, "numbers": ["+14155550102", "+14155550130"]}],
    )
    _lonely_on_first_write(sim)

    result = run_cli("apply", config, "--auto-approve", "--force")

    assert "applying although the plan leaves 'Support Agent' with none" in result.out
    assert "the plan leaves 'Lonely' with none" in result.out + result.err


def _support_attach_fails(sim: Simulator) -> None:
    def intercept(record: RequestRecord, serve: Callable[[RequestRecord], Reply]) -> Reply:
        if record.path.endswith(f"{SUPPORT}/inbound/attach"):
            body = b'{"errors": [{"error": "BAD_REQUEST", "message": "no"}]}'
            return Reply(400, body)
        return serve(record)

    sim.intercept = intercept


def test_write_counts_never_go_back_when_the_repair_writes(sim: Simulator, run_cli: RunCli) -> None:
    _support_attach_fails(sim)

    result = run_cli("apply", CONFIG, "--auto-approve")

    assert result.code == 4, result.out + result.err
    counts = [int(n) for n in re.findall(r"^\[(\d+)(?:/\d+)?\] ", result.out, re.MULTILINE)]
    assert len(counts) > 3  # the repair wrote too
    assert counts == sorted(set(counts)), counts


def test_the_repair_is_announced_before_its_writes(sim: Simulator, run_cli: RunCli) -> None:
    _support_attach_fails(sim)

    result = run_cli("apply", CONFIG, "--auto-approve")

    lines = result.out.splitlines()
    note = next(i for i, line in enumerate(lines) if "still differed after the writes" in line)
    attaches = [i for i, line in enumerate(lines) if line.startswith("[") and "attach of" in line]
    assert len(attaches) == 2  # the plan's failed attach, then the repair's
    assert attaches[0] < note < attaches[1]


@pytest.mark.parametrize("output_format", ["text", "json"])
def test_sigterm_during_the_repair_stops_it_with_a_report_and_no_traceback(
    forked: ForkedCli, night: Simulator, tmp_path: Path, output_format: str
) -> None:
    """The first write is followed by a dashboard edit; the repair's write is held until the
    run has been sent SIGTERM."""
    in_repair, release = threading.Event(), threading.Event()

    def on_write(sim: Simulator, record: RequestRecord) -> None:
        if len(sim.writes()) == 1:
            sim.set_owner(QUIET, OTHER)
        else:
            in_repair.set()
            release.wait(timeout=60)

    night.on_write = on_write
    args = ["apply", _config(tmp_path), "--auto-approve", "--format", output_format]
    process = start(forked, night, *args)
    wait_for(in_repair.is_set, process, "sent the repair's write")
    wait_until_blocked(process, "futex")
    process.send_signal(signal.SIGTERM)
    assert process.stderr is not None
    first = process.stderr.readline()
    release.set()
    returncode, out, err = ended(process)

    assert returncode == 143, out + err
    assert first.startswith("Received SIGTERM: finishing the writes in flight"), first
    assert "Traceback" not in out + err
    if output_format == "json":
        assert json.loads(out)["exit_status"] == 143
    else:
        assert "Run plan to see what remains" in out + err


def test_a_saved_plan_whose_listing_shifted_applies_on_an_unchanged_account(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    _hide_on_first_listing(sim, IVR)
    plan_file = tmp_path / "reviewed.plan.json"
    planned = run_cli("plan", CONFIG, "--out", plan_file, "--detailed-exitcode")
    assert planned.code == 2, planned.err  # plan says apply would run it
    assert "Note: +14155550102 was listed on no persona" in planned.out

    result = run_cli("apply", plan_file)

    assert result.code == 0, result.err


def test_a_typed_yes_after_a_shifted_listing_applies_on_an_unchanged_account(
    sim: Simulator, run_cli: RunCli, seams: Any
) -> None:
    _hide_on_first_listing(sim, IVR)
    seams.confirm = lambda: None

    result = run_cli("apply", CONFIG)

    assert result.code == 0, result.err


def _moved_away_with_a_pathway_on_first_write(sim: Simulator) -> None:
    """On the first write, the dashboard moves Night Desk's number elsewhere and gives it a
    pathway there: the repair moves it back, which clears that pathway."""
    done: list[bool] = []

    def on_write(simulator: Simulator, record: RequestRecord) -> None:
        if not done:
            done.append(True)
            simulator.set_owner(QUIET, OTHER)
            simulator.set_persona_settings(OTHER, QUIET, {"pathway_id": "pw_dashboard"})

    sim.on_write = on_write


def test_the_summary_counts_the_repairs_move(
    night: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    _moved_away_with_a_pathway_on_first_write(night)

    result = run_cli("apply", _config(tmp_path), "--auto-approve")

    assert result.code == 0, result.out + result.err
    assert f"Night Desk: moved 1 number ({QUIET}) here" in result.out
    assert "Apply complete: 1 attached, 1 moved, 0 detached; 2 API writes" in result.out


def test_a_repair_that_clears_settings_says_so(
    night: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    """A plan shows `clearing its settings` before anyone agrees to it; the repair is agreed
    to by nobody, so the least it owes is to say what it cleared."""
    _moved_away_with_a_pathway_on_first_write(night)

    result = run_cli("apply", _config(tmp_path), "--auto-approve")

    assert night.persona_numbers(NIGHT) == [QUIET]
    assert "pw_dashboard" in result.out + result.err
