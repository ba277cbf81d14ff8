"""Number entries given as mappings: what the schema cannot check, checked at the entry's place."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config import load_config
from reconciler.errors import ConfigError


def load(tmp_path: Path, entry: str) -> list[str]:
    """The messages of loading one persona whose only number entry is `entry` (YAML lines)."""
    config = tmp_path / "personas.yaml"
    config.write_text(
        "version: 1\npersonas:\n  - name: Sales\n    numbers:\n"
        + "".join(f"      {line}\n" for line in entry.splitlines())
    )
    try:
        load_config([config])
    except ConfigError as error:
        return [str(diagnostic) for diagnostic in error.diagnostics]
    return []


def test_an_empty_settings_key_is_an_error_not_a_clear(tmp_path: Path) -> None:
    messages = load(tmp_path, '- number: "+14155550101"\n  settings:')
    assert messages == [
        f'{tmp_path / "personas.yaml"}:6:9: "settings" is empty: write "settings: null" to '
        'clear the number\'s settings, or give them with "pathway_id"'
    ]


def test_settings_null_written_out_clears_and_is_valid(tmp_path: Path) -> None:
    assert load(tmp_path, '- number: "+14155550101"\n  settings: null') == []


@pytest.mark.parametrize(
    ("label", "units"),
    [("\U0001f600" * 76, 152), ("a" * 149 + "\U0001f600", 151)],
)
def test_a_label_over_150_utf16_units_is_refused_at_the_label(
    tmp_path: Path, label: str, units: int
) -> None:
    messages = load(tmp_path, f'- number: "+14155550101"\n  label: "{label}"')
    assert messages == [
        f'{tmp_path / "personas.yaml"}:6:16: "label" is {units} characters long as the API '
        "may count them (an emoji counts as two): at most 150 are allowed"
    ]


def test_a_label_of_150_units_with_emoji_is_valid(tmp_path: Path) -> None:
    assert load(tmp_path, '- number: "+14155550101"\n  label: "' + "\U0001f600" * 75 + '"') == []
