"""What the commands print: redacted echo, colour, the confirmation prompt, the apply report."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path

import click

from reconciler.api import BlandClient
from reconciler.apply import ApplyResult, counted, describe
from reconciler.errors import InputError, OutputClosed
from reconciler.plan import Action, Plan
from reconciler.secrets import REDACTOR

Style = Callable[[str, str], str]


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


def stdout_closed() -> bool:
    """True once a write to stdout found it closed."""
    return _STDOUT_CLOSED.is_set()


def colour_wanted(*, on_terminal: bool, no_color: bool, environ: Mapping[str, str]) -> bool:
    """--no-color or NO_COLOR (any value): none; FORCE_COLOR (any value but 0): colour even
    off a terminal, for CI logs; else colour on a terminal only."""
    if no_color or environ.get("NO_COLOR"):
        return False
    force = environ.get("FORCE_COLOR", "")
    if force:
        return force != "0"
    return on_terminal


def styler(colour: bool) -> Style:
    """Colours for the plan text, or none."""
    if not colour:
        return lambda text, _colour: text

    def style(text: str, colour: str) -> str:
        if colour == "bold":
            return click.style(text, bold=True)
        return click.style(text, fg=colour)

    return style


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


def report_apply(
    plan: Plan, result: ApplyResult, client: BlandClient, signal_name: str | None
) -> None:
    """What was done, what failed (with the API's code and message), what was skipped, and why.

    On stdout, or on stderr once stdout is closed (the report is the one place that says what
    was written).
    """
    for note in result.notes:
        _report_line(f"note: {note}")
    line = _counts(plan, result, client)
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


# The write call that carries a change of each action (attaches and moves ride one attach).
_CALL_OF = {Action.DETACH: "detach", Action.SETTINGS: "settings", Action.LABEL: "label"}


def changes_made(plan: Plan, result: ApplyResult) -> dict[Action, int]:
    """How many changes a successful write carried, per action, over the plan and its repair
    (a change both hold counts once)."""
    carried = {(w.persona_id, w.action, number) for w in result.done for number in w.numbers}
    made = dict.fromkeys(Action, 0)
    counted: set[tuple[Action, str, str]] = set()
    for change in (change for sent in result.plans or [plan] for change in sent.changes):
        key = (change.action, change.persona_id, change.phone_number)
        call = _CALL_OF.get(change.action, "attach")
        if key not in counted and (change.persona_id, call, change.phone_number) in carried:
            counted.add(key)
            made[change.action] += 1
    return made


def _counts(plan: Plan, result: ApplyResult, client: BlandClient) -> str:
    """The report's line of numbers, in the plan's units: changes made, then the API calls
    (writes, failures, reads), retries and waits."""
    made = changes_made(plan, result)
    line = (
        f"{made[Action.ATTACH]} attached, {made[Action.MOVE]} moved, {made[Action.DETACH]} detached"
    )
    if made[Action.SETTINGS]:
        line += f", {made[Action.SETTINGS]} with new settings"
    if made[Action.LABEL]:
        line += f", {counted(made[Action.LABEL], 'label')} set"
    line += f"; {counted(len(result.done), 'API write')}"
    if result.failed:
        line += f", {len(result.failed)} failed"
    if result.skipped:
        line += f", {len(result.skipped)} skipped"
    if not result.interrupted and result.stopped_by is None:
        line += f"; verified with {counted(result.verify_reads, 'read')}"
    stats = client.stats
    if stats.retries or stats.waited:
        line += (
            f"; {counted(stats.retries, 'retry', 'retries')} ({stats.rate_limited} rate limited)"
        )
        line += f", {stats.waited:.1f}s waiting"
    if client.write_limit.lowest < client.write_limit.ceiling:
        line += f"; concurrent writes lowered to {client.write_limit.lowest} after 429s"
    return line
