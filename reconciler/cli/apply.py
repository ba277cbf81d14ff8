"""`reconciler apply`: its options, and what core.apply asks of the command line: the plan and
each write shown, the question, the audit log, the signals, the report and the exit status."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, NoReturn

import click

from reconciler.api import BlandClient
from reconciler.apply.result import ApplyResult, Write, describe, report_json, report_text
from reconciler.apply.writes import OnWrite
from reconciler.cli.app import (
    FILES,
    STDOUT_CLOSED,
    ask_to_confirm,
    cli,
    echo,
    format_option,
    label,
    pass_settings,
    plan_options,
)
from reconciler.cli.commands import print_plan
from reconciler.core import apply, costs
from reconciler.errors import ExitCode, InputError, OutputClosed, ReconcilerError
from reconciler.plan import Plan
from reconciler.planfile import is_plan_file
from reconciler.settings import GracefulStop, Settings, end_now, tell
from reconciler.text import printable


@cli.command("apply")
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
    help="Append one JSON line per write to this file (time, persona, action, numbers, outcome).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Apply a plan that trips a safety valve (never one that touches a protected number).",
)
@format_option(
    "json",
    help="json: print one report at the end (every write, what was verified, the exit status).",
)
@plan_options
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
    **valves: Any,
) -> None:
    """Plan (or read a plan saved by plan --out), show it, make exactly the calls, verify."""
    as_json = output_format == "json"
    plan: Plan | None = None
    result = ApplyResult()
    try:
        if as_json and not auto_approve and not any(map(is_plan_file, files)):
            # A config's plan is asked about (a saved plan's is not): json leaves no room to ask.
            raise InputError("--format json prints only the report: pass --auto-approve with it")
        source = settings.read_inputs(files, targets, plans=True, output=("--log-file", log_file))
        with settings.client() as client:
            client.write_limit.set_ceiling(parallelism)
            run = _Run(client, settings, files, log_file, as_json)
            plan, result = apply(
                source,
                client,
                valves,
                show=run.show,
                say=run.say,
                writing=run.writing,
                stopper=run.stopper,
                warn=settings.warn,
                force=force,
                parallelism=parallelism,
                confirm=None if auto_approve else settings.confirm or ask_to_confirm,
                log_file=log_file,
            )
            ending = run.ending(result)
    except ReconcilerError as error:
        if not as_json:
            raise
        ending = error  # the error ends the run: it is the report
    if as_json:
        status = ExitCode.OK if ending is None else ending.exit_code
        error_text = (str(ending) or None) if ending is not None else None
        report = json.dumps(report_json(plan, result, status, error_text), indent=2)
        try:
            echo(report)
        except OutputClosed:
            # The report is the one place that says what was written: stderr takes it.
            echo(report, err=True)
            raise
    if ending is not None:
        raise ending


@dataclass
class _Run:
    """What core.apply asks of the command line: prints the plan, each write and the report, and
    turns the first signal into a stop."""

    client: BlandClient
    settings: Settings
    files: tuple[str, ...]
    log_file: str | None
    quiet: bool
    # The write lines' [n/N], counted on across the plan and its repair.
    count: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    total: int = 0

    def __post_init__(self) -> None:
        self.stopper = GracefulStop(self.on_signal, self.on_second)

    def show(self, plan: Plan) -> None:
        """The plan, as plan prints it (the JSON report carries it instead)."""
        if not self.quiet:
            print_plan(plan, "text", label(self.files), self.settings)

    def say(self, line: str) -> None:
        """A line on stdout; once stdout is closed, nothing new is sent (as on SIGINT)."""
        if STDOUT_CLOSED.is_set() or self.quiet:
            return
        try:
            echo(line)
        except OutputClosed:
            self.client.cancel()
            self.stopper.event.set()

    def on_signal(self, signum: int) -> None:
        self.client.cancel()
        tell(
            f"Received {self.stopper.signal_name}: finishing the writes in flight, then stopping "
            "(send it again to stop at once)."
        )

    def on_second(self, signum: int) -> NoReturn:
        listed = f" ({printable(self.log_file)} lists each write sent)" if self.log_file else ""
        tell(
            f"Stopping at once: a write in flight may or may not take effect{listed}; run plan "
            "to see what remains."
        )
        end_now(signum)

    @contextmanager
    def writing(self, plan: Plan) -> Iterator[OnWrite]:
        """One plan's writes: a progress bar on a terminal for many personas, else a line each
        (in a CI log, saying how far the run is)."""
        owners = len(set(plan.gains()) | set(plan.losses()))  # personas and agents
        total = len(plan.gains()) + len(plan.losses()) + len(plan.number_writes())
        self.total += total  # a repair's writes count on from the first plan's
        on_terminal = self.settings.stdout_is_terminal()
        show_bar = on_terminal and not self.quiet and owners >= self.settings.progress_min_personas
        bar = click.progressbar(length=total, label="Applying") if show_bar else nullcontext()
        with bar as shown:

            def on_write(write: Write) -> None:
                if write.outcome == "sent":
                    return
                # A refused attach's fallback adds writes the plan did not count: no total.
                n = next(self.count)
                if shown is not None:
                    shown.update(1)
                elif on_terminal:
                    self.say(describe(write))
                else:
                    head = f"[{n}/{self.total}]" if n <= self.total else f"[{n}]"
                    self.say(f"{head} {describe(write)}")

            yield on_write

    def ending(self, result: ApplyResult) -> ReconcilerError | None:
        """Reports what the writes did (on stderr once stdout is closed: the report is the one
        place that says what was written); what ends the run short of success, if anything."""
        if result.plans and not self.quiet:
            lines, last = report_text(
                result,
                costs(self.client),
                signal_name=self.stopper.signal_name,
                stdout_closed=STDOUT_CLOSED.is_set(),
            )
            for line in lines:
                try:
                    echo(line, err=STDOUT_CLOSED.is_set())
                except OutputClosed:
                    echo(line, err=True)
            if last is not None:
                echo(last, err=True)
        if result.stopped_by is not None:
            return result.stopped_by
        if self.stopper.signal_number is not None:
            return ReconcilerError(exit_code=ExitCode(128 + self.stopper.signal_number))
        return None if result.converged else ReconcilerError(exit_code=ExitCode.INCOMPLETE)
