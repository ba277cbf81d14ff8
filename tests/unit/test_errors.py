"""Exit statuses: the enum is the README's table, and each outcome maps to its row."""

from __future__ import annotations

import errno
import re
import signal
from pathlib import Path

import pytest

from reconciler.errors import (
    ApiError,
    ConfigError,
    ExitCode,
    InputError,
    ReconcilerError,
    Refused,
    cannot_read,
)
from tests.conftest import ROOT


def documented_codes() -> dict[int, str]:
    """Each row of the README's "Exit codes" table: code -> meaning."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", table, flags=re.MULTILINE)
    return {int(code): meaning for code, meaning in rows}


def test_every_exit_code_is_documented_and_every_documented_code_exists() -> None:
    assert sorted(documented_codes()) == sorted(code.value for code in ExitCode)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (ExitCode.OK, "done"),
        (ExitCode.ERROR, "error"),
        (ExitCode.CHANGES, "changes pending"),
        (ExitCode.REFUSED, "refused"),
        (ExitCode.INCOMPLETE, "incomplete"),
        (ExitCode.INTERRUPTED, "SIGINT"),
        (ExitCode.TERMINATED, "SIGTERM"),
    ],
)
def test_each_exit_code_means_what_the_readme_says(code: ExitCode, words: str) -> None:
    assert words in documented_codes()[code]


def test_errors_map_to_their_exit_codes() -> None:
    assert ReconcilerError("x").exit_code is ExitCode.ERROR
    assert InputError("x").exit_code is ExitCode.ERROR
    assert ConfigError([]).exit_code is ExitCode.ERROR
    assert Refused("x").exit_code is ExitCode.REFUSED
    assert ReconcilerError().exit_code is ExitCode.ERROR
    assert ReconcilerError(exit_code=ExitCode.INCOMPLETE).exit_code is ExitCode.INCOMPLETE


@pytest.mark.parametrize(
    ("signal_number", "code"),
    [(signal.SIGINT, ExitCode.INTERRUPTED), (signal.SIGTERM, ExitCode.TERMINATED)],
)
def test_an_interrupted_apply_exits_as_a_shell_reports_the_signal(
    signal_number: int, code: ExitCode
) -> None:
    assert ExitCode(128 + signal_number) is code


def test_an_api_error_holds_the_apis_words_on_one_line() -> None:
    error = ApiError(
        "first\nsecond\r\n\tthird\u2028fourth ",
        status=400,
        code="BAD\nCODE",
        method="GET",
        path="/x",
    )
    assert error.api_message == "first second third fourth"
    assert error.code == "BAD CODE"
    assert str(error) == "GET /x: HTTP 400 BAD CODE: first second third fourth"


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            PermissionError(errno.EACCES, "Permission denied"),
            "cannot read the file (permission denied)",
        ),
        (
            IsADirectoryError(errno.EISDIR, "Is a directory"),
            "cannot read the file (is a directory)",
        ),
        (FileNotFoundError(errno.ENOENT, "No such file or directory"), "no such file"),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory"), "no such file"),
        (OSError(), "cannot read the file (oserror)"),
    ],
)
def test_cannot_read_names_the_file_and_the_reason(error: OSError, message: str) -> None:
    assert str(cannot_read(Path("plans/a.plan"), error)) == f"plans/a.plan: {message}"


def test_cannot_read_names_what_the_file_is() -> None:
    missing = FileNotFoundError(errno.ENOENT, "No such file or directory")
    assert str(cannot_read("k", missing, "API key file")) == "k: no such API key file"
    denied = PermissionError(errno.EACCES, "Permission denied")
    assert str(cannot_read("k", denied, "API key file")) == (
        "k: cannot read the API key file (permission denied)"
    )
