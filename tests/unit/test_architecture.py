"""The house rules of the layout, checked on the code: sizes, and which part imports which."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "reconciler"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80

# part -> the parts it may import (a part is a top-level module or package of reconciler/).
ALLOWED: dict[str, set[str]] = {
    "cli": {
        "core",
        "config",
        "api",
        "planner",
        "render",
        "apply",
        "planfile",
        "owner_reads",
        "export",
        "errors",
        "text",
        "secrets",
        "files",
        "model",
        "plan",
        "safety",
        "auditlog",
        "simulator",
        "doctor",
        "settings",
    },
    "core": {
        "api",
        "files",
        "settings",
        "auditlog",
        "config",
        "export",
        "secrets",
        "client_protocols",
        "apply",
        "owner_reads",
        "planner",
        "safety",
        "planfile",
        "render",
        "model",
        "plan",
        "errors",
        "text",
    },
    "settings": {"api", "config", "errors", "files", "model", "planfile", "secrets"},
    "client_protocols": {"model"},
    "apply": {"client_protocols", "plan", "model", "errors", "text", "render"},
    "owner_reads": {"client_protocols", "model", "errors", "text"},
    "planner": {"plan", "model", "text", "errors", "resolve"},
    "resolve": {"model", "text", "errors"},
    "safety": {"plan", "model", "text", "errors"},
    "render": {"plan", "model", "text"},
    "config": {"model", "errors", "text", "files"},
    "api": {"model", "errors", "text"},
    "plan": {"model", "errors"},
    "model": set(),
    "errors": set(),
    "text": set(),
    "files": {"errors", "text", "secrets"},
    "secrets": {"errors", "text"},
    "planfile": {"plan", "model", "errors", "files", "text", "safety", "render"},
    "export": {"config", "model", "errors", "planner", "text", "secrets"},
    "auditlog": {"apply", "errors", "files", "text", "secrets"},
    "simulator": set(),
    "doctor": {"api", "owner_reads", "model", "errors", "text"},
}


def _modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def _sized_modules() -> list[Path]:
    """The modules held to the size rules: the package's and the benchmarks'."""
    return _modules() + sorted((ROOT / "benchmarks").glob("*.py"))


def _part(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def _imported_parts(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parts: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "reconciler":
                # `from reconciler import __version__` reads the package's face, not a part.
                names = [f"reconciler.{a.name}" for a in node.names if a.name != "__version__"]
        for name in names:
            if name.startswith("reconciler."):
                parts.add(name.split(".")[1])
    return parts


@pytest.mark.parametrize("path", _sized_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} has {lines} lines"


@pytest.mark.parametrize("path", _sized_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_function_is_over_80_lines(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == [], f"{path.relative_to(ROOT)}: {', '.join(long)}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_one_way(path: Path) -> None:
    part = _part(path)
    if part in {"__init__", "__main__"}:
        return
    assert part in ALLOWED, f"{part} has no rule: add it to ALLOWED"
    wrong = _imported_parts(path) - ALLOWED[part] - {part}
    assert wrong == set(), f"{path.relative_to(ROOT)} imports {sorted(wrong)}"


def _module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def _imported_modules(path: Path, known: set[str]) -> set[str]:
    """The package's modules a module imports, relative imports and type-checking ones too."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path.parent)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            # `from package import module` imports that module; any other name, the package.
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


def test_no_modules_import_each_other_in_a_circle() -> None:
    modules = {_module_name(path): path for path in _modules()}
    graph = {name: _imported_modules(path, set(modules)) - {name} for name, path in modules.items()}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        pytest.fail(f"modules import each other in a circle: {error.args[1]}")


def test_nothing_imports_the_cli() -> None:
    importers = [
        str(path.relative_to(ROOT))
        for path in _modules()
        if _part(path) not in {"cli", "__main__"} and "cli" in _imported_parts(path)
    ]
    assert importers == []


def test_the_rules_catch_a_wrong_import(tmp_path: Path) -> None:
    planner = tmp_path / "planner.py"
    planner.write_text("from reconciler.api.client import BlandClient\n")
    assert _imported_parts(planner) - ALLOWED["planner"] == {"api"}


def test_docs_architecture_names_every_module() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    unnamed = [
        str(path.relative_to(PACKAGE))
        for path in _modules()
        if path.name not in {"__init__.py", "__main__.py"}
        and str(path.relative_to(PACKAGE)) not in doc
        and f"`{path.name}`" not in doc  # the simulator's modules are named inside its row
    ]
    assert unnamed == []
