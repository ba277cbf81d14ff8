"""Attacks, fourth round, on the apply flow behind core.apply, the key's redaction and the
single-dash option hint: the CLI against the simulator over loopback HTTP.

Each test plays a careless user or an attacker. Those marked xfail show a bug that is still there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.simulator import Simulator
from tests.conftest import CONFIG, TEST_KEY, RunCli


def _shows_the_key(text: str) -> bool:
    """Whether text holds the key, or a run of it long enough to count as showing it."""
    return TEST_KEY[:12] in text or TEST_KEY[-12:] in text


# --- The key in the single-dash option hint -------------------------------------------------

# Terraform's habit, `-api-key-file=VALUE`, with the key itself pasted as the value: the hint
# that spells the two-dash form quotes the value back.
SINGLE_DASH_KEY = [
    pytest.param(("plan", CONFIG, f"-api-key-file={TEST_KEY}"), id="plan"),
    pytest.param(("apply", CONFIG, "--auto-approve", f"-api-key-file={TEST_KEY}"), id="apply"),
    pytest.param(("export", f"-api-key-file={TEST_KEY}"), id="export"),
]


@pytest.mark.xfail(
    strict=True, reason="the two-dash hint quotes -api-key-file=KEY's value, the key, back whole"
)
@pytest.mark.parametrize("args", SINGLE_DASH_KEY)
def test_the_key_given_after_a_single_dash_option_is_never_printed(
    sim: Simulator,
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: tuple[str | Path, ...],
) -> None:
    monkeypatch.delenv("BLAND_API_KEY")
    monkeypatch.chdir(tmp_path)

    result = run_cli(*args)

    assert result.code == 1
    assert not sim.writes()
    assert not _shows_the_key(result.out + result.err), result.out + result.err
