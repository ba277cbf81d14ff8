"""What the commands print: redacted echo, colour, the confirmation prompt, the apply report."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress

import click

from reconciler.api import BlandClient
from reconciler.apply import ApplyResult, describe
from reconciler.errors import InputError, OutputClosed
from reconciler.secrets import REDACTOR

Style = Callable[[str, str], str]


# Set once stdout turned out to be a pipe whose reader has gone: nothing more is shown there.
_STDOUT_CLOSED = threading.Event()


def echo(text: str, *, err: bool = False, nl: bool = True) -> None:
    """Print, with every secret redacted; OutputClosed once stdout is a closed pipe."""
    if not err and _STDOUT_CLOSED.is_set():
        raise OutputClosed()
    try:
        click.echo(REDACTOR.clean(text), err=err, nl=nl)
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


def stdout_closed() -> bool:
    """True once a write to stdout found it closed."""
    return _STDOUT_CLOSED.is_set()


def styler(on_terminal: bool) -> Style:
    """Colours for the plan text: none off a terminal or with NO_COLOR set."""
    if os.environ.get("NO_COLOR") or not on_terminal:
        return lambda text, _colour: text

    def style(text: str, colour: str) -> str:
        if colour == "bold":
            return click.style(text, bold=True)
        return click.style(text, fg=colour)

    return style


def label(files: Sequence[str]) -> str:
    """The config files, as a plan's title names them."""
    return ", ".join(files)


def ask_to_confirm() -> None:
    """Ask on the terminal to type 'yes'; anything else, or no terminal, stops the apply."""
    if not sys.stdin.isatty():
        raise InputError("no terminal to confirm on: pass --auto-approve to apply without asking")
    answer = click.prompt("Type 'yes' to apply these changes", default="", show_default=False)
    if answer.strip() != "yes":
        raise InputError("apply cancelled: nothing was written")


def report_apply(result: ApplyResult, client: BlandClient, signal_name: str | None) -> None:
    """What was done, what failed (with the API's code and message), what was skipped, and why.

    On stdout, or on stderr once stdout is closed (the report is the one place that says what
    was written).
    """
    for note in result.notes:
        _report_line(f"note: {note}")
    line = _counts(result, client)
    if result.converged:
        _report_line(f"Apply complete: {line}.")
        return
    if signal_name is not None:
        head = f"Apply interrupted by {signal_name}"
    elif result.stopped_by is not None:
        head = "Apply stopped"
    elif stdout_closed():
        head = "Apply stopped (stdout was closed)"
    else:
        head = "Apply incomplete"
    _report_line(f"{head}: {line}.")
    for write in [*result.done, *result.failed, *result.skipped]:
        _report_line(f"  {describe(write)}")
    for mismatch in result.mismatches:
        _report_line(f"  not converged: {mismatch}")
    echo(f"{head}. Run plan to see what remains.", err=True)


def _report_line(text: str) -> None:
    try:
        echo(text, err=stdout_closed())
    except OutputClosed:
        echo(text, err=True)


def _counts(result: ApplyResult, client: BlandClient) -> str:
    """The report's one line of numbers: writes, failures, reads, retries and waits."""
    done = result.done
    line = (
        f"{len(done)} writes ({sum(w.action == 'attach' for w in done)} attach, "
        f"{sum(w.action == 'detach' for w in done)} detach), "
        f"{len(result.failed)} failed, {len(result.skipped)} skipped"
    )
    if not result.interrupted and result.stopped_by is None:
        line += f"; verified with {result.verify_reads} reads"
    stats = client.stats
    if stats.retries or stats.waited:
        line += f"; {stats.retries} retries ({stats.rate_limited} rate limited)"
        line += f", {stats.waited:.1f}s waiting"
    if client.write_limit.lowest < client.write_limit.ceiling:
        line += f"; concurrent writes lowered to {client.write_limit.lowest} after 429s"
    return line
