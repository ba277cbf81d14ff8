"""Attacks on the key and on request paths over an account with v2 agents: the CLI against the
simulator over loopback HTTP.

Each test plays a hostile account or a careless user. Those that once showed a bug now guard
its fix; the others are attacks the code survives, kept so it goes on surviving them.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from reconciler.simulator import Simulator
from reconciler.simulator.api import Reply
from tests.conftest import TEST_KEY, RunCli
from tests.scenarios.conftest import StartSim

N100, N101, N102 = "+14155550100", "+14155550101", "+14155550102"
PIECES = [TEST_KEY[i : i + 12] for i in range(len(TEST_KEY) - 11)]
AGENT = "ag-held"
TWIN = "p-twin-held"


def _account_holding_the_key() -> dict[str, Any]:
    """Agents and a twin persona whose names, and an agent whose id, hold the key."""
    return {
        "numbers": [N100, N101, N102],
        "personas": [
            {"id": "p-support", "name": "Support", "numbers": [N100]},
            {"id": TWIN, "name": f"Twin {TEST_KEY}", "numbers": [N101],
             "tags": [f"v2-agent:{AGENT}"]},
        ],
        "agents": [
            {"id": AGENT, "name": f"Agent {TEST_KEY}", "versions": 1},
            {"id": f"ag-{TEST_KEY}", "name": "Keyed id", "versions": 1},
        ],
    }  # fmt: skip


def _readings(text: str) -> list[str]:
    return [text, re.sub(r"\\(.)", r"\1", text), html.unescape(text), unquote(text)]


def _assert_no_piece_of_the_key(text: str, where: object) -> None:
    for reading in _readings(text):
        for piece in PIECES:
            assert piece not in reading, (where, piece)


def _files(root: Path) -> dict[Path, str]:
    return {p: p.read_text("utf-8", "replace") for p in root.rglob("*") if p.is_file()}


def _config(tmp_path: Path, **document: Any) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(json.dumps({"version": 1, "personas": [], **document}, indent=2))
    return path


RUNS = {
    "plan": ["plan", "{config}"],
    "plan -vv": ["-vv", "plan", "{config}"],
    "plan json": ["plan", "{config}", "--format", "json"],
    "plan markdown": ["plan", "{config}", "--format", "markdown"],
    "plan --out": ["plan", "{config}", "--out", "{tmp}/saved.json"],
    "apply --log-file -vv": ["-vv", "apply", "{config}", "--auto-approve", "--log-file",
                             "{tmp}/run.log"],
    "apply json": ["apply", "{config}", "--auto-approve", "--format", "json"],
    "export --out": ["export", "--out", "{tmp}/exported.yaml"],
    "export -vv": ["-vv", "export"],
    "doctor": ["doctor"],
    "doctor json": ["doctor", "--format", "json"],
}  # fmt: skip


@pytest.mark.parametrize("args", RUNS.values(), ids=RUNS.keys())
def test_the_key_never_appears_over_an_account_whose_agents_hold_it(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, args: list[str]
) -> None:
    start_sim(_account_holding_the_key(), twins_listed=True)
    config = _config(tmp_path, agents=[{"id": AGENT, "numbers": [N101, N102]}])
    out = tmp_path / "out"
    out.mkdir()
    result = run_cli(*[a.format(config=config, tmp=out) for a in args])
    assert "Traceback" not in result.err
    assert result.code in (0, 2, 4), result.out + result.err
    _assert_no_piece_of_the_key(result.out, "stdout")
    _assert_no_piece_of_the_key(result.err, "stderr")
    for path, content in _files(out).items():
        _assert_no_piece_of_the_key(content, path)


CARELESS_FILES = {
    "the key as a number": {"agents": [{"id": AGENT, "numbers": [TEST_KEY]}]},
    "the key as an agent name": {"agents": [{"name": TEST_KEY, "numbers": [N101]}]},
    "the key as a key": {"agents": [{"id": AGENT, TEST_KEY: 1, "numbers": []}]},
    "the key as a label": {"agents": [{"id": AGENT, "numbers": [{"number": N101,
                                                                 "label": TEST_KEY * 6}]}]},
}  # fmt: skip


@pytest.mark.parametrize("document", CARELESS_FILES.values(), ids=CARELESS_FILES.keys())
@pytest.mark.parametrize("command", [["validate", "--format", "github"], ["plan"]])
def test_the_key_pasted_into_a_config_never_appears_in_what_is_said_about_it(
    start_sim: StartSim,
    run_cli: RunCli,
    tmp_path: Path,
    document: dict[str, Any],
    command: list[str],
) -> None:
    sim: Simulator = start_sim(_account_holding_the_key(), twins_listed=True)
    result = run_cli(*command, _config(tmp_path, **document))
    assert "Traceback" not in result.err
    assert result.code in (0, 1), result.out + result.err
    _assert_no_piece_of_the_key(result.out, "stdout")
    _assert_no_piece_of_the_key(result.err, "stderr")
    assert sim.writes() == []


UNSAFE_IDS = {
    "dot": ".",
    "dot dot": "..",
    "a slash": "ag/../../v1/personas/p-support",
    "a quoted slash": "ag%2F..%2Fp-support",
    "a query": "ag?x=1",
    "a fragment": "ag#x",
    "a backslash": "ag\\..\\p",
    "a newline": "ag\nX-Injected: 1",
    "a tab": "ag\tx",
    "a next-line control": "ag\x85x",
}


def _with_unsafe(agent_id: str, twin_id: str) -> dict[str, Any]:
    return {
        "numbers": [N100, N101, N102],
        "personas": [
            {"id": "p-support", "name": "Support", "numbers": [N100]},
            {"id": twin_id, "name": "Bot", "numbers": [N101], "tags": [f"v2-agent:{agent_id}"]},
        ],
        "agents": [{"id": agent_id, "name": "Bot", "versions": 1}],
    }


UNSAFE_CASES = [
    pytest.param(where, unsafe, id=f"{where}: {name}")
    for where in ("agent", "twin")
    for name, unsafe in UNSAFE_IDS.items()
]  # fmt: skip


@pytest.mark.parametrize(("where", "unsafe"), UNSAFE_CASES)
@pytest.mark.parametrize("command", ["plan", "apply", "export", "doctor"])
def test_an_unsafe_id_from_the_api_never_reaches_a_request_path(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, where: str, unsafe: str, command: str
) -> None:
    agent_id, twin_id = (unsafe, "p-twin") if where == "agent" else ("ag-bot", unsafe)
    sim = start_sim(_with_unsafe(agent_id, twin_id), twins_readable=True)
    config = _config(tmp_path, personas=[{"id": "p-support", "numbers": [N100, N102]}])
    args = {"plan": ["plan", config], "apply": ["apply", config, "--auto-approve"],
            "export": ["export"], "doctor": ["doctor"]}[command]  # fmt: skip
    result = run_cli(*args)
    assert "Traceback" not in result.err
    assert result.code in (1, 2), result.out + result.err
    assert len(result.err.strip().splitlines()) <= 2, result.err
    assert sim.writes() == []
    safe_prefixes = ("/v1/personas", "/v1/inbound", "/v2/agents")
    for record in sim.requests:
        assert record.path.startswith(safe_prefixes), record.path
        assert ".." not in record.path.split("/"), record.path
        assert "p-support/inbound" not in record.path, record.path


@pytest.mark.parametrize("unsafe", UNSAFE_IDS.values(), ids=UNSAFE_IDS.keys())
@pytest.mark.parametrize("command", ["plan", "apply", "export"])
def test_an_unsafe_owner_named_by_get_inbound_never_reaches_a_request_path(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, unsafe: str, command: str
) -> None:
    sim = start_sim(
        _with_unsafe("ag-bot", "p-twin"), twins_readable=True,
        inbound_owner_overrides={N102: unsafe, N101: "p-twin"},
    )  # fmt: skip
    config = _config(tmp_path, personas=[{"id": "p-support", "numbers": [N100, N102]}])
    args = {"plan": ["plan", config], "apply": ["apply", config, "--auto-approve"],
            "export": ["export"]}[command]  # fmt: skip
    result = run_cli(*args)
    assert "Traceback" not in result.err
    assert result.code in (1, 2), result.out + result.err
    assert sim.writes() == []
    for record in sim.requests:
        assert record.path.startswith(("/v1/personas", "/v1/inbound", "/v2/agents")), record.path
        assert ".." not in record.path.split("/"), record.path


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_an_agent_answer_echoing_the_key_never_shows_it(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, fmt: str
) -> None:
    sim = start_sim(_account_holding_the_key(), twins_listed=True)
    echoed = {"data": None, "errors": [{"error": "AUTH_FAILURE", "message": f"bad key {TEST_KEY}",
              "details": {"authorization": TEST_KEY, "hint": TEST_KEY[3:20]}}]}  # fmt: skip

    def intercept(record: Any, serve: Any) -> Reply:
        if record.method == "POST" and record.path.startswith("/v2/"):
            return Reply(400, json.dumps(echoed).encode())
        return serve(record)

    sim.intercept = intercept
    out = tmp_path / "out"
    out.mkdir()
    config = _config(tmp_path, agents=[{"id": AGENT, "numbers": [N101, N102]}])
    result = run_cli(
        "-vv", "apply", config, "--auto-approve", "--format", fmt, "--log-file", out / "run.log"
    )
    assert "Traceback" not in result.err
    assert result.code == 4, result.out + result.err
    _assert_no_piece_of_the_key(result.out, "stdout")
    _assert_no_piece_of_the_key(result.err, "stderr")
    for path, content in _files(out).items():
        _assert_no_piece_of_the_key(content, path)
