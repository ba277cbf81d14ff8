"""The README: short, every link good, and its Install and Quick start blocks work as pasted.

The blocks run in bash in a fresh copy of the project, as a new user would paste them into a
shell in a fresh clone: a new virtual environment, `pip install .`, the simulator in the
background on a free port.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, HookInstall, RunCli

README = ROOT / "README.md"
MAX_README_BYTES = 12_000
MAX_DOCS_BYTES = 75_000
NOT_COPIED = (".git", ".venv", "dist", "build", "*.egg-info", "__pycache__", "*_cache", "mutants")


def readme() -> str:
    return README.read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """A `## heading` section, up to the next `## ` heading."""
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def test_the_readme_is_short_and_has_its_sections() -> None:
    text = readme()
    assert len(text.encode("utf-8")) <= MAX_README_BYTES
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings == [
        "Install",
        "Quick start",
        "The config file",
        "Commands",
        "Exit codes",
        "Environment variables",
        "Documentation",
    ]
    # The exit codes are in one table, once.
    assert text.count("| 130 |") == 1


def test_the_readme_names_one_line_per_command(run_cli: RunCli) -> None:
    from reconciler.cli import cli

    listed = re.findall(r"^- `reconciler (\w+)", section(readme(), "Commands"), re.MULTILINE)
    assert sorted(listed) == sorted(cli.commands)


def test_the_environment_variables_are_those_the_help_lists(run_cli: RunCli) -> None:
    documented = set(
        re.findall(r"^\| `(\w+)` \|", section(readme(), "Environment variables"), re.M)
    )
    help_text = run_cli("--help").out
    assert documented == {"BLAND_API_KEY", "BLAND_API_KEY_FILE", "BLAND_API_URL", "BLAND_TIMEOUT",
                          "BLAND_MAX_RESPONSE_SIZE", "NO_COLOR", "FORCE_COLOR"}  # fmt: skip
    for variable in documented:
        assert variable in help_text


def test_against_your_account_sets_the_url_and_names_no_missing_file() -> None:
    text = readme()
    account = text.split("### Against your account\n", 1)[1].split("\n## ", 1)[0]
    assert "export BLAND_API_URL=https://api.bland.ai" in account
    assert "export BLAND_API_KEY=" in account
    # Every file the README runs a command on exists, or is made by the block before use.
    for path in re.findall(r"\breconciler \w+ ([\w./-]+\.ya?ml)\b", text):
        assert (ROOT / path).exists() or path.startswith("personas/"), path
    assert not re.search(r"(?<![\w/.-])personas\.yaml", text)


def test_the_config_example_is_valid(run_cli: RunCli, tmp_path: Path) -> None:
    [example] = blocks(section(readme(), "The config file"), "yaml")
    config = tmp_path / "personas.yaml"
    config.write_text(example)
    result = run_cli("validate", config)
    assert result.code == 0, result.err


def links(page: Path) -> list[str]:
    found = re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8"))
    return [link for link in found if not re.match(r"[a-z]+:", link)]


@pytest.mark.parametrize(
    "page", [README, *sorted((ROOT / "docs").glob("*.md"))], ids=lambda page: page.name
)
def test_every_relative_link_leads_somewhere(page: Path) -> None:
    for link in links(page):
        target, _, anchor = link.partition("#")
        resolved = (page.parent / target).resolve() if target else page
        assert resolved.exists(), f"{page.name}: {link}"
        if anchor and resolved.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", resolved.read_text(encoding="utf-8"), re.M)
            slugs = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
            assert anchor in slugs, f"{page.name}: {link}"


def test_every_docs_page_the_readme_promises_is_linked() -> None:
    linked = {link.partition("#")[0] for link in links(README)}
    pages = {page.relative_to(ROOT).as_posix() for page in (ROOT / "docs").glob("*.md")}
    assert pages >= {f"docs/{page}.md" for page in ("config", "commands", "plan-file", "safety",
                     "ci", "migrating-to-agents", "doctor", "architecture", "testing")}  # fmt: skip
    assert pages <= linked
    assert "benchmarks/RESULTS.md" in linked


def test_the_docs_stay_short() -> None:
    assert sum(page.stat().st_size for page in (ROOT / "docs").glob("*.md")) <= MAX_DOCS_BYTES


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_install_and_quick_start_work_as_pasted(tmp_path: Path, hook_install: HookInstall) -> None:
    text = readme()
    install = blocks(section(text, "Install"), "sh")
    quick_start = blocks(section(text, "Quick start").split("### ", 1)[0], "sh")
    assert len(install) == 1 and len(quick_start) == 1
    port = str(free_port())
    assert quick_start[0].count("8765") == 2  # where the simulator listens, and the URL
    # The install block's `pip install .` into a new environment is what pre-commit runs to
    # build the hook's environment; here the project is the one installed there, and the rest
    # runs as pasted.
    created, installed = install[0].split("pip install .\n")
    assert created == "python3 -m venv .venv\n. .venv/bin/activate\n"
    script = installed + quick_start[0].replace("8765", port)
    clone = tmp_path / "clone"
    shutil.copytree(ROOT, clone, ignore=shutil.ignore_patterns(*NOT_COPIED))
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("BLAND_", "VIRTUAL_ENV", "PYTHON"))
        and name not in ("NO_COLOR", "FORCE_COLOR")
    }
    env["PATH"] = f"{hook_install.bin}{os.pathsep}{env['PATH']}"
    process = subprocess.Popen(
        # -e: a line that fails stops the run, so each line is checked; the user would see it.
        ["bash", "--noprofile", "--norc", "-e", "-c", script],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the background simulator too is ended below, whatever happens
    )
    try:
        output, _ = process.communicate(timeout=600)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, output[-4000:]
    assert "reconciler, version " in output
    assert f"export BLAND_API_URL=http://127.0.0.1:{port}" in output  # the start line
    assert "examples/personas.yaml: valid (3 personas, 5 numbers)" in output
    assert "Plan: 3 to attach, 1 to move, 1 to detach." in output
    assert "Apply complete: 3 attached, 1 moved, 1 detached" in output
    assert output.rstrip().endswith("No changes. The account matches examples/personas.yaml.")
