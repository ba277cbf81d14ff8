"""Bad input gets one clear line per problem, exit 1, and never reaches the account.

The corpus in tests/data/bad/ holds one file per mistake; expected.json says, for each, every line
the CLI must print. Each file goes through validate, plan and apply against the simulator, which
must see no request at all.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, ROOT, TEST_KEY, RunCli, point_cli_at
from tests.simulated import Simulator

BAD = ROOT / "tests" / "data" / "bad"
CASES: dict[str, dict[str, Any]] = json.loads((BAD / "expected.json").read_text(encoding="utf-8"))[
    "cases"
]
NOT_CASES = {"expected.json", ".gitattributes"}
ABSENT = "missing.yaml"  # the case of a file that does not exist

COMMANDS = {
    "validate": ("validate",),
    "plan": ("plan",),
    "plan-json": ("plan", "--format", "json"),
    "apply": ("apply", "--auto-approve"),
}


@pytest.fixture(scope="module")
def shared_sim(example_state_module: dict[str, Any]) -> Iterator[Simulator]:
    """One simulator for the whole corpus: no case may send it anything, so none can disturb it."""
    with Simulator(example_state_module, api_key=TEST_KEY) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def example_state_module() -> dict[str, Any]:
    state: dict[str, Any] = json.loads((EXAMPLES / "account.json").read_text())
    return state


@pytest.fixture
def quiet_sim(shared_sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """The shared simulator, with the CLI's environment pointing at it."""
    yield point_cli_at(shared_sim, monkeypatch)
    assert shared_sim.requests == []


def expected_lines(path: Path, expect: list[str]) -> list[str]:
    lines = [line if line.startswith("error: ") else f"{{path}}:{line}" for line in expect]
    return [line.replace("{path}", str(path)) for line in lines]


def test_every_corpus_file_has_an_expectation() -> None:
    on_disk = {entry.name for entry in BAD.iterdir()} - NOT_CASES
    assert on_disk == set(CASES) - {ABSENT}
    assert not (BAD / ABSENT).exists()


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused_before_any_request(
    name: str, command: str, quiet_sim: Simulator, run_cli: RunCli
) -> None:
    case = CASES[name]
    path = BAD / name
    verb, *options = COMMANDS[command]
    result = run_cli(*case.get("options", []), verb, path, *options)
    assert result.code == 1
    assert result.out == ""
    assert result.err.splitlines() == expected_lines(path, case["expect"])
    assert quiet_sim.requests == []


def test_errors_of_several_files_are_reported_together_in_order(
    sim: Simulator, run_cli: RunCli
) -> None:
    files = [BAD / "not-utf8.yaml", BAD / "duplicate-key.yaml", EXAMPLES / "personas.yaml"]
    result = run_cli("apply", "--auto-approve", *files)
    assert result.code == 1
    first, second = sorted(files[:2])
    assert result.err.splitlines() == (
        expected_lines(first, CASES[first.name]["expect"])
        + expected_lines(second, CASES[second.name]["expect"])
    )
    assert sim.requests == []


def test_a_python_tag_is_never_constructed(run_cli: RunCli, tmp_path: Path) -> None:
    marker = tmp_path / "constructed"
    config = tmp_path / "c.yaml"
    # With yaml.unsafe_load this would create the marker file.
    config.write_text(f'version: 1\npersonas: !!python/object/apply:os.mkdir ["{marker}"]\n')
    result = run_cli("validate", config)
    assert result.code == 1
    assert "tag !!python/object/apply:os.mkdir is not allowed" in result.err
    assert not marker.exists()


def test_a_fifo_is_refused_without_waiting_for_a_writer(run_cli: RunCli, tmp_path: Path) -> None:
    fifo = tmp_path / "personas.yaml"
    os.mkfifo(fifo)
    result = run_cli("validate", fifo)
    assert (result.code, result.err) == (1, f"error: {fifo}: not a regular file\n")


def test_a_folder_reads_its_yaml_files_only(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not config")
    (tmp_path / "team.YML").write_text((EXAMPLES / "personas.yaml").read_text())
    result = run_cli("validate", tmp_path)
    assert result.code == 0, result.err
    assert "valid (3 personas, 5 numbers)" in result.out


def test_an_unreadable_file_is_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "personas.yaml"
    config.write_text((EXAMPLES / "personas.yaml").read_text())
    config.chmod(0)
    wanted = f"error: {config}: cannot read the file (permission denied)\n"
    if os.geteuid() != 0:
        result = run_cli("validate", config)
        assert (result.code, result.out, result.err) == (1, "", wanted)
        return
    # Root reads any file whatever its mode, so the CLI runs as an unprivileged user instead.
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv (util-linux): cannot drop privileges")
    drop = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    done = subprocess.run(
        [*drop, sys.executable, "-m", "reconciler", "validate", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert (done.returncode, done.stdout, done.stderr) == (1, "", wanted)


# -- no input makes a traceback -------------------------------------------------------------

FRAGMENTS = [
    "[", "]", "{", "}", ",", ": ", "- ", "? ", "&a ", "*a", "<<: ", "!!str ", "!!int ",
    "!!bool ", "!!float ", "!!map ", "!!seq ", "!!timestamp ", "!!null ", "!!binary ",
    "!!python/name:os.system ", "!x ", "! ", "---\n", "...\n", "%YAML 1.1\n", "%TAG ! !x\n",
    "#", "\t", "\n", "\r\n", '"', "'", "|\n", ">-\n", "\\", "\\x", "\\u12", "~", "null",
    "true", "maybe", ".nan", "-.inf", "1e400", "0x1F", "0o17", "0b101", "1_000", "1:30",
    "2001-13-45", "+14155550100", '"+1 (415) 555-0100"', "\uff11", "\u0661", "\u00a0",
    "\ufeff", "\x00", "\x85", "\u2028", "\U0001f600", "version: 1\n", "personas:\n",
    "  - name: x\n    numbers: []\n", "protected:\n", "safety: {max_detach_percent: 200}\n",
    "x" * 300,
]  # fmt: skip
SEEDS = [
    (EXAMPLES / "personas.yaml").read_bytes(),
    *(path.read_bytes() for path in sorted(BAD.glob("*.yaml"))),
]
FUZZ_INPUTS = 1500
OK_LINE = re.compile(r".+: valid \(\d+ personas, \d+ numbers\)")
ERROR_LINE = re.compile(r".+:\d+:\d+: \S.*")


def mutate(rng: random.Random, content: bytes) -> bytes:
    """A random small change of the kind a hand edit, a bad merge or a broken tool makes."""
    data = bytearray(content)
    for _ in range(rng.randint(1, 4)):
        where = rng.randint(0, len(data))
        kind = rng.randrange(6)
        if kind == 0:
            data[where:where] = rng.choice(FRAGMENTS).encode("utf-8")
        elif kind == 1 and data:
            data[min(where, len(data) - 1)] = rng.randrange(256)
        elif kind == 2:
            del data[where : where + rng.randint(1, 20)]
        elif kind == 3:
            del data[where:]
        elif kind == 4:
            data[where:where] = data[where : where + rng.randint(1, 40)]
        else:
            other = rng.choice(SEEDS)
            start = rng.randint(0, len(other))
            data[where:where] = other[start : start + rng.randint(1, 80)]
    return bytes(data)


def test_no_input_makes_a_traceback(run_cli: RunCli, tmp_path: Path) -> None:
    """Seeded (repeatable) random edits of good and bad files: exit 0 or 1, one line each."""
    rng = random.Random(20260527)
    config = tmp_path / "fuzz.yaml"
    tried: set[bytes] = set()
    for index in range(FUZZ_INPUTS):
        content = mutate(rng, rng.choice(SEEDS))
        if content in tried:  # one in sixteen comes out again (an emptied file, say)
            continue
        tried.add(content)
        # A new file each time: ext4 writes a file truncated and written again to the disk as it
        # is closed (some 5 ms each time), and a new one only later.
        config.unlink(missing_ok=True)
        config.write_bytes(content)
        result = run_cli("validate", config)
        context = f"input {index}: {content!r}"
        assert result.code in (0, 1), context
        assert "Traceback" not in result.out + result.err, context
        assert "error: unexpected" not in result.err, context  # a bug the CLI only caught
        if result.code == 0:
            assert OK_LINE.fullmatch(result.out.rstrip("\n")), context
        else:
            lines = result.err.splitlines()
            assert lines, context
            assert all(ERROR_LINE.fullmatch(line) for line in lines), context
            assert lines == sorted(lines, key=_position), context


def _position(line: str) -> tuple[int, int]:
    match = re.search(r":(\d+):(\d+): ", line)
    assert match is not None, line
    return int(match.group(1)), int(match.group(2))


def test_an_unexpected_exception_is_one_line_suggesting_v(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("first line\nsecond line")

    monkeypatch.setattr("reconciler.settings.load_config", broken)
    result = run_cli("validate", EXAMPLES / "personas.yaml")
    assert result.code == 1
    assert result.err == (
        "error: unexpected RuntimeError: first line second line "
        "(run with -v for where it happened)\n"
    )
