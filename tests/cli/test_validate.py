"""`reconciler validate` end to end."""

from __future__ import annotations

import pytest

from tests.conftest import CONFIG, RunCli


def test_validate_is_offline(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BLAND_API_KEY", raising=False)
    monkeypatch.setenv("BLAND_API_URL", "https://unreachable.invalid")
    result = run_cli("validate", CONFIG)
    assert result.code == 0
    assert result.out == f"{CONFIG}: valid (3 personas, 5 numbers)\n"
