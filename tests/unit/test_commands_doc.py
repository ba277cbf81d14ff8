"""docs/commands.md says what the code does, where users reported it did not."""

from __future__ import annotations

import json
import re

import click

from reconciler.cli import cli
from reconciler.plan import Action
from tests.conftest import ROOT

COMMANDS = (ROOT / "docs" / "commands.md").read_text()


def test_every_global_option_is_documented() -> None:
    context = click.Context(cli)
    names = [name for param in cli.get_params(context) for name in param.opts]
    missing = [name for name in names if f"`{name}" not in COMMANDS]
    assert missing == ["--verbose"]  # documented by its short form, `-v`
    assert "`--max-response-size SIZE`" in COMMANDS


def test_the_audit_log_outcomes_include_sent() -> None:
    assert '"outcome": "sent"' in COMMANDS
    for outcome in ("sent", "done", "failed", "skipped"):
        assert f"`{outcome}`" in COMMANDS


def test_the_json_plan_example_has_every_summary_key() -> None:
    summary = re.search(r'"summary": (\{[^}]*\})', COMMANDS)
    assert summary is not None
    assert set(json.loads(summary.group(1))) == {action.value for action in Action}
