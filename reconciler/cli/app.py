"""The command group, its global options (also after the command), the options several commands
share, and what the commands print through: redacted echo, titles, the confirmation prompt."""

from __future__ import annotations

import functools
import math
import os
import sys
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from reconciler import __version__
from reconciler.api.bodies import DEFAULT_MAX_RESPONSE_BYTES
from reconciler.api.transport import DEFAULT_TIMEOUT
from reconciler.config.load import DEFAULT_MAX_FILE_BYTES
from reconciler.errors import InputError, OutputClosed
from reconciler.secrets import REDACTOR
from reconciler.settings import MAX_TIMEOUT, MIN_TIMEOUT, Settings, setup_logging

Command = Callable[..., None]  # a command's function, as its decorators take and give it

# Set once stdout turned out to be a pipe whose reader has gone: nothing more is shown there.
STDOUT_CLOSED = threading.Event()


def echo(text: str, *, err: bool = False, nl: bool = True, colour: bool = False) -> None:
    """Print, with every secret redacted; escape codes only where `colour` (styled text).
    Raises OutputClosed once stdout is a closed pipe."""
    if err or not STDOUT_CLOSED.is_set():
        try:
            click.echo(REDACTOR.clean(text), err=err, nl=nl, color=True if colour else None)
            return
        except OSError as error:
            if err:
                return  # stderr is gone or cannot take more (a full disk): no one to tell
            # stdout closed, or full (a disk, a file size limit): as closed from here on.
            STDOUT_CLOSED.set()
            # What is still buffered, and the interpreter's flush at exit, go nowhere instead of
            # failing again (the "Exception ignored ... BrokenPipeError" Python prints at exit).
            with suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                os.close(devnull)
            if not isinstance(error, BrokenPipeError):
                reason = (error.strerror or type(error).__name__).lower()
                raise OutputClosed(f"stdout could not take all the output ({reason})") from None
    raise OutputClosed("stdout was closed before all output was written")


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


class _FiniteFloat(click.FloatRange):
    """A float range that also refuses nan and inf (a timeout of inf would overflow a clock)."""

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        number: float = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def global_options(*, after_command: bool) -> list[click.Option]:
    """The global options: the group's, or hidden copies on a command so they may follow it."""
    max_mib = DEFAULT_MAX_RESPONSE_BYTES // 1024**2
    options = [
        click.Option(
            ["-v", "--verbose"],
            count=True,
            help="More detail: -v retries and waits, -vv each request.",
        ),
        click.Option(
            ["--api-key-file"],
            type=click.Path(dir_okay=False),
            help="Read the API key from this file (else BLAND_API_KEY_FILE, else BLAND_API_KEY).",
        ),
        click.Option(
            ["--timeout"],
            type=_FiniteFloat(min=MIN_TIMEOUT, max=MAX_TIMEOUT),
            help=f"Seconds one request attempt may take, up to {MAX_TIMEOUT:g} (BLAND_TIMEOUT; "
            f"default {DEFAULT_TIMEOUT:g}).",
        ),
        click.Option(
            ["--max-rps"],
            type=_FiniteFloat(min=0.01),
            help="Send at most this many requests per second (default: no fixed cap; adapt to "
            "429s).",
        ),
        click.Option(
            ["--max-file-size"],
            # A config file over a gigabyte is a mistake, and the size is handed to read().
            type=click.IntRange(min=1, max=1024**3),
            default=DEFAULT_MAX_FILE_BYTES,
            show_default=True,
            help="Refuse config files larger than this many bytes.",
        ),
        click.Option(
            ["--no-color"],
            is_flag=True,
            help="No colour, even on a terminal (as NO_COLOR=1; FORCE_COLOR=1 colours off a "
            "terminal).",
        ),
        click.Option(
            ["--max-response-size"],
            metavar="SIZE",
            help="Refuse an API answer larger than this: bytes, or with K, M or G "
            f"(BLAND_MAX_RESPONSE_SIZE; default {max_mib}M).",
        ),
    ]
    if after_command:  # hidden, their values handed to the group's
        for option in options:
            option.hidden = True
            option.expose_value = False
            option.callback = _given_after_command
    return options


def _given_after_command(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """A global option given after the command: it counts as if given before it."""
    name = param.name or ""
    if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE:
        given = ctx.find_root().params
        given[name] = given[name] + value if name == "verbose" else value
        setup_logging(given["verbose"])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
def cli(**given: Any) -> None:
    """Declarative routing of Bland AI inbound numbers to personas.

    validate checks config files offline; plan shows what apply would change; apply makes
    exactly the calls needed; show prints a plan saved by plan --out. Exit codes: 0 done,
    1 error, 2 changes pending (plan --detailed-exitcode), 3 refused, 4 apply incomplete,
    130/143 apply interrupted. Global options may also follow the command.

    \b
    Environment:
      BLAND_API_KEY       the API key (plan, apply, export)
      BLAND_API_KEY_FILE  a file holding the key instead (--api-key-file wins)
      BLAND_API_URL       the API base URL, default https://api.bland.ai
                          (the simulator prints the value to export for it)
      BLAND_TIMEOUT       seconds one request attempt may take (--timeout wins)
      BLAND_MAX_RESPONSE_SIZE  the largest API answer read (--max-response-size wins)
      NO_COLOR            no colour; FORCE_COLOR: colour even off a terminal
    """
    setup_logging(given["verbose"])


cli.params += global_options(after_command=False)


def pass_settings(command: Command) -> Command:
    """Give the command the Settings: main's, with the global options given before or after it
    (else their variables) filled in."""

    @functools.wraps(command)
    def with_settings(*args: Any, **kwargs: Any) -> None:
        ctx = click.get_current_context()
        given = {**ctx.find_root().params}
        del given["verbose"]  # main() redacted every key file named before click parsed them
        settings = (ctx.find_object(Settings) or Settings()).given(
            **given, warn=functools.partial(echo, err=True)
        )
        command(settings, *args, **kwargs)

    return with_settings


# Not click's readability check: config loading says why a file cannot be read, in one line.
FILES = click.argument("files", nargs=-1, required=True, type=click.Path(readable=False))


def format_option(*others: str, help: str) -> Callable[[Command], Command]:
    choice = click.Choice(["text", *others])
    return click.option(
        "--format", "output_format", type=choice, default="text", show_default=True, help=help
    )


def plan_options(command: Command) -> Command:
    """--target, and the valve thresholds, given to the command as keywords (None where not
    given; they win over the config's `safety:`): the options plan and apply share."""
    targets = click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="NAME_OR_ID",
        help="Plan only the config entries with this name or id (repeatable); every file is "
        "still checked whole.",
    )
    share = click.option(
        "--max-detach-percent",
        type=_FiniteFloat(min=0, max=100),
        help="Safety valve: refuse to take more than this share of the numbers now on "
        "managed personas off their persona (default 25).",
    )
    least = click.option(
        "--min-numbers",
        type=click.IntRange(min=0),
        help="Apply the percentage valve once managed personas hold at least this many "
        "numbers (default 8).",
    )
    emptying = click.option(
        "--allow-emptying/--no-allow-emptying",
        default=None,
        help="Allow leaving a managed persona that has numbers with none (default: refuse).",
    )
    return targets(share(least(emptying(command))))
