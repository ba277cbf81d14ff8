"""Mistakes in what is given on the command line: each reported once, all of them in one run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.config.load import load_config_sources
from reconciler.errors import ConfigError
from reconciler.simulator import Simulator
from tests.conftest import EXAMPLES, RunCli


def test_every_missing_required_key_is_reported_once() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config_sources([("f.yaml", b"foo: 1\n")])
    lines = str(raised.value).splitlines()
    assert lines == [
        'f.yaml:1:1: the top level is missing the required key "personas"',
        'f.yaml:1:1: the top level is missing the required key "version"',
        'f.yaml:1:1: unknown key "foo" (allowed: agents, personas, protected, safety, version)',
    ]


def test_a_persona_missing_numbers_is_reported_once() -> None:
    text = b"version: 1\npersonas:\n  - {}\n"
    with pytest.raises(ConfigError) as raised:
        load_config_sources([("f.yaml", text)])
    lines = str(raised.value).splitlines()
    assert len(lines) == len(set(lines)), lines
    assert 'f.yaml:3:5: a persona entry is missing the required key "numbers"' in lines


@pytest.mark.parametrize("command", [("validate",), ("plan",), ("plan", "--format", "json")])
def test_a_saved_plan_given_to_validate_or_plan_is_named_as_such(
    command: tuple[str, ...], sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    saved = tmp_path / "saved.plan"
    assert run_cli("plan", "--out", saved, EXAMPLES / "personas.yaml").code == 0
    sim.requests.clear()
    result = run_cli(*command, saved)
    wanted = (
        f"error: {saved}: this is a saved plan, not a config file: "
        f"apply it with 'reconciler apply {saved}'\n"
    )
    assert (result.code, result.out, result.err) == (1, "", wanted)
    assert sim.requests == []


def test_every_missing_file_and_empty_folder_is_reported_once_in_argument_order(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    empty = tmp_path / "emptydir"
    empty.mkdir()
    missing = tmp_path / "nope.yaml"
    folder = tmp_path / "folder"
    folder.mkdir()
    for command in (("validate",), ("plan",)):
        result = run_cli(*command, missing, EXAMPLES / "personas.yaml", empty, folder, missing)
        assert result.code == 1
        assert result.out == ""
        assert result.err.splitlines() == [
            f"error: {missing}: no such file",
            f"error: {empty}: the folder has no .yaml or .yml files",
            f"error: {folder}: the folder has no .yaml or .yml files",
        ]
    assert sim.requests == []


def test_a_file_that_is_not_regular_is_reported_with_the_missing_ones(
    run_cli: RunCli, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.yaml"
    fifo = tmp_path / "pipe.yaml"
    try:
        os.mkfifo(fifo)
    except (AttributeError, OSError):
        pytest.skip("no FIFOs here")
    result = run_cli("validate", fifo, missing)
    assert (result.code, result.out) == (1, "")
    assert result.err.splitlines() == [
        f"error: {fifo}: not a regular file",
        f"error: {missing}: no such file",
    ]
