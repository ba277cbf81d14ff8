"""Loading as a whole: read, check and merge, and what the loader returns."""

from __future__ import annotations

from pathlib import Path

from reconciler.config import load_config


def test_a_large_valid_file_loads(tmp_path: Path) -> None:
    config = tmp_path / "large.yaml"
    numbers = "".join(f'      - "+1415{n:07d}"\n' for n in range(5000))
    config.write_text(f"version: 1\npersonas:\n  - name: Sales\n    numbers:\n{numbers}")
    desired = load_config([config])
    assert len(desired.personas[0].numbers) == 5000
