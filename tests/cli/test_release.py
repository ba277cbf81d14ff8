"""The release: one version everywhere, a distribution name of our own, a licence, metadata."""

from __future__ import annotations

import datetime
import importlib.util
import re
import tomllib
from typing import Any

from reconciler import __version__
from tests.conftest import ROOT, RunCli

DATED_SECTION = re.compile(r"^## \[(?P<version>[^\]]+)\] - (?P<date>\d{4}-\d{2}-\d{2})$", re.M)


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_version_agrees_with_the_newest_changelog_section(run_cli: RunCli) -> None:
    result = run_cli("--version")
    assert result.code == 0
    assert result.out == f"reconciler, version {__version__}\n"
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    newest = DATED_SECTION.search(changelog)
    assert newest is not None, "CHANGELOG.md has no `## [VERSION] - YYYY-MM-DD` section"
    assert newest["version"] == __version__
    datetime.date.fromisoformat(newest["date"])
    # Nothing released sits above it but the Unreleased heading.
    assert changelog.index("## [Unreleased]") < newest.start()
    assert f"[{__version__}]: https://github.com/reconciler/reconciler/releases/tag/v" in changelog


def test_the_distribution_has_its_own_name_and_keeps_the_command() -> None:
    project = pyproject()["project"]
    # `reconciler` on the package index is an unrelated project.
    assert project["name"] == "bland-reconciler"
    # The entry handles SIGINT and SIGTERM from before the CLI is imported (test_signals).
    assert project["scripts"] == {"reconciler": "reconciler.__main__:run"}
    assert pyproject()["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "reconciler.__version__"
    }


def test_licence_is_an_spdx_string_with_the_mit_text() -> None:
    config = pyproject()
    assert config["project"]["license"] == "MIT"
    # The SPDX string form needs setuptools 77; older ones print pages of deprecation warnings.
    assert "setuptools>=77" in config["build-system"]["requires"]
    # A licence classifier next to an SPDX expression is an error for setuptools.
    assert not [c for c in config["project"]["classifiers"] if c.startswith("License ::")]
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License\n")
    assert "Copyright (c) 2026 the reconciler authors" in licence
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in licence


def test_metadata_has_urls_classifiers_and_no_needless_dependencies() -> None:
    project = pyproject()["project"]
    assert set(project["urls"]) >= {"Homepage", "Source", "Issues", "Changelog", "Documentation"}
    assert all(url.startswith("https://github.com/reconciler/reconciler") for url in
               project["urls"].values())  # fmt: skip
    assert "Programming Language :: Python :: 3.11" in project["classifiers"]
    names = {re.split(r"[<>=!~ \[]", dependency)[0] for dependency in project["dependencies"]}
    assert names == {"pyyaml", "httpx", "jsonschema", "deepdiff", "click", "tenacity",
                     "phonenumbers"}  # fmt: skip
    extras = project["optional-dependencies"]
    assert {"build", "twine"} <= {re.split(r"[<>=]", item)[0] for item in extras["dist"]}
    assert "pre-commit" in {re.split(r"[<>=]", item)[0] for item in extras["test"]}


def test_the_sdist_manifest_ships_what_the_tests_read() -> None:
    manifest = (ROOT / "MANIFEST.in").read_text(encoding="utf-8")
    for folder in ("tests", "examples", "schemas", "docs", "scripts", "benchmarks"):
        assert f"graft {folder}\n" in manifest
    for file in ("LICENSE", "CHANGELOG.md", "action.yml", ".pre-commit-hooks.yaml"):
        assert re.search(rf"^include .*{re.escape(file)}", manifest, re.M), file
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    dist = makefile.split("\ndist:", 1)[1].split("\n\n", 1)[0]
    assert "-m build" in dist and "twine check --strict" in dist and "check_dist.py" in dist


def test_every_file_make_dist_checks_exists_in_the_project() -> None:
    """`make dist` is not part of `make test`: a file it names that moved would fail only there."""
    spec = importlib.util.spec_from_file_location("check_dist", ROOT / "scripts" / "check_dist.py")
    assert spec is not None and spec.loader is not None
    check_dist = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_dist)
    missing = [
        name
        for name in [*check_dist.NEEDED, *check_dist.TESTS_FROM_SDIST]
        if not (ROOT / name).exists()
    ]
    assert missing == []
