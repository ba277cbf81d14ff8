"""The published pre-commit hook, run by the real pre-commit on a repository of config files.

pre-commit installs the hook the way a user's machine does: it clones this project (a copy
committed to a temporary git repository, so uncommitted work is tested too) and pip-installs it
into an environment of its own. pip installs the dependencies there from the session's
wheelhouse, without the package index, so building a hook environment takes seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import OFFLINE, ROOT

PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
HOOK = "reconciler-validate"
# What `pip install .` of this project reads.
PACKAGE_FILES = ["pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", ".pre-commit-hooks.yaml"]

SALES = 'version: 1\npersonas:\n  - name: Sales\n    numbers:\n      - "+14155550110"\n'
SUPPORT = 'version: 1\npersonas:\n  - name: Support\n    numbers:\n      - "+14155550120"\n'


def git(cwd: Path, *args: str) -> None:
    """Run git with an identity of its own (commits need one; the machine may have none)."""
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=60,
    )


@dataclass(frozen=True)
class HookRun:
    code: int
    output: str


@dataclass(frozen=True)
class Hooks:
    """This project as a hook repository at a commit, and a pre-commit home shared by the tests
    (the hook's environment is built once: `pre-commit try-repo` would build one per run in a
    home of its own, to run the same hook the same way)."""

    repository: Path
    rev: str
    home: Path
    wheels: Path

    def run(self, project: Path) -> HookRun:
        """`pre-commit run --all-files` with the configuration a user writes."""
        (project / ".pre-commit-config.yaml").write_text(
            f"repos:\n  - repo: {self.repository}\n    rev: {self.rev}\n"
            f"    hooks:\n      - id: {HOOK}\n"
        )
        git(project, "add", ".pre-commit-config.yaml")
        return self._pre_commit(project, "run", "--all-files")

    def _pre_commit(self, project: Path, *args: str) -> HookRun:
        done = subprocess.run(
            [str(PRE_COMMIT), *args, "--color", "never", "--verbose"],
            cwd=project,
            env={**os.environ, "PRE_COMMIT_HOME": str(self.home), **offline_pip(self.wheels)},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        output = done.stdout + done.stderr
        if done.returncode not in (0, 1) or "An unexpected error has occurred" in output:
            log = self.home / "pre-commit.log"
            detail = log.read_text()[-3000:] if log.exists() else output[-3000:]
            if any(marker in output + detail for marker in OFFLINE):
                pytest.skip(f"pre-commit cannot install the hook: no package index\n{detail}")
            pytest.fail(f"pre-commit failed to run the hook (exit {done.returncode}):\n{detail}")
        return HookRun(done.returncode, output)


def offline_pip(wheels: Path) -> dict[str, str]:
    """The environment for the pip that pre-commit runs: no configuration file and no index,
    only the wheelhouse; the project built with the setuptools virtualenv seeds the hook
    environment with (no isolated build environment), and nothing byte-compiled ahead.
    virtualenv seeds pip and setuptools as links to its cache rather than copies of them."""
    return {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheels),
        # pip reads a `--no-X` switch set to 0 in the environment as "X off".
        "PIP_NO_BUILD_ISOLATION": "0",
        "PIP_NO_COMPILE": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "VIRTUALENV_NO_PERIODIC_UPDATE": "1",
        "VIRTUALENV_SYMLINK_APP_DATA": "1",
    }


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Iterator[Hooks]:
    if not PRE_COMMIT.exists():
        pytest.skip("pre-commit is not installed here: `make install` installs it")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repository = tmp_path_factory.mktemp("hook-repository")
    for name in PACKAGE_FILES:
        shutil.copy2(ROOT / name, repository / name)
    shutil.copytree(
        ROOT / "reconciler", repository / "reconciler", ignore=shutil.ignore_patterns("__pycache__")
    )
    git(repository, "init", "-q")
    git(repository, "add", "-A")
    git(repository, "commit", "-q", "-m", "the hook repository")
    rev = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repository, capture_output=True, text=True, check=True
    ).stdout.strip()
    yield Hooks(repository, rev, tmp_path_factory.mktemp("pre-commit-home"), wheelhouse)


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
