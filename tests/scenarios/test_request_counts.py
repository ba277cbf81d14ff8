"""The requests plan and apply make on a generated account, counted in the simulator's log."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from benchmarks import accounts
from tests.conftest import TEST_KEY, RunCli, point_cli_at
from tests.simulated import Simulator


@pytest.fixture
def account_sim(monkeypatch: pytest.MonkeyPatch) -> Any:
    def start(account: accounts.Account) -> Simulator:
        simulator = point_cli_at(Simulator(account.state, api_key=TEST_KEY).start(), monkeypatch)
        started.append(simulator)
        return simulator

    started: list[Simulator] = []
    yield start
    for simulator in started:
        simulator.stop()


def _pages(requests: list[Any]) -> list[int]:
    return [int(r.query["page"]) for r in requests if r.path == "/v1/personas"]


@pytest.mark.parametrize("drift", [0.004, 0.1])
def test_apply_makes_one_write_per_persona_and_direction_and_verifies_cheaply(
    account_sim: Any, run_cli: RunCli, tmp_path: Path, drift: float
) -> None:
    account = accounts.build(250, 3, drift)
    _, config = accounts.write(account, tmp_path, "bench")
    sim = account_sim(account)

    result = run_cli("apply", "--auto-approve", config)
    assert result.code == 0, result.err
    requests = sim.requests
    first_write = next(i for i, r in enumerate(requests) if r.kind == "write")
    plan, rest = requests[:first_write], requests[first_write:]
    pages = _pages(plan)
    # Each page is listed once, and once more when a declared number looked free: one that slid
    # onto a page already read would look so (GET /v1/inbound names no owners here).
    free = sum(line.startswith("  + ") for line in result.out.splitlines())
    assert set(range(1, 4)) <= set(pages)
    assert max(Counter(pages).values()) == (2 if free else 1)
    # What answers each number that looks free is read by number before it is attached.
    others = sorted(r.path for r in plan if r.path != "/v1/personas")
    assert others.count("/v1/inbound") == 1 and others.count("/v2/agents") == 1
    assert len(others) == 2 + free
    writes = [r for r in rest if r.kind == "write"]
    assert sum(r.path.endswith("/attach") for r in writes) == account.gaining
    assert sum(r.path.endswith("/detach") for r in writes) == account.losing
    assert len(writes) == account.gaining + account.losing
    verify_reads = [r for r in rest if r.kind == "read"]
    assert 0 < len(verify_reads) <= len(plan)

    sim.requests.clear()
    again = run_cli("apply", "--auto-approve", config)
    assert again.code == 0 and "No changes" in again.out
    assert sim.writes() == []
    assert len(sim.reads()) == len(_pages(sim.requests)) + 2  # GET /v1/inbound, /v2/agents


def test_the_generated_drift_is_what_plan_finds(
    account_sim: Any, run_cli: RunCli, tmp_path: Path
) -> None:
    account = accounts.build(30, 2, 0.2)
    _, config = accounts.write(account, tmp_path, "bench")
    account_sim(account)
    result = run_cli("plan", config)
    assert result.code == 0, result.err
    assert result.out.rstrip().endswith("Plan: 2 to attach, 2 to move, 2 to detach.")
