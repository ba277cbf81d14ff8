"""The command line: runs one command and turns how it ended into a message and an exit status,
once, in main(). app.py holds the group, its global options and what is printed; apply.py
and commands.py the commands."""

from __future__ import annotations

import io
import itertools
import logging
import re
import shlex
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import click

from reconciler.cli import apply, commands  # noqa: F401  (they add their commands)
from reconciler.cli.app import cli, echo, global_options
from reconciler.errors import ConfigError, ExitCode, OutputClosed, ReconcilerError
from reconciler.secrets import redact_keys_named
from reconciler.settings import Settings, end_now, full_collections_held, handled_by
from reconciler.simulator import simulator_command

__all__ = ["Settings", "cli", "main"]

cli.add_command(simulator_command)
for _command in cli.commands.values():  # apply.py and commands.py added the others
    _command.params += global_options(after_command=True)


def main(argv: Sequence[str] | None = None, *, seams: Settings | None = None) -> NoReturn:
    """Entry point: run the CLI and turn every failure into a short message and an exit code."""
    args = list(argv) if argv is not None else sys.argv[1:]
    redact_keys_named(args)
    with full_collections_held(), handled_by(end_now):
        try:
            if sys.stdout is None:  # started with stdout closed (`>&-`): nothing can be shown
                raise OutputClosed("stdout was closed before all output was written")
            cli.main(args=args, standalone_mode=False, obj=seams or Settings())
        except (Exception, KeyboardInterrupt) as error:
            if isinstance(error, click.NoSuchOption):
                error = _with_the_two_dash_form(error, args)
            message, code = _outcome(error)
            echo(message, err=True, nl=False)
            raise SystemExit(int(code)) from None
    raise SystemExit(int(ExitCode.OK))


def _with_the_two_dash_form(error: click.NoSuchOption, args: Sequence[str]) -> click.NoSuchOption:
    """Terraform's single-dash long options (-detailed-exitcode, -out=FILE), which click reads
    as a run of short ones, get their two-dash form as the error's did-you-mean."""
    if error.ctx is None:
        return error
    searched = (error.ctx.command, error.ctx.find_root().command)  # the command, the group
    known = {name: param for command in searched for param in command.params for name in param.opts}
    complained = error.option_name
    for word in itertools.takewhile(lambda word: word != "--", args):
        name, equals, value = word.partition("=")
        # Only the word click complained of: `-out` is read as `-o` and so on.
        run = name.startswith("-") and not name.startswith("--")
        if word != complained and not (len(complained) == 2 and run and complained[1] in name):
            continue
        param = known.get(f"-{name}")
        if not re.fullmatch(r"-\w[\w-]+", name) or param is None:
            return error
        flag = isinstance(param, click.Option) and param.is_flag
        meant = f"-{name} {shlex.quote(value)}" if equals and not flag else f"-{name}"
        message = f"No such option {word!r}. Did you mean {meant!r}?"
        return click.NoSuchOption(word, message=message, ctx=error.ctx)
    return error


def _outcome(error: BaseException) -> tuple[str, ExitCode]:
    """What to say on stderr (maybe nothing) and the exit status, for how a command ended."""
    if isinstance(error, ConfigError):
        return f"{error}\n", error.exit_code  # lines of FILE:LINE:COL; echo redacts them
    if isinstance(error, ReconcilerError):
        # One line per problem (config loading reports every unreadable file at once).
        return "".join(f"error: {line}\n" for line in str(error).splitlines()), error.exit_code
    if isinstance(error, click.ClickException):
        shown = io.StringIO()
        error.show(file=shown)  # printed through echo: a mistyped option value may be the key
        return shown.getvalue(), ExitCode.ERROR
    aborted = isinstance(error, click.exceptions.Abort)
    if aborted and not isinstance(error.__context__, KeyboardInterrupt):
        return "Aborted.\n", ExitCode.ERROR
    if aborted or isinstance(error, KeyboardInterrupt):  # Ctrl-C where no handler was set
        return "Interrupted.\n", ExitCode.INTERRUPTED
    # Nobody foresaw this one: still one line, never a traceback.
    frames = traceback.extract_tb(error.__traceback__)
    where = ""
    if frames and logging.getLogger().level <= logging.INFO:
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}"
    text = " ".join(str(error).split())[:500]
    message = f"error: unexpected {type(error).__name__}: {text}{where}"
    return f"{message} (run with -v for where it happened)\n", ExitCode.ERROR
