"""`reconciler apply`: show the plan, make exactly its calls, verify, and report."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field

import click

from reconciler.api import BlandClient
from reconciler.apply import ApplyResult, Write, apply_plan, describe, report_json
from reconciler.auditlog import AuditLog
from reconciler.cli.app import FILES, TARGETS, Settings, pass_settings, safety_options
from reconciler.cli.output import echo, label, report_apply, stdout_closed, styler
from reconciler.core import (
    check_unchanged,
    converge,
    make_plan,
    plan_from_saved,
    saved_plan_among,
    targeted,
)
from reconciler.errors import (
    AlreadyReported,
    ExitCode,
    InputError,
    OutputClosed,
    ReconcilerError,
)
from reconciler.files import refuse_overwriting
from reconciler.interrupts import GracefulStop
from reconciler.model import Desired, SafetySettings
from reconciler.plan import Plan
from reconciler.planfile import read_plan_file
from reconciler.render import render_text
from reconciler.safety import Thresholds, assess, enforce
from reconciler.secrets import REDACTOR

# How an apply ended: the plan shown (None: refused before one was), what the writes did, and
# what ends the run short of success (None: it succeeded).
_Ending = ReconcilerError | AlreadyReported | None


@dataclass
class _ApplyOptions:
    """The apply command's own options."""

    auto_approve: bool
    parallelism: int
    log_file: str | None
    force: bool
    as_json: bool


@click.command("apply")
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
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: print one report at the end (every write, what was verified, the exit status).",
)
@TARGETS
@safety_options
@pass_settings
def apply_command(
    settings: Settings,
    files: tuple[str, ...],
    auto_approve: bool,
    parallelism: int,
    log_file: str | None,
    force: bool,
    output_format: str,
    targets: tuple[str, ...],
    safety: SafetySettings,
) -> None:
    """Plan (or read a plan saved by plan --out), show it, make exactly the calls, verify."""
    as_json = output_format == "json"
    options = _ApplyOptions(auto_approve, parallelism, log_file, force, as_json)
    plan: Plan | None = None
    result = ApplyResult()
    try:
        plan, result, ending = _apply(settings, files, targets, safety, options)
    except ReconcilerError as error:
        if not as_json:
            raise
        ending = error  # the error ends the run: it is the report
    if as_json:
        status = ExitCode.OK if ending is None else ending.exit_code
        error_text = str(ending) if isinstance(ending, ReconcilerError) else None
        echo(json.dumps(report_json(plan, result, status, error_text), indent=2))
    if ending is not None:
        raise ending


def _apply(
    settings: Settings,
    files: tuple[str, ...],
    targets: tuple[str, ...],
    safety: SafetySettings,
    options: _ApplyOptions,
) -> tuple[Plan, ApplyResult, _Ending]:
    saved_path = saved_plan_among(files)
    if options.as_json and not options.auto_approve and saved_path is None:
        raise InputError("--format json prints only the report: pass --auto-approve with it")
    if saved_path is None:
        desired = targeted(settings.load_config(files), targets)  # an invalid file sends nothing
        _refuse_logging_over(options, settings.inputs([*files, *desired.files], "config file"))
        thresholds = Thresholds.resolve(desired.safety, safety)
        with settings.client() as client:
            plan = make_plan(desired, client, thresholds, force=options.force)
            return _show_and_apply(plan, desired, thresholds, client, files, settings, options)
    if targets:
        raise InputError(f"{saved_path}: --target goes with config files; a saved plan is whole")
    # Read and checked before any request: an altered file sends nothing.
    saved = read_plan_file(saved_path, settings.signing_key())
    _refuse_logging_over(options, settings.inputs(files, "plan file"))
    with settings.client() as client:
        plan = plan_from_saved(saved, client, REDACTOR.clean)
        if plan.is_empty and not saved.plan.is_empty and not options.as_json:
            echo(f"{saved_path} has already been applied: the account is as it leaves it.")
        # The saved thresholds, with any given now winning, as for a config's `safety:`.
        thresholds = Thresholds.resolve(saved.thresholds.as_settings(), safety)
        plan = assess(plan, thresholds, force=options.force)
        # A saved plan was reviewed when it was made: it is applied without asking again.
        options.auto_approve = True
        return _show_and_apply(plan, saved.desired, thresholds, client, files, settings, options)


def _refuse_logging_over(options: _ApplyOptions, inputs: dict[str, str]) -> None:
    if options.log_file is not None:
        refuse_overwriting("--log-file", options.log_file, inputs)


def _show_and_apply(
    plan: Plan,
    desired: Desired,
    thresholds: Thresholds,
    client: BlandClient,
    files: tuple[str, ...],
    settings: Settings,
    options: _ApplyOptions,
) -> tuple[Plan, ApplyResult, _Ending]:
    """Show the plan, enforce the valves, confirm, write; how the apply ended."""
    if not options.as_json:
        colour = settings.colour()
        echo(render_text(plan, label(files), styler(colour)), nl=False, colour=colour)
    if plan.is_empty:
        return plan, ApplyResult(), None
    for valve in enforce(plan):  # UnsafePlan before any write
        if not options.as_json:
            echo(f"note: --force given: applying although {valve}")
    if not options.auto_approve:
        settings.seams.confirm()
        check_unchanged(plan, make_plan(desired, client, thresholds, force=options.force))
    client.set_write_parallelism(options.parallelism)
    # Opened before the first write, so a bad path stops the run with nothing written.
    audit = AuditLog(options.log_file) if options.log_file else None
    if audit is not None and audit.warning is not None:
        echo(audit.warning, err=True)
    writes = _Writes(client, audit, settings, options.parallelism, quiet=options.as_json)
    try:
        with GracefulStop(writes.on_signal, writes.on_second) as writes.stopper:
            result = converge(plan, desired, client, thresholds, writes.send, writes.report_note)
    finally:
        if audit is not None:
            audit.close()
    signal_number = writes.stopper.signal_number
    ending: _Ending = result.stopped_by
    if ending is None and signal_number is not None:
        ending = AlreadyReported(ExitCode.stopped_by(signal_number))
    elif ending is None and not result.converged:
        ending = AlreadyReported(ExitCode.INCOMPLETE)
    if not options.as_json:
        report_apply(plan, result, client, writes.stopper.signal_name if signal_number else None)
    return plan, result, ending


@dataclass
class _Writes:
    """Sends a plan's writes with a progress bar or one line per write, under a graceful stop."""

    client: BlandClient
    audit: AuditLog | None
    settings: Settings
    parallelism: int
    quiet: bool = False
    stopper: GracefulStop = field(default_factory=lambda: GracefulStop(lambda _signum: None))
    # The write lines' [n/N], counted on across the plan and its repair.
    count: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    total: int = 0

    def report_note(self, note: str) -> None:
        """A note on the repair, before its writes (the JSON report carries it instead)."""
        self.report(f"note: {note}")

    def on_signal(self, signum: int) -> None:
        self.client.cancel()
        echo(
            f"Received {self.stopper.signal_name}: finishing the writes in flight, then stopping "
            "(send it again to stop at once).",
            err=True,
        )

    def on_second(self, signum: int) -> None:
        echo(
            "Stopping at once: a write in flight may or may not take effect"
            + (f" ({self.audit.path} lists each write sent)" if self.audit is not None else "")
            + "; run plan to see what remains.",
            err=True,
        )

    def report(self, line: str) -> None:
        """A line on stdout; once stdout is closed, nothing new is sent (as on SIGINT)."""
        if stdout_closed() or self.quiet:
            return
        try:
            echo(line)
        except OutputClosed:
            self.client.cancel()
            self.stopper.event.set()

    def sent(self, write: Write) -> None:
        """The audit log's `sent` line, as the client puts a write on the wire."""
        if self.audit is not None:
            self.audit.sent(write)

    def send(self, plan: Plan) -> ApplyResult:
        """One plan's writes: a progress bar on a terminal for many personas, else a line each."""
        seams = self.settings.seams
        personas = len(set(plan.gains()) | set(plan.losses()))
        total = len(plan.gains()) + len(plan.losses()) + len(plan.number_writes())
        on_terminal = seams.stdout_is_terminal()
        if not on_terminal:  # a CI log: each line says how far the run is
            self.total += total  # a repair's writes count on from the first plan's
        show_bar = on_terminal and personas >= seams.progress_min_personas
        bar = click.progressbar(length=total, label="Applying") if show_bar else nullcontext()
        with bar as shown:

            def on_write(write: Write) -> None:
                if shown is not None:
                    shown.update(1)
                elif on_terminal:
                    self.report(describe(write))
                else:
                    # A refused attach's fallback adds writes the plan did not count: no total.
                    n = next(self.count)
                    head = f"[{n}/{self.total}]" if n <= self.total else f"[{n}]"
                    self.report(f"{head} {describe(write)}")
                if self.audit is not None:
                    self.audit.record(write)

            return apply_plan(
                plan,
                self.client,
                parallelism=self.parallelism,
                stop=self.stopper.event,
                on_write=on_write,
                on_send=self.sent,
            )
