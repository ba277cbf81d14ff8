"""The command line: runs one command and turns how it ended into a message and an exit status.

Each command lives in its own module; app.py holds the group and its global options, output.py
what is printed. main() is the one place where an outcome becomes an ExitCode.
"""

from __future__ import annotations

import gc
import io
import itertools
import logging
import os
import re
import shlex
import signal
import sys
import traceback
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import NoReturn

import click

from reconciler.cli import apply, doctor, export, plan, validate
from reconciler.cli.app import Settings, cli, global_options
from reconciler.cli.output import echo
from reconciler.errors import AlreadyReported, ConfigError, ExitCode, ReconcilerError
from reconciler.files import remove_temporary_files
from reconciler.interrupts import stop_at_once
from reconciler.secrets import redact_possible_keys
from reconciler.simulator import simulator_command

__all__ = ["Settings", "cli", "main"]

for _command in (
    validate.validate_command,
    plan.plan_command,
    apply.apply_command,
    export.export_command,
    plan.show_command,
    doctor.doctor_command,
    simulator_command,
):
    _command.params += global_options(after_command=True)
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None, *, seams: Settings | None = None) -> NoReturn:
    """Entry point: run the CLI and turn every failure into a short message and an exit code."""
    # Before click parses anything: its usage errors quote option values, which may be the key.
    args = list(argv) if argv is not None else sys.argv[1:]
    redact_possible_keys(None, os.environ)
    for key_file in _key_files_named(args):
        redact_possible_keys(key_file, os.environ)
    # A plan of 100,000 numbers holds millions of objects to the end of the run, and the
    # collector's full passes over them cost a fifth of it: they are held off while a command
    # runs (young ones go on), and the thresholds restored for callers in-process.
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], 1_000_000_000)
    try:
        with stop_at_once(_end_now):
            try:
                cli.main(args=args, standalone_mode=False, obj=seams or Settings())
            except (Exception, KeyboardInterrupt) as error:
                if isinstance(error, click.NoSuchOption):
                    error = _with_the_two_dash_form(error, args)
                message, code = _outcome(error)
                if message is not None:
                    echo(message, err=True, nl=False)
                raise SystemExit(int(code)) from None
    finally:
        gc.set_threshold(*thresholds)
    raise SystemExit(int(ExitCode.OK))


def _end_now(signum: int) -> NoReturn:
    """SIGINT or SIGTERM outside an apply's writes: end now, 130 or 143, with one line.

    Nothing is being written to the account, and unwinding would wait for requests in flight.
    stdout is not flushed (a worker may hold it, blocked on a full pipe), and the line goes out
    with os.write: the signal may have come in the middle of a write to sys.stderr.
    """
    remove_temporary_files()
    words = f"Stopped by {signal.Signals(signum).name}.\n"
    try:
        os.write(sys.stderr.fileno(), (("\n" if sys.stderr.isatty() else "") + words).encode())
    except (OSError, ValueError):
        with suppress(Exception):
            sys.stderr.write(words)
            sys.stderr.flush()
    os._exit(ExitCode.stopped_by(signum))


def _key_files_named(args: Sequence[str]) -> list[str]:
    """Every value given to --api-key-file, wherever it stands, read before click checks options;
    the single-dash form (Terraform's way) too: the hint that names its two-dash form quotes it."""
    named = []
    for arg, following in itertools.pairwise([*args, ""]):
        option, equals, value = arg.partition("=")
        if option in ("--api-key-file", "-api-key-file") and (equals or following):
            named.append(value if equals else following)
    return named


def _with_the_two_dash_form(error: click.NoSuchOption, args: Sequence[str]) -> click.NoSuchOption:
    """Terraform's single-dash long options (-detailed-exitcode, -out=FILE), which click reads
    as a run of short ones, get their two-dash form as the error's did-you-mean."""
    if error.ctx is None:
        return error
    commands = (error.ctx.command, error.ctx.find_root().command)
    known = {name: param for command in commands for param in command.params for name in param.opts}
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


def _outcome(error: BaseException) -> tuple[str | None, ExitCode]:
    """What to say on stderr (None: nothing) and the exit status, for how a command ended."""
    if isinstance(error, AlreadyReported):
        return None, error.exit_code
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
