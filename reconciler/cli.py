"""The command line: parses options, runs one command, prints, and chooses the exit code."""

from __future__ import annotations

import gc
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import click

from reconciler import __version__
from reconciler.applier import ApplyResult, apply_plan
from reconciler.client import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, BlandClient, check_base_url
from reconciler.config import DEFAULT_MAX_FILE_BYTES, load_config
from reconciler.errors import ConfigError, InputError, ReconcilerError
from reconciler.model import Desired
from reconciler.plan import Plan
from reconciler.planner import build_plan
from reconciler.render import render_json, render_text

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_REFUSED, EXIT_INCOMPLETE = 0, 1, 2, 3, 4

log = logging.getLogger("reconciler")


class Redactor(logging.Filter):
    """Replaces every known secret in log records and in everything the CLI prints."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add(self, secret: str) -> None:
        if secret:
            self.secrets.add(secret)

    def clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = self.clean(record.getMessage())
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = self.clean("".join(traceback.format_exception(*record.exc_info)))
                record.exc_info = None
        return True


REDACTOR = Redactor()


def echo(text: str, *, err: bool = False, nl: bool = True) -> None:
    """Print, with every secret redacted."""
    click.echo(REDACTOR.clean(text), err=err, nl=nl)


@dataclass
class Settings:
    """Global options shared by every command."""

    verbose: int = 0
    api_key_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    notes: list[str] = field(default_factory=list)

    def api_key(self) -> str:
        """The API key from --api-key-file, BLAND_API_KEY_FILE or BLAND_API_KEY (never argv)."""
        key_file = self.api_key_file or os.environ.get("BLAND_API_KEY_FILE")
        if key_file:
            try:
                key = Path(key_file).read_text(encoding="utf-8").strip()
            except OSError as error:
                raise InputError(
                    f"{key_file}: cannot read the API key file ({error.strerror})"
                ) from None
            if not key:
                raise InputError(f"{key_file}: the API key file is empty")
        else:
            key = os.environ.get("BLAND_API_KEY", "").strip()
            if not key:
                raise InputError(
                    "BLAND_API_KEY is not set: export it, or name a file holding the key "
                    "with --api-key-file or BLAND_API_KEY_FILE"
                )
        REDACTOR.add(key)
        return key

    def client(self, on_retry: Callable[[str], None] | None = None) -> BlandClient:
        """A client for BLAND_API_URL, refusing insecure URLs before anything is sent."""
        base_url = check_base_url(os.environ.get("BLAND_API_URL", DEFAULT_BASE_URL))
        return BlandClient(base_url, self.api_key(), timeout=self.timeout, on_retry=on_retry)


def _setup_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(REDACTOR)
    handler.setFormatter(logging.Formatter("%(levelname).1s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO if verbose else logging.WARNING)
    # httpx logs every request at INFO; ours (at -vv) is shorter and carries the timing.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose >= 3 else logging.WARNING)


def _timeout_from_env() -> float:
    raw = os.environ.get("BLAND_TIMEOUT")
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"BLAND_TIMEOUT={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise InputError("BLAND_TIMEOUT must be more than 0 seconds")
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
@click.option(
    "-v", "--verbose", count=True, help="More detail: -v retries and waits, -vv each request."
)
@click.option(
    "--api-key-file",
    type=click.Path(dir_okay=False),
    help="Read the API key from this file (else BLAND_API_KEY_FILE, else BLAND_API_KEY).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.001),
    default=None,
    help=f"Seconds one request attempt may take (BLAND_TIMEOUT; default {DEFAULT_TIMEOUT:g}).",
)
@click.option(
    "--max-file-size",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_FILE_BYTES,
    show_default=True,
    help="Refuse config files larger than this many bytes.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    verbose: int,
    api_key_file: str | None,
    timeout: float | None,
    max_file_size: int,
) -> None:
    """Declarative routing of Bland AI inbound numbers to personas.

    validate checks config files offline; plan shows what apply would change; apply makes
    exactly the calls needed. Exit codes: 0 done, 1 error, 2 changes pending
    (plan --detailed-exitcode), 3 refused, 4 apply incomplete.
    """
    _setup_logging(verbose)
    ctx.obj = Settings(
        verbose=verbose,
        api_key_file=api_key_file,
        timeout=timeout if timeout is not None else _timeout_from_env(),
        max_file_bytes=max_file_size,
    )


def _load(settings: Settings, files: Sequence[str]) -> Desired:
    return load_config(list(files), max_bytes=settings.max_file_bytes)


def _label(files: Sequence[str]) -> str:
    return ", ".join(files)


def _style() -> Callable[[str, str], str]:
    if os.environ.get("NO_COLOR") or not sys.stdout.isatty():
        return lambda text, _colour: text

    def style(text: str, colour: str) -> str:
        if colour == "bold":
            return click.style(text, bold=True)
        return click.style(text, fg=colour)

    return style


FILES = click.argument("files", nargs=-1, required=True, type=click.Path())


@cli.command()
@FILES
@click.pass_obj
def validate(settings: Settings, files: tuple[str, ...]) -> None:
    """Check config files offline: schema, phone numbers, duplicates. No key, no network."""
    desired = _load(settings, files)
    numbers = sum(len(persona.numbers) for persona in desired.personas)
    echo(f"{_label(files)}: valid ({len(desired.personas)} personas, {numbers} numbers)")


def _compute_plan(settings: Settings, files: Sequence[str]) -> tuple[Plan, BlandClient]:
    desired = _load(settings, files)  # before any request: an invalid file sends nothing
    client = settings.client(on_retry=lambda text: log.info("%s", text))
    try:
        live = client.read_live()
        return build_plan(desired, live), client
    except BaseException:
        client.close()
        raise


@cli.command()
@FILES
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="How to print the plan.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on error.",
)
@click.pass_obj
def plan(
    settings: Settings, files: tuple[str, ...], output_format: str, detailed_exitcode: bool
) -> None:
    """Show what apply would change, reading the live account (writes nothing)."""
    computed, client = _compute_plan(settings, files)
    client.close()
    if output_format == "json":
        echo(render_json(computed), nl=False)
    else:
        echo(render_text(computed, _label(files), _style()), nl=False)
    if detailed_exitcode and not computed.is_empty:
        raise SystemExit(EXIT_CHANGES)


@cli.command()
@FILES
@click.option("--auto-approve", is_flag=True, help="Apply without asking to type 'yes'.")
@click.option(
    "--parallelism",
    type=click.IntRange(min=1, max=64),
    default=4,
    show_default=True,
    help="Personas written concurrently.",
)
@click.pass_obj
def apply(settings: Settings, files: tuple[str, ...], auto_approve: bool, parallelism: int) -> None:
    """Plan, show the plan, then make exactly the calls needed and verify the result."""
    computed, client = _compute_plan(settings, files)
    with client:
        echo(render_text(computed, _label(files), _style()), nl=False)
        if computed.is_empty:
            return
        if not auto_approve:
            _confirm()
        result = apply_plan(computed, client, report=echo, parallelism=parallelism)
        _report(result, client)
        if not result.converged:
            raise SystemExit(EXIT_INCOMPLETE)


def _confirm() -> None:
    if not sys.stdin.isatty():
        raise InputError("no terminal to confirm on: pass --auto-approve to apply without asking")
    answer = click.prompt("Type 'yes' to apply these changes", default="", show_default=False)
    if answer.strip() != "yes":
        raise InputError("apply cancelled: nothing was written")


def _report(result: ApplyResult, client: BlandClient) -> None:
    for note in result.notes:
        echo(f"note: {note}")
    for skipped in result.skipped:
        echo(f"skipped: {skipped}")
    for mismatch in result.mismatches:
        echo(f"not converged: {mismatch}", err=True)
    done = [write for write in result.writes if write.ok]
    stats = client.stats
    extra = f", {stats.retries} retries, {stats.waited:.1f}s waiting" if stats.retries else ""
    line = (
        f"{len(done)} writes ({sum(w.action == 'attach' for w in done)} attach, "
        f"{sum(w.action == 'detach' for w in done)} detach), "
        f"{len(result.failed)} failed; verified with {result.verify_reads} reads{extra}."
    )
    if result.converged:
        echo(f"Apply complete: {line}")
    else:
        echo(f"Apply incomplete: {line} Run plan to see what remains.", err=True)


def _mount_simulator() -> None:
    from reconciler.simulator import simulator_command

    cli.add_command(simulator_command, name="simulator")


_mount_simulator()


def _fail(message: str, code: int) -> NoReturn:
    echo(message, err=True)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI and turn every failure into a short message and an exit code."""
    # A plan of 100,000 numbers builds millions of objects that live until the end of the run;
    # the collector's full passes over them cost a fifth of the run. Young collections go on
    # (they free the short-lived cycles each HTTP request leaves), full ones are held off while
    # a command runs, and the thresholds are restored for callers in-process.
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], 1_000_000_000)
    try:
        _run(argv)
    finally:
        gc.set_threshold(*thresholds)


def _run(argv: Sequence[str] | None) -> None:
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except ConfigError as error:
        _fail(REDACTOR.clean(str(error)), error.exit_code)
    except ReconcilerError as error:
        _fail(f"error: {error}", error.exit_code)
    except click.exceptions.Abort:
        _fail("Aborted.", EXIT_ERROR)
    except click.ClickException as error:
        error.show()
        raise SystemExit(EXIT_ERROR) from None
    except KeyboardInterrupt:
        _fail("Interrupted.", 130)
    except SystemExit:
        raise
    except Exception as error:  # the CLI never shows a traceback
        where = ""
        frames = traceback.extract_tb(error.__traceback__)
        if frames and logging.getLogger().level <= logging.INFO:
            last = frames[-1]
            where = f" at {Path(last.filename).name}:{last.lineno} in {last.name}"
        _fail(
            f"error: unexpected {type(error).__name__}: {error}{where} "
            "(run with -v for where it happened)",
            EXIT_ERROR,
        )
    raise SystemExit(EXIT_OK)
