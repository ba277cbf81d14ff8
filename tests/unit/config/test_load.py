"""Loading as a whole: read, check and merge, and what the loader returns."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config import load_config
from reconciler.errors import ConfigError
from tests.conftest import EXAMPLES


def test_a_large_valid_file_loads(tmp_path: Path) -> None:
    config = tmp_path / "large.yaml"
    numbers = "".join(f'      - "+1415{n:07d}"\n' for n in range(5000))
    config.write_text(f"version: 1\npersonas:\n  - name: Sales\n    numbers:\n{numbers}")
    desired = load_config([config])
    assert len(desired.personas[0].numbers) == 5000


@pytest.mark.parametrize(
    ("written", "shown"),
    [(".nan", ".nan"), (".NaN", ".nan"), (".inf", ".inf"), ("+.inf", ".inf"), ("-.Inf", "-.inf")],
)
def test_a_threshold_that_is_not_a_finite_number_is_refused_at_its_place(
    written: str, shown: str, tmp_path: Path
) -> None:
    """nan passes every bound of a JSON Schema, and a nan threshold switched the valve off."""
    config = tmp_path / "personas.yaml"
    config.write_text(
        f"version: 1\npersonas: []\nsafety:\n  min_numbers: 2\n  max_detach_percent: {written}\n"
    )
    with pytest.raises(ConfigError) as refused:
        load_config([config])
    assert str(refused.value) == (
        f'{config}:5:23: "max_detach_percent" must be a number from 0 to 100, not {shown}'
    )


def test_the_agents_example_lists_personas_and_agents_side_by_side() -> None:
    desired = load_config([EXAMPLES / "agents.yaml"])
    assert [(entry.kind, entry.label) for entry in desired.personas] == [
        ("persona", "'Support Agent'"),
        ("agent", "agent 'Booking'"),
        ("agent", "agent 'After Hours'"),
    ]
    assert desired.personas[1].labels == {"+14155550111": "Bookings"}
    assert desired.protected == ("+14155550110",)
