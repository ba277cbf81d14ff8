"""Attacks, ninth round: the slimmed code driven as the code before it was, case by case.

Each test here pins a behaviour the earlier code had and a differential run (the same command,
account and faults against both) found changed; each failed before its fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CONFIG, TEST_KEY, Result, RunCli
from tests.simulated import Simulator


def no_crash(result: Result) -> None:
    """One clear line or the output asked for: never a traceback or an unexpected error."""
    for text in (result.out, result.err):
        assert TEST_KEY not in text
        assert "Traceback" not in text
        assert "unexpected" not in text, text


def saved_plan(run_cli: RunCli, tmp_path: Path) -> Path:
    """The example config planned against the example account and saved."""
    path = tmp_path / "saved.plan"
    result = run_cli("plan", CONFIG, "--out", path, "--force")
    assert result.code == 0, result.err
    return path


def edit_plan(path: Path, **shown: Any) -> None:
    """Put findings into the plan a saved file shows (show checks no signature)."""
    document = json.loads(path.read_text())
    document["plan"].update(shown)
    path.write_text(json.dumps(document))


# -- show of a hand-edited plan file ------------------------------------------------------------

EDITED_FINDINGS = [
    pytest.param(
        {"sources_disagree": [{"phone_number": "+14155550100", "inbound_owner": ["p-1", "p-2"],
                               "listed_on": ["p-3"]}]},
        id="inbound-owner-a-list",
    ),
    pytest.param(
        {"confirmed_owners": [{"phone_number": "+14155550100", "seen_on": "p-1",
                               "held_by": ["p-3"]}]},
        id="seen-on-a-string",
    ),
    pytest.param(
        {"confirmed_owners": [{"phone_number": "+14155550100", "seen_on": [],
                               "held_by": "p-3"}]},
        id="held-by-a-string",
    ),
]  # fmt: skip


@pytest.mark.parametrize("findings", EDITED_FINDINGS)
@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_show_of_an_edited_plan_file_does_not_crash(
    sim: Simulator, run_cli: RunCli, tmp_path: Path, findings: dict[str, Any], fmt: str
) -> None:
    path = saved_plan(run_cli, tmp_path)
    edit_plan(path, **findings)

    result = run_cli("show", path, "--format", fmt)

    no_crash(result)
