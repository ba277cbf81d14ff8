"""The command line: parses options, runs one command, prints, and chooses the exit code."""

from __future__ import annotations

import gc
import io
import logging
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click

from reconciler import __version__
from reconciler.applier import ApplyResult, Write, apply_plan, describe
from reconciler.auditlog import AuditLog
from reconciler.client import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, BlandClient, check_base_url
from reconciler.config import DEFAULT_MAX_FILE_BYTES, load_config, load_schema
from reconciler.errors import ConfigError, ExitCode, InputError, ReconcilerError
from reconciler.export import check_plans_clean, exported_personas, render_export
from reconciler.files import write_atomic
from reconciler.interrupts import GracefulStop
from reconciler.model import Desired, SafetySettings
from reconciler.plan import Plan
from reconciler.planfile import (
    config_sources,
    read_plan_file,
    render_plan_file,
    write_plan_file,
)
from reconciler.render import (
    mask_numbers_in,
    masked,
    render_json,
    render_markdown,
    render_text,
)
from reconciler.safety import Thresholds, assess
from reconciler.secrets import REDACTOR, api_key, redact_possible_keys
from reconciler.workflow import (
    check_unchanged,
    plan_from_config,
    plan_from_saved,
    refuse_saved_plans,
    saved_plan_among,
)

# An apply touching at least this many personas shows a progress bar on a terminal.
PROGRESS_MIN_PERSONAS = 10
# The client's sleep and clock; tests replace them so retries and waits take no real time.
CLIENT_SLEEP: Callable[[float], None] | None = None  # None: the client's own interruptible wait
CLIENT_CLOCK: Callable[[], float] = time.monotonic

log = logging.getLogger("reconciler")


def echo(text: str, *, err: bool = False, nl: bool = True) -> None:
    """Print, with every secret redacted."""
    click.echo(REDACTOR.clean(text), err=err, nl=nl)


@dataclass
class Settings:
    """Global options shared by every command."""

    verbose: int = 0
    api_key_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_rps: float | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    def client(self) -> BlandClient:
        """A client for BLAND_API_URL, refusing insecure URLs before anything is sent."""
        base_url = check_base_url(os.environ.get("BLAND_API_URL", DEFAULT_BASE_URL))
        return BlandClient(
            base_url,
            api_key(self.api_key_file, os.environ),
            timeout=self.timeout,
            max_rps=self.max_rps,
            sleep=CLIENT_SLEEP,
            clock=CLIENT_CLOCK,
        )


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
    if not math.isfinite(value) or value <= 0:
        raise InputError("BLAND_TIMEOUT must be a finite number of seconds, more than 0")
    return value


class _FiniteFloat(click.FloatRange):
    """A float range that also refuses nan and inf (a timeout of inf would overflow a clock)."""

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        number: float = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


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
    type=_FiniteFloat(min=0.001),
    default=None,
    help=f"Seconds one request attempt may take (BLAND_TIMEOUT; default {DEFAULT_TIMEOUT:g}).",
)
@click.option(
    "--max-rps",
    type=_FiniteFloat(min=0.01),
    default=None,
    help="Send at most this many requests per second (default: no fixed cap; adapt to 429s).",
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
    max_rps: float | None,
    max_file_size: int,
) -> None:
    """Declarative routing of Bland AI inbound numbers to personas.

    validate checks config files offline; plan shows what apply would change; apply makes
    exactly the calls needed. Exit codes: 0 done, 1 error, 2 changes pending
    (plan --detailed-exitcode), 3 refused, 4 apply incomplete, 130/143 apply interrupted.
    """
    _setup_logging(verbose)
    redact_possible_keys(api_key_file, os.environ)
    ctx.obj = Settings(
        verbose=verbose,
        api_key_file=api_key_file,
        timeout=timeout if timeout is not None else _timeout_from_env(),
        max_rps=max_rps,
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


# Not click's readability check: config loading says why a file cannot be read, in one line.
FILES = click.argument("files", nargs=-1, required=True, type=click.Path(readable=False))


def _safety_options(command: Callable[..., None]) -> Callable[..., None]:
    """The valve threshold flags, shared by plan and apply; they win over the config's `safety:`."""
    options = [
        click.option(
            "--max-detach-percent",
            type=click.FloatRange(min=0, max=100),
            default=None,
            help="Safety valve: refuse to take more than this share of the numbers now on "
            "managed personas off their persona (default 25).",
        ),
        click.option(
            "--min-numbers",
            type=click.IntRange(min=0),
            default=None,
            help="Apply the percentage valve once managed personas hold at least this many "
            "numbers (default 8).",
        ),
        click.option(
            "--allow-emptying/--no-allow-emptying",
            default=None,
            help="Allow leaving a managed persona that has numbers with none (default: refuse).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _flag_safety(
    max_detach_percent: float | None, min_numbers: int | None, allow_emptying: bool | None
) -> SafetySettings:
    return SafetySettings(max_detach_percent, min_numbers, allow_emptying)


@cli.command()
@FILES
@click.pass_obj
def validate(settings: Settings, files: tuple[str, ...]) -> None:
    """Check config files offline: schema, phone numbers, duplicates. No key, no network."""
    refuse_saved_plans(files)
    desired = _load(settings, files)
    numbers = sum(len(persona.numbers) for persona in desired.personas)
    echo(f"{_label(files)}: valid ({len(desired.personas)} personas, {numbers} numbers)")


def _compute_plan(settings: Settings, files: Sequence[str]) -> tuple[Plan, BlandClient, Desired]:
    desired = _load(settings, files)  # before any request: an invalid file sends nothing
    client = settings.client()
    try:
        return plan_from_config(desired, client), client, desired
    except BaseException:
        client.close()
        raise


@cli.command()
@FILES
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="How to print the plan (markdown: for a pull-request comment).",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on error.",
)
@click.option(
    "--mask-numbers",
    is_flag=True,
    help="Show only the last four digits of each number (for public repositories).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Also save the plan to this file; `apply PLANFILE` applies exactly it.",
)
@_safety_options
@click.pass_obj
def plan(
    settings: Settings,
    files: tuple[str, ...],
    output_format: str,
    detailed_exitcode: bool,
    mask_numbers: bool,
    out: str | None,
    max_detach_percent: float | None,
    min_numbers: int | None,
    allow_emptying: bool | None,
) -> None:
    """Show what apply would change, reading the live account (writes nothing)."""
    refuse_saved_plans(files)
    computed, client, _ = _compute_plan(settings, files)
    client.close()
    shown = masked(computed) if mask_numbers else computed
    flags = _flag_safety(max_detach_percent, min_numbers, allow_emptying)
    thresholds = Thresholds.resolve(computed.safety, flags)
    warnings = assess(computed, thresholds).warnings()
    if mask_numbers:
        warnings = [mask_numbers_in(warning) for warning in warnings]
    if out is not None:  # first: a plan file that cannot be written stops before any output
        write_plan_file(
            out,
            render_plan_file(
                computed,
                thresholds=thresholds,
                api_base_url=client.base_url,
                config=config_sources(computed.config_files),
                redact=REDACTOR.clean,
            ),
        )
    if output_format == "json":
        echo(render_json(shown), nl=False)
        for warning in warnings:
            echo(warning, err=True)
    elif output_format == "markdown":
        echo(render_markdown(shown, _label(files), warnings=warnings), nl=False)
    else:
        echo(render_text(shown, _label(files), _style(), warnings), nl=False)
    if out is not None:
        note = f"Saved the plan to {out}. To apply exactly this plan: reconciler apply {out}"
        # Only text is for reading; json and markdown are documents other tools take verbatim.
        echo(note, err=output_format != "text")
    if detailed_exitcode and not computed.is_empty:
        raise SystemExit(ExitCode.CHANGES)


@cli.command()
@FILES
@click.option("--auto-approve", is_flag=True, help="Apply without asking to type 'yes'.")
@click.option(
    "--parallelism",
    type=click.IntRange(min=1, max=64),
    default=4,
    show_default=True,
    help="Personas written concurrently (halved on a 429, grows back after successes).",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Append one JSON line per write to this file (time, persona, action, numbers, outcome).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Apply a plan that trips a safety valve (never one that touches a protected number).",
)
@_safety_options
@click.pass_obj
def apply(
    settings: Settings,
    files: tuple[str, ...],
    auto_approve: bool,
    parallelism: int,
    log_file: str | None,
    force: bool,
    max_detach_percent: float | None,
    min_numbers: int | None,
    allow_emptying: bool | None,
) -> None:
    """Plan (or read a plan saved by plan --out), show it, make exactly the calls, verify."""
    saved_path = saved_plan_among(files)
    desired: Desired | None = None
    if saved_path is not None:
        computed, client = _load_saved_plan(settings, saved_path)
    else:
        computed, client, desired = _compute_plan(settings, files)
    with client:
        flags = _flag_safety(max_detach_percent, min_numbers, allow_emptying)
        assessment = assess(computed, Thresholds.resolve(computed.safety, flags))
        echo(render_text(computed, _label(files), _style(), assessment.warnings()), nl=False)
        if computed.is_empty:
            return
        for valve in assessment.enforce(force=force):  # raises UnsafePlan before any write
            echo(f"note: --force given: applying although {valve}")
        if not auto_approve and desired is not None:  # a saved plan was reviewed when made
            _confirm()
            check_unchanged(computed, plan_from_config(desired, client))
        client.set_write_parallelism(parallelism)
        # Opened before the first write, so a bad path stops the run with nothing written.
        audit = AuditLog(log_file, redact=REDACTOR.clean) if log_file else None
        try:
            result, stopper = _run_apply(computed, client, parallelism, audit)
        finally:
            if audit is not None:
                audit.close()
        _report(result, client, stopper)
        if result.stopped_by is not None:
            raise result.stopped_by
        if stopper.signal_number is not None:
            raise SystemExit(stopper.exit_code)
        if not result.converged:
            raise SystemExit(ExitCode.INCOMPLETE)


def _run_apply(
    computed: Plan, client: BlandClient, parallelism: int, audit: AuditLog | None
) -> tuple[ApplyResult, GracefulStop]:
    """Run the writes under a graceful stop, with a progress bar or one line per write."""

    def on_signal(signum: int) -> None:
        client.cancel()
        echo(
            f"Received {stopper.signal_name}: finishing the writes in flight, then stopping "
            "(send it again to stop at once).",
            err=True,
        )

    personas = len(set(computed.gains()) | set(computed.losses()))
    total_writes = len(computed.gains()) + len(computed.losses())
    with GracefulStop(on_signal) as stopper:
        if _on_terminal() and personas >= PROGRESS_MIN_PERSONAS:
            with click.progressbar(length=total_writes, label="Applying") as bar:

                def on_write(write: Write) -> None:
                    if audit is not None:
                        audit.record(write)
                    bar.update(1)

                result = apply_plan(
                    computed,
                    client,
                    report=lambda _line: None,
                    parallelism=parallelism,
                    stop=stopper.event,
                    on_write=on_write,
                )
        else:
            result = apply_plan(
                computed,
                client,
                report=echo,
                parallelism=parallelism,
                stop=stopper.event,
                on_write=audit.record if audit is not None else None,
            )
    return result, stopper


def _on_terminal() -> bool:
    return sys.stdout.isatty()


def _load_saved_plan(settings: Settings, path: str) -> tuple[Plan, BlandClient]:
    """Check a saved plan (integrity, target, staleness) against a fresh read of the account."""
    saved = read_plan_file(path)  # before the key or any request: an altered file sends nothing
    client = settings.client()
    try:
        computed = plan_from_saved(saved, client)
    except BaseException:
        client.close()
        raise
    if computed.is_empty and not saved.plan.is_empty:
        echo(f"{path} has already been applied: the account is as it leaves it.")
    return computed, client


def _confirm() -> None:
    if not sys.stdin.isatty():
        raise InputError("no terminal to confirm on: pass --auto-approve to apply without asking")
    answer = click.prompt("Type 'yes' to apply these changes", default="", show_default=False)
    if answer.strip() != "yes":
        raise InputError("apply cancelled: nothing was written")


def _report(result: ApplyResult, client: BlandClient, stopper: GracefulStop) -> None:
    """What was done, what failed (with the API's code and message), what was skipped, and why."""
    for note in result.notes:
        echo(f"note: {note}")
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
    if result.converged:
        echo(f"Apply complete: {line}.")
        return
    if stopper.signal_number is not None:
        head = f"Apply interrupted by {stopper.signal_name}"
    elif result.stopped_by is not None:
        head = "Apply stopped"
    else:
        head = "Apply incomplete"
    echo(f"{head}: {line}.")
    for write in [*done, *result.failed, *result.skipped]:
        echo(f"  {describe(write)}")
    for mismatch in result.mismatches:
        echo(f"  not converged: {mismatch}")
    echo(f"{head}. Run plan to see what remains.", err=True)


@cli.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Write the config to this file (atomically) instead of printing it.",
)
@click.pass_obj
def export(settings: Settings, out: str | None) -> None:
    """Write the live account's routing as a config file, to adopt the tool on an account.

    Lists every active persona that has numbers, by id and name; planning the result shows no
    changes. Soft-deleted personas and personas without numbers are left out.
    """
    with settings.client() as client:
        live = client.read_live()
    text = render_export(live, str(load_schema()["$id"]))
    check_plans_clean(text, live)
    personas = exported_personas(live)
    counts = f"{len(personas)} personas, {sum(len(p.numbers) for p in personas)} numbers"
    if out is None:
        echo(text, nl=False)
        return
    write_atomic(Path(out), text)
    echo(f"{out}: exported {counts}", err=True)


def _mount_simulator() -> None:
    from reconciler.simulator import simulator_command

    cli.add_command(simulator_command, name="simulator")


_mount_simulator()


def _fail(message: str, code: int) -> NoReturn:
    echo(message, err=True)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI and turn every failure into a short message and an exit code."""
    # Before click parses anything: its usage errors quote option values, which may be the key.
    redact_possible_keys(None, os.environ)
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
    except InputError as error:
        # One line per problem (config loading reports every unreadable file at once).
        _fail("\n".join(f"error: {line}" for line in str(error).splitlines()), error.exit_code)
    except ReconcilerError as error:
        _fail(f"error: {error}", error.exit_code)
    except click.exceptions.Abort:
        _fail("Aborted.", ExitCode.ERROR)
    except click.ClickException as error:
        shown = io.StringIO()
        error.show(file=shown)  # through echo: a mistyped option value may be the key
        echo(shown.getvalue(), err=True, nl=False)
        raise SystemExit(ExitCode.ERROR) from None
    except KeyboardInterrupt:
        _fail("Interrupted.", ExitCode.INTERRUPTED)
    except SystemExit:
        raise
    except Exception as error:  # the CLI never shows a traceback
        where = ""
        frames = traceback.extract_tb(error.__traceback__)
        if frames and logging.getLogger().level <= logging.INFO:
            last = frames[-1]
            where = f" at {Path(last.filename).name}:{last.lineno} in {last.name}"
        text = " ".join(str(error).split())[:500]
        _fail(
            f"error: unexpected {type(error).__name__}: {text}{where} "
            "(run with -v for where it happened)",
            ExitCode.ERROR,
        )
    raise SystemExit(ExitCode.OK)
