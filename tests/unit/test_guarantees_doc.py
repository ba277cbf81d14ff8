"""The README states the promise of apply at its top, and every exit status that breaks it."""

from __future__ import annotations

import re

from reconciler.errors import ExitCode
from tests.conftest import ROOT

GUARANTEES = ROOT / "README.md"


def test_the_promise_is_one_sentence_at_the_top() -> None:
    text = GUARANTEES.read_text(encoding="utf-8")
    assert (
        "**After `reconciler apply` exits 0, every declared number is on its declared persona "
        "or agent, as read back.**"
    ) in text.split("\n## ")[0]


def test_every_exit_status_of_apply_but_0_is_in_the_table() -> None:
    text = GUARANTEES.read_text(encoding="utf-8").split("\n## Exit codes\n", 1)[1]
    listed = {
        int(code)
        for cell in re.findall(r"^\| ([0-9, ]+) \|", text, re.M)
        for code in cell.split(",")
    }
    apply_failures = {int(code) for code in ExitCode} - {ExitCode.OK, ExitCode.CHANGES}
    assert listed >= apply_failures
