"""Loading: from arguments to file contents (folders, files named twice, unreadable files, the
size limit), then read, check and merge, and what the loader returns."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.config import DEFAULT_MAX_FILE_BYTES, load_config
from reconciler.config.load import read_sources
from reconciler.errors import ConfigError, InputError
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


def test_a_large_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    config = tmp_path / "huge.yaml"
    with config.open("wb") as stream:
        stream.truncate(DEFAULT_MAX_FILE_BYTES + 1)  # sparse: nothing is written to the disk
    with pytest.raises(ConfigError) as raised:
        load_config([config])
    assert str(raised.value) == (
        f"{config}:1:1: the file is 10,485,761 bytes, over the limit of 10,485,760 bytes "
        "(--max-file-size): it is not read"
    )


def test_no_file_given() -> None:
    with pytest.raises(InputError, match="no config file given"):
        load_config([])


def test_a_folder_gives_its_yaml_files_sorted(tmp_path: Path) -> None:
    (tmp_path / "b.yml").write_text("b")
    (tmp_path / "a.YAML").write_text("a")
    (tmp_path / "notes.txt").write_text("not config")
    (tmp_path / "sub.yaml").mkdir()
    sources, diagnostics = read_sources([tmp_path], 100)
    assert sources == [(str(tmp_path / "a.YAML"), b"a"), (str(tmp_path / "b.yml"), b"b")]
    assert diagnostics == []


@pytest.mark.parametrize(
    "name",
    [".pre-commit-config.yaml", ".gitlab-ci.yml", ".#personas.yaml", ".personas.yaml"],
)
def test_a_folder_skips_its_dot_files(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("repos: []\n")
    (tmp_path / "personas.yaml~").write_text("an editor's backup")
    (tmp_path / ".personas.yaml.swp").write_bytes(b"\x00swap")
    (tmp_path / "personas.yaml").write_text("version: 1\n")
    sources, diagnostics = read_sources([tmp_path], 100)
    assert sources == [(str(tmp_path / "personas.yaml"), b"version: 1\n")]
    assert diagnostics == []


def test_a_dot_file_named_on_the_command_line_is_read(tmp_path: Path) -> None:
    hidden = tmp_path / ".personas.yaml"
    hidden.write_text("version: 1\n")
    assert read_sources([hidden], 100) == ([(str(hidden), b"version: 1\n")], [])


def test_a_file_named_twice_is_read_once(tmp_path: Path) -> None:
    config = tmp_path / "a.yaml"
    config.write_text("version: 1\n")
    sources, _ = read_sources([config, tmp_path, config], 100)
    assert sources == [(str(config), b"version: 1\n")]


def test_a_file_over_the_limit_is_a_diagnostic_and_the_others_are_read(tmp_path: Path) -> None:
    small, large = tmp_path / "a.yaml", tmp_path / "b.yaml"
    small.write_text("12345")
    large.write_text("123456")
    sources, diagnostics = read_sources([small, large], 5)
    assert sources == [(str(small), b"12345")]
    assert [str(diagnostic) for diagnostic in diagnostics] == [
        f"{large}:1:1: the file is 6 bytes, over the limit of 5 bytes "
        "(--max-file-size): it is not read"
    ]


def test_every_argument_that_cannot_be_read_is_named_once_in_order(tmp_path: Path) -> None:
    missing, empty, fifo = tmp_path / "nope.yaml", tmp_path / "empty", tmp_path / "pipe.yaml"
    empty.mkdir()
    under_a_file = tmp_path / "notes.txt" / "a.yaml"
    under_a_file.parent.write_text("")
    try:
        os.mkfifo(fifo)
    except (AttributeError, OSError):
        pytest.skip("no FIFOs here")
    with pytest.raises(InputError) as raised:
        read_sources([missing, empty, fifo, missing, under_a_file], 100)
    assert str(raised.value).splitlines() == [
        f"{missing}: no such file",
        f"{empty}: the folder has no .yaml or .yml files",
        f"{fifo}: not a regular file",
        f"{under_a_file}: no such file",
    ]


def test_an_unreadable_file_gives_the_reason_in_lower_case(tmp_path: Path) -> None:
    config = tmp_path / "secret.yaml"
    config.write_text("version: 1\n")
    config.chmod(0)
    if os.access(config, os.R_OK):
        pytest.skip("running as a user who can read any file")
    with pytest.raises(InputError) as raised:
        read_sources([config], 100)
    assert str(raised.value) == f"{config}: cannot read the file (permission denied)"
