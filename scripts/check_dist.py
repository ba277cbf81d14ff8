"""Check the release artefacts `make dist` built: the sdist runs its own tests, the wheel runs.

    python scripts/check_dist.py DIST_DIR

- DIST_DIR holds exactly one sdist and one wheel of bland-reconciler at the package's version;
- the sdist holds what its tests need (conftest, package markers, data, examples, schemas,
  recipes), and a few test modules that read each of those pass when run from the unpacked sdist,
  with `reconciler` imported from there, not from the working tree;
- the wheel, installed in a fresh virtual environment, runs `reconciler --version`, and carries
  no tests.
Exits non-zero on the first failure, saying which.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler import __version__  # noqa: E402

NAME = "bland_reconciler"
# Files the tests read; each must be in the sdist.
NEEDED = [
    "LICENSE",
    "README.md",
    "CHANGELOG.md",
    "pyproject.toml",
    "action.yml",
    ".pre-commit-hooks.yaml",
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/simulator_faults.py",
    "tests/cli/__init__.py",
    "tests/unit/__init__.py",
    "tests/scenarios/__init__.py",
    "tests/unit/apply/fakes.py",
    "tests/data/bad/expected.json",
    "examples/personas.yaml",
    "examples/account.json",
    "examples/ci/github-apply.yml",
    "requirements/ci.lock",
    "schemas/personas.schema.json",
    "schemas/plan.schema.json",
    "docs/commands.md",
    "benchmarks/accounts.py",
    "reconciler/personas.schema.json",
    "reconciler/py.typed",
]
# A few modules that between them read every kind of file above; the full suite is `make test`.
TESTS_FROM_SDIST = [
    "tests/unit/test_architecture.py",
    "tests/scenarios/test_bad_input.py",
    "tests/scenarios/test_ci_recipes.py",
    "tests/scenarios/test_request_counts.py",
    "tests/cli/test_show.py",
    "tests/cli/test_release.py",
]


def fail(message: str) -> None:
    print(f"check_dist: {message}", file=sys.stderr)
    raise SystemExit(1)


def run(command: list[str], cwd: Path, timeout: float = 600) -> str:
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        fail(f"{' '.join(command)} (in {cwd}) exited {result.returncode}:\n"
             f"{result.stdout[-3000:]}{result.stderr[-3000:]}")  # fmt: skip
    return result.stdout


def artefacts(dist: Path) -> tuple[Path, Path]:
    sdists = sorted(dist.glob("*.tar.gz"))
    wheels = sorted(dist.glob("*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        fail(f"expected one sdist and one wheel in {dist}, found {sdists + wheels}")
    sdist, wheel = sdists[0], wheels[0]
    if sdist.name != f"{NAME}-{__version__}.tar.gz":
        fail(f"the sdist is {sdist.name}, not {NAME}-{__version__}.tar.gz")
    if not wheel.name.startswith(f"{NAME}-{__version__}-py3-none-any"):
        fail(f"the wheel is {wheel.name}, not {NAME}-{__version__}-py3-none-any.whl")
    return sdist, wheel


def check_sdist(sdist: Path, workdir: Path) -> None:
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
        archive.extractall(workdir, filter="data")
    top = f"{NAME}-{__version__}"
    missing = [path for path in NEEDED if f"{top}/{path}" not in names]
    if missing:
        fail(f"the sdist lacks {missing}")
    junk = sorted(n for n in names if "__pycache__" in n or n.endswith((".pyc", ".plan.json")))
    if junk:
        fail(f"the sdist holds files of a working tree: {junk[:5]}")
    unpacked = workdir / top
    where = run([sys.executable, "-c", "import reconciler; print(reconciler.__file__)"], unpacked)
    if not Path(where.strip()).is_relative_to(unpacked):
        fail(f"from the unpacked sdist, reconciler is imported from {where.strip()}")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS_FROM_SDIST]
    print(run(command, unpacked).strip().splitlines()[-1])


def check_wheel(wheel: Path, workdir: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
    if tops != {"reconciler", f"{NAME}-{__version__}.dist-info"}:
        fail(f"the wheel holds {sorted(tops)}: only the reconciler package and its metadata")
    venv = workdir / "venv"
    run([sys.executable, "-m", "venv", str(venv)], workdir)
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)], workdir)
    version = run([str(venv / "bin" / "reconciler"), "--version"], workdir).strip()
    if version != f"reconciler, version {__version__}":
        fail(f"the installed wheel says {version!r}")
    print(f"{wheel.name}: installs and runs ({version})")


def main() -> None:
    dist = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dist"
    sdist, wheel = artefacts(dist.resolve())
    with tempfile.TemporaryDirectory(prefix="check-dist-") as temp:
        check_sdist(sdist, Path(temp))
        check_wheel(wheel, Path(temp))
    print(f"{sdist.name}: complete; its tests run from the unpacked sdist")


if __name__ == "__main__":
    main()
