"""Saved plans are signed with a key derived from the API key: an edited plan is refused even when
its signature field is recomputed the way a plain hash would be, and so is another key's plan."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from reconciler.simulator import Simulator
from tests.conftest import CONFIG, TEST_KEY, RunCli, writes


def _saved(run_cli: RunCli, tmp_path: Path) -> tuple[Path, dict[str, object]]:
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", CONFIG, "--out", plan_file).code == 0
    return plan_file, json.loads(plan_file.read_text())


def _plain_hash(document: dict[str, object]) -> str:
    content = {key: value for key, value in document.items() if key != "integrity"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def test_the_file_never_holds_the_key_and_names_no_plain_hash(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    plan_file, document = _saved(run_cli, tmp_path)
    assert TEST_KEY[:12] not in plan_file.read_text()
    assert str(document["integrity"]).startswith("hmac-sha256:")
    assert plan_file.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("rehash", [False, True], ids=["as edited", "hash recomputed"])
def test_an_edited_plan_is_refused_with_nothing_written(
    sim: Simulator, run_cli: RunCli, tmp_path: Path, rehash: bool
) -> None:
    plan_file, document = _saved(run_cli, tmp_path)
    document["safety"] = {"max_detach_percent": 100, "min_numbers": 0, "allow_emptying": True}
    if rehash:
        document["integrity"] = _plain_hash(document)
    plan_file.write_text(json.dumps(document))

    result = run_cli("apply", plan_file)

    assert result.code == 3
    assert "the plan file was altered after it was written" in result.err
    assert writes(sim) == []


def test_a_plan_made_with_another_key_is_refused_saying_so(
    sim: Simulator, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_file, _ = _saved(run_cli, tmp_path)
    monkeypatch.setenv("BLAND_API_KEY", "another-key-0123456789")

    result = run_cli("apply", plan_file)

    assert result.code == 3
    assert "the plan was made with another API key" in result.err
    assert writes(sim) == []


def test_a_plan_whose_persona_id_holds_a_run_of_the_key_is_saved_without_it_and_applies(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    """Redaction covers JSON keys too (persona names are keyed by id), before signing."""
    run = TEST_KEY[4:20]
    sim.add_persona(f"p-{run}", "Night Desk")
    sim.set_owner("+14155550140", f"p-{run}")
    config = tmp_path / "routing.yaml"
    config.write_text(
        json.dumps({"version": 1, "personas": [{"name": "Night Desk", "numbers": []}]}),
    )
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", config, "--out", plan_file, "--allow-emptying").code == 0
    assert run not in plan_file.read_text()
    assert run_cli("show", plan_file).code == 0
    applied = run_cli("apply", plan_file)
    assert applied.code == 0, applied.out + applied.err
    assert sim.persona_numbers(f"p-{run}") == []
