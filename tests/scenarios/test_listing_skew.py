"""The persona listing is not a snapshot: a number moved between two page reads, and an owner that
GET /v1/inbound names but the listing does not show. Apply must still never leave a declared
number off its persona, and must not take a protected number on a wrong picture of the account.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import TEST_KEY, RunCli, point_cli_at, write_config, writes
from tests.simulated import Simulator
from tests.simulator_faults import TestFaults, with_test_faults

N = "+14155550100"  # the number the dashboard moves
X_NUMBER, Y_NUMBER, FREE = "+14155550101", "+14155550102", "+14155550199"
X, Y, Z = "p-x", "p-y", "p-z"
FILLERS = 100  # page 1 holds X and 99 fillers; page 2 the last filler, Y and Z


def two_pages(x_numbers: list[str], y_numbers: list[str]) -> dict[str, Any]:
    """X on page 1, Y and Z on page 2 (pages of 100), fillers with no numbers between."""
    fillers = [{"id": f"p-filler-{i:03d}", "name": f"Filler {i:03d}"} for i in range(FILLERS)]
    personas = [
        {"id": X, "name": "X", "numbers": x_numbers},
        *fillers,
        {"id": Y, "name": "Y", "numbers": y_numbers},
        {"id": Z, "name": "Z", "numbers": []},
    ]
    numbers = [{"phone_number": n} for n in (N, X_NUMBER, Y_NUMBER, FREE)]
    return {"numbers": numbers, "personas": personas}


@pytest.fixture
def start_sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    started: list[Simulator] = []

    def start(state: dict[str, Any], faults: TestFaults) -> Simulator:
        simulator = with_test_faults(Simulator(state, api_key=TEST_KEY, faults=faults)).start()
        started.append(simulator)
        return point_cli_at(simulator, monkeypatch)

    yield start
    for simulator in started:
        simulator.stop()


def moved_after_page_one(number: str, to: str) -> TestFaults:
    return TestFaults(move_during_listing={"number": number, "to_persona": to, "after_page": 1})


def test_a_number_moved_between_page_reads_is_confirmed_not_detached(
    start_sim: Any, run_cli: RunCli, tmp_path: Path
) -> None:
    """N moves from X (page 1) to Y (page 2) while the list is read: it shows on both. X is
    declared to hold it: the plan must move it back from Y, never detach it from Y alone."""
    sim = start_sim(two_pages([N, X_NUMBER], [Y_NUMBER]), moved_after_page_one(N, Y))
    config = write_config(
        tmp_path / "p.yaml",
        [{"id": X, "numbers": [N, X_NUMBER]}, {"id": Y, "numbers": [Y_NUMBER]}],
    )

    result = run_cli("apply", config, "--auto-approve")

    assert result.code == 0, result.out + result.err
    assert sim.persona_numbers(X) == sorted([N, X_NUMBER])
    assert sim.persona_numbers(Y) == [Y_NUMBER]
    assert writes(sim) == [(X, "attach", [N])]  # a move: attach to X takes it from Y
    assert f"~ {N} (from 'Y')" in result.out
    assert f"{N} was listed on 'X' and 'Y'" in result.out


def test_plan_json_names_the_numbers_it_confirmed(
    start_sim: Any, run_cli: RunCli, tmp_path: Path
) -> None:
    start_sim(two_pages([N, X_NUMBER], [Y_NUMBER]), moved_after_page_one(N, Y))
    config = write_config(tmp_path / "p.yaml", [{"id": X, "numbers": [N, X_NUMBER]}])

    result = run_cli("plan", config, "--format", "json")

    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["confirmed_owners"] == [{"phone_number": N, "seen_on": [X, Y], "held_by": [Y]}]
    assert [c["action"] for c in document["changes"]] == ["move"]


def test_an_owner_only_get_inbound_names_makes_taking_a_protected_number_a_refused_move(
    start_sim: Any, run_cli: RunCli, tmp_path: Path
) -> None:
    """GET /v1/inbound says Y holds N; the listing shows N on no persona. The safer reading wins:
    N counts as on Y, so giving it to X is a move, and a move of a protected number is refused."""
    faults = TestFaults(inbound_owner_overrides={N: Y})
    sim = start_sim(two_pages([X_NUMBER], [Y_NUMBER]), faults)
    config = write_config(tmp_path / "p.yaml", [{"id": X, "numbers": [N, X_NUMBER]}], protected=[N])

    result = run_cli("apply", config, "--auto-approve")

    assert result.code == 3, result.out + result.err
    assert writes(sim) == []
    assert f"~ {N} (from 'Y')" in result.out
    assert f"Sources disagree: GET /v1/inbound names 'Y' as the persona of {N}" in result.out
    assert f"{N} is protected and the plan moves it from 'Y' to 'X'" in result.err


def test_sources_that_disagree_are_a_field_of_the_json_plan(
    start_sim: Any, run_cli: RunCli, tmp_path: Path
) -> None:
    start_sim(two_pages([X_NUMBER], [Y_NUMBER]), TestFaults(inbound_owner_overrides={N: Y}))
    config = write_config(tmp_path / "p.yaml", [{"id": X, "numbers": [N, X_NUMBER]}])

    result = run_cli("plan", config, "--format", "json")

    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["sources_disagree"] == [
        {"phone_number": N, "inbound_owner": Y, "listed_on": []}
    ]
    assert document["changes"][0]["from_persona_id"] == Y


def moved_to_page_one_after_it_was_read() -> TestFaults:
    """N moves from Y (page 2) to X (page 1) once page 1 is served: the list shows it nowhere."""
    return moved_after_page_one(N, X)


def test_a_number_moved_onto_a_page_already_read_still_reaches_its_declared_persona(
    start_sim: Any, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(two_pages([X_NUMBER], [N, Y_NUMBER]), moved_to_page_one_after_it_was_read())
    config = write_config(tmp_path / "p.yaml", [{"id": Z, "numbers": [N]}])

    result = run_cli("apply", config, "--auto-approve")

    assert result.code == 0, result.out + result.err
    assert sim.persona_numbers(Z) == [N]


def test_a_protected_number_moved_onto_a_page_already_read_is_listed_again_not_taken(
    start_sim: Any, run_cli: RunCli, tmp_path: Path
) -> None:
    """Looking free, a protected number would be attached to Z and so taken from X unseen. A
    protected number the file declares that the list shows on no persona is listed again."""
    sim = start_sim(two_pages([X_NUMBER], [N, Y_NUMBER]), moved_to_page_one_after_it_was_read())
    config = write_config(tmp_path / "p.yaml", [{"id": Z, "numbers": [N]}], protected=[N])

    result = run_cli("apply", config, "--auto-approve")

    assert result.code == 3, result.out + result.err
    assert writes(sim) == []
    assert sim.persona_numbers(X) == sorted([N, X_NUMBER])
    assert f"Note: {N} was listed on no persona" in result.out
    assert f"{N} is protected and the plan moves it from 'X' to 'Z'" in result.err


def test_with_owners_from_get_inbound_a_protected_number_that_looks_free_is_not_taken(
    start_sim: Any, run_cli: RunCli, tmp_path: Path
) -> None:
    faults = moved_to_page_one_after_it_was_read()
    faults.legacy_inbound_includes_persona = True
    sim = start_sim(two_pages([X_NUMBER], [N, Y_NUMBER]), faults)
    config = write_config(tmp_path / "p.yaml", [{"id": Z, "numbers": [N]}], protected=[N])

    result = run_cli("apply", config, "--auto-approve")

    # GET /v1/inbound names X or Y, as it was read before or after the move: a move either way.
    assert result.code == 3, result.out + result.err
    assert writes(sim) == []
    assert "Sources disagree: GET /v1/inbound names" in result.out
    assert f"{N} is protected and the plan moves it from" in result.err


def test_export_of_a_listing_skewed_by_a_move_puts_the_number_on_its_holder_only(
    start_sim: Any, run_cli: RunCli
) -> None:
    """Without confirmation the export saw N on X and Y and refused to write a file."""
    start_sim(two_pages([N, X_NUMBER], [Y_NUMBER]), moved_after_page_one(N, Y))

    result = run_cli("export")

    assert result.code == 0, result.err
    exported = yaml.safe_load(result.out)
    numbers = {entry["id"]: entry["numbers"] for entry in exported["personas"]}
    assert sorted(numbers[Y]) == sorted([N, Y_NUMBER])
    assert numbers[X] == [X_NUMBER]
