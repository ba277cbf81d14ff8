"""Reading the persona list to its end against servers that cap `limit` or ignore `page`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from benchmarks import accounts
from reconciler.simulator import RequestRecord
from tests.conftest import RunCli, write_config
from tests.scenarios.conftest import StartSim

PROTECTED = "+14155550999"


def crowded_account() -> dict[str, Any]:
    """120 personas; the 101st holds a number no other persona has."""
    personas: list[dict[str, Any]] = [
        {"id": f"p{index:03d}", "name": f"Persona {index}", "numbers": []} for index in range(120)
    ]
    personas[100] = {"id": "p100", "name": "Night Line", "numbers": [PROTECTED]}
    return {"numbers": [{"phone_number": PROTECTED}], "personas": personas}


def listed_pages(requests: list[RequestRecord]) -> list[int]:
    return [int(r.query["page"]) for r in requests if r.path == "/v1/personas"]


@pytest.mark.parametrize("cap", [20, 50, 99])
def test_a_server_that_caps_limit_cannot_hide_a_persona(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, cap: int
) -> None:
    # Asked for 100 a page, the server sends fewer: the first short page is not the end, and
    # the persona on a later page still holds its number, so taking it is a move.
    sim = start_sim(crowded_account(), limit_cap=cap)
    config = write_config(
        tmp_path / "c.yaml", [{"id": "p000", "numbers": [PROTECTED]}], protected=[PROTECTED]
    )
    result = run_cli("apply", "--auto-approve", config)
    assert result.code == 3, result.out + result.err
    assert f"{PROTECTED} is protected and the plan moves it from 'Night Line'" in result.err
    assert sim.writes() == []
    pages = listed_pages(sim.requests)
    end = -(-120 // cap) + 1
    assert set(range(1, end + 1)) <= set(pages) and len(pages) == len(set(pages))
    assert len(pages) - end <= 3


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_server_that_ignores_page_is_refused_and_nothing_is_written(
    start_sim: StartSim, run_cli: RunCli, command: str
) -> None:
    sim = start_sim(ignore_page=True)
    config = Path(__file__).resolve().parents[2] / "examples" / "personas.yaml"
    args = (command, "--auto-approve", config) if command == "apply" else (command, config)
    result = run_cli(*args)
    assert result.code == 1
    assert result.err.startswith("error: GET /v1/personas: persona ")
    assert "is listed more than once (pages 1 and 2 both list it): the server ignores `page`" in (
        result.err
    )
    assert len(result.err.strip().splitlines()) == 1
    assert sim.writes() == []


@pytest.mark.parametrize("owners_named", [False, True], ids=["worst reading", "owners named"])
def test_what_an_apply_on_a_thousand_personas_reads(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, owners_named: bool
) -> None:
    # 999 managed personas and an unmanaged one: ten full pages, and page 11 comes back empty.
    account = accounts.build(999, 1, 0.05)
    _, config = accounts.write(account, tmp_path, "thousand")
    sim = start_sim(account.state, legacy_inbound_includes_persona=owners_named)
    result = run_cli("apply", "--auto-approve", config)
    assert result.code == 0, result.err
    free = sum(line.startswith("  + ") for line in result.out.splitlines())
    assert free > 0
    requests = sim.requests
    first_write = next(i for i, r in enumerate(requests) if r.kind == "write")
    planned = listed_pages(requests[:first_write])
    verified = listed_pages(requests[first_write:])
    # The plan's pass reads ahead by up to 3 pages while they come back full: pages 1 to 13,
    # two past the end. Where GET /v1/inbound names no owners, a number that looks free is
    # not taken as free on one listing's word: the 11 pages are listed once more, at once. The
    # plan after the writes asks for the 11 pages, at once, and no more. GET /v1/inbound and
    # GET /v2/agents once for each plan, and each number that looks free read by number once.
    relist = [] if owners_named else list(range(1, 12))
    assert sorted(planned) == sorted([*range(1, 14), *relist])
    assert sorted(verified) == list(range(1, 12))
    reads = Counter("/v1/inbound/{number}" if "%2B" in r.path else r.path for r in sim.reads())
    assert reads == {
        "/v1/personas": 24 + len(relist),
        "/v1/inbound": 2,
        "/v1/inbound/{number}": free,
        "/v2/agents": 2,
    }
