"""What the commands print through: redacted echo, titles, the confirmation prompt."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

import click

from reconciler.errors import InputError, OutputClosed
from reconciler.secrets import REDACTOR

# Set once stdout turned out to be a pipe whose reader has gone: nothing more is shown there.
_STDOUT_CLOSED = threading.Event()


def echo(text: str, *, err: bool = False, nl: bool = True, colour: bool = False) -> None:
    """Print, with every secret redacted; escape codes only where `colour` (styled text).

    Raises OutputClosed once stdout is a closed pipe.
    """
    if not err and _STDOUT_CLOSED.is_set():
        raise OutputClosed()
    try:
        click.echo(REDACTOR.clean(text), err=err, nl=nl, color=True if colour else None)
    except BrokenPipeError:
        if err:
            return  # stderr is gone too: nothing is left to tell
        _STDOUT_CLOSED.set()
        # What is still buffered, and the interpreter's flush at exit, go nowhere instead of
        # failing again (the "Exception ignored ... BrokenPipeError" Python prints at exit).
        with suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        raise OutputClosed() from None


stdout_closed = _STDOUT_CLOSED.is_set  # True once a write to stdout found it closed


def label(files: Sequence[str]) -> str:
    """The config files, as a plan's title names them: a file given twice, once."""
    first_given: dict[Path, str] = {}
    for file in files:
        first_given.setdefault(Path(file), file)
    return ", ".join(first_given.values())


def ask_to_confirm() -> None:
    """Ask on the terminal to type 'yes'; anything else, or no terminal, stops the apply."""
    if not sys.stdin.isatty():
        raise InputError("no terminal to confirm on: pass --auto-approve to apply without asking")
    try:
        answer = click.prompt("Type 'yes' to apply these changes", default="", show_default=False)
    except click.exceptions.Abort as error:
        if isinstance(error.__context__, EOFError):  # Ctrl-D, or stdin ran out: as a "no"
            raise InputError(
                "apply cancelled: no answer on standard input; nothing was written "
                "(use --auto-approve in CI)"
            ) from None
        raise
    if answer.strip() != "yes":
        raise InputError("apply cancelled: nothing was written")
