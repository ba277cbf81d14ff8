"""The published pre-commit hook, run by the real pre-commit on a repository of config files.

pre-commit installs the hook the way a user's machine does: it clones this project (a copy
committed to a temporary git repository, so uncommitted work is tested too) and pip-installs it
into an environment of its own, once per run (`hook_install` in tests/conftest.py). The
dependencies there are this environment's, so the install needs no package index.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import HookInstall, git

SALES = 'version: 1\npersonas:\n  - name: Sales\n    numbers:\n      - "+14155550110"\n'
SUPPORT = 'version: 1\npersonas:\n  - name: Support\n    numbers:\n      - "+14155550120"\n'


@dataclass(frozen=True)
class HookRun:
    code: int
    output: str


@dataclass(frozen=True)
class Hooks:
    """Runs of the hook pre-commit installed: `pre-commit try-repo` would build an environment
    per run in a home of its own, to run the same hook the same way."""

    installed: HookInstall

    def run(self, project: Path) -> HookRun:
        """`pre-commit run --all-files` with the configuration a user writes."""
        self.installed.configure(project)
        done = self.installed.pre_commit(project, "run", "--all-files", "--verbose")
        output = done.stdout + done.stderr
        if done.returncode not in (0, 1) or "An unexpected error has occurred" in output:
            log = self.installed.home / "pre-commit.log"
            detail = log.read_text()[-3000:] if log.exists() else output[-3000:]
            pytest.fail(f"pre-commit failed to run the hook (exit {done.returncode}):\n{detail}")
        return HookRun(done.returncode, output)


@pytest.fixture
def hooks(hook_install: HookInstall) -> Hooks:
    return Hooks(hook_install)


def project(tmp_path: Path, files: dict[str, str]) -> Path:
    """A git repository holding `files` (staged: --all-files checks every tracked file)."""
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    return tmp_path


def test_the_hook_passes_a_valid_repository(hooks: Hooks, tmp_path: Path) -> None:
    files = {"personas/sales.yaml": SALES, "personas/support.yaml": SUPPORT, "README.md": "hi\n"}
    result = hooks.run(project(tmp_path, files))
    assert result.code == 0, result.output
    assert "reconciler validate" in result.output and "Passed" in result.output
    # Both matched files, in one run, and nothing else.
    assert "personas/sales.yaml, personas/support.yaml: valid (2 personas, 2 numbers)" in (
        result.output
    )
    assert "Missing argument" not in result.output


def test_a_bad_file_fails_the_hook_with_its_position(hooks: Hooks, tmp_path: Path) -> None:
    bad = SALES + "    nubmers: []\n"
    result = hooks.run(project(tmp_path, {"personas/sales.yaml": bad}))
    assert result.code == 1, result.output
    assert "Failed" in result.output
    assert 'personas/sales.yaml:6:5: unknown key "nubmers" (did you mean "numbers"?)' in (
        result.output
    )


def test_a_number_declared_in_two_files_fails_the_hook(hooks: Hooks, tmp_path: Path) -> None:
    twice = SUPPORT.replace("+14155550120", "+14155550110")
    files = {"personas.yaml": SALES, "personas-support.yaml": twice}
    result = hooks.run(project(tmp_path, files))
    assert result.code == 1, result.output
    assert (
        "personas.yaml:5:9: +14155550110 is listed twice (also at personas-support.yaml:5:9)"
        in result.output
        or "personas-support.yaml:5:9: +14155550110 is listed twice (also at personas.yaml:5:9)"
        in result.output
    )


def test_a_repository_without_config_files_skips_the_hook(hooks: Hooks, tmp_path: Path) -> None:
    result = hooks.run(project(tmp_path, {"README.md": "hi\n", "ci/deploy.yaml": "a: 1\n"}))
    assert result.code == 0, result.output
    assert "(no files to check)Skipped" in result.output
