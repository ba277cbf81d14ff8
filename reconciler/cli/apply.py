"""`reconciler apply`: show the plan, make exactly its calls, verify, and report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass

import click

from reconciler.api import BlandClient
from reconciler.apply import ApplyResult, Write, apply_plan
from reconciler.auditlog import AuditLog
from reconciler.cli.app import FILES, Seams, Settings, flag_safety, safety_options
from reconciler.cli.output import echo, label, report_apply, stdout_closed, styler
from reconciler.errors import ApplyIncomplete, ApplyInterrupted, OutputClosed
from reconciler.files import refuse_overwriting
from reconciler.interrupts import GracefulStop
from reconciler.model import (
    Desired,
    LivePersona,
    RoutingSettings,
    SafetySettings,
    SeenLabel,
    SeenSettings,
)
from reconciler.plan import Plan
from reconciler.planfile import read_plan_file
from reconciler.render import render_text
from reconciler.safety import Thresholds, assess
from reconciler.text import printable
from reconciler.workflow import check_unchanged, plan_from_config, plan_from_saved, saved_plan_among


@dataclass(frozen=True)
class _ApplyOptions:
    """The apply command's own options."""

    auto_approve: bool
    parallelism: int
    log_file: str | None
    force: bool
    safety: SafetySettings


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
@safety_options
@click.pass_obj
def apply_command(
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
    safety = flag_safety(max_detach_percent, min_numbers, allow_emptying)
    options = _ApplyOptions(auto_approve, parallelism, log_file, force, safety)
    saved_path = saved_plan_among(files)
    if saved_path is None:
        desired = settings.load_config(files)  # before any request: an invalid file sends nothing
        _refuse_logging_over(options, settings.inputs([*files, *desired.files], "config file"))
        with settings.client() as client:
            plan = plan_from_config(desired, client)
            _show_and_apply(plan, desired, client, label(files), settings, options)
        return
    # Read before the key or any request: an altered file sends nothing.
    saved = read_plan_file(saved_path)
    _refuse_logging_over(options, settings.inputs(files, "plan file"))
    with settings.client() as client:
        plan = plan_from_saved(saved, client)
        if plan.is_empty and not saved.plan.is_empty:
            echo(f"{saved_path} has already been applied: the account is as it leaves it.")
        # A saved plan was reviewed when it was made: it is applied without asking again.
        _show_and_apply(plan, None, client, label(files), settings, options)


def _refuse_logging_over(options: _ApplyOptions, inputs: dict[str, str]) -> None:
    if options.log_file is not None:
        refuse_overwriting("--log-file", options.log_file, inputs)


def _show_and_apply(
    plan: Plan,
    desired: Desired | None,
    client: BlandClient,
    title: str,
    settings: Settings,
    options: _ApplyOptions,
) -> None:
    """Show the plan, enforce the valves, confirm, write, report; raise how the apply ended."""
    assessment = assess(plan, Thresholds.resolve(plan.safety, options.safety))
    colour = settings.colour()
    echo(render_text(plan, title, styler(colour), assessment.warnings()), nl=False, colour=colour)
    if plan.is_empty:
        return
    for valve in assessment.enforce(force=options.force):  # raises UnsafePlan before any write
        echo(f"note: --force given: applying although {valve}")
    if not options.auto_approve and desired is not None:
        settings.seams.confirm()
        check_unchanged(plan, plan_from_config(desired, client))
    client.set_write_parallelism(options.parallelism)
    # Opened before the first write, so a bad path stops the run with nothing written.
    audit = AuditLog(options.log_file) if options.log_file else None
    if audit is not None and audit.warning is not None:
        echo(audit.warning, err=True)
    try:
        result, stopper = _send_writes(plan, client, options.parallelism, audit, settings.seams)
    finally:
        if audit is not None:
            audit.close()
    interrupted_by = stopper.signal_name if stopper.signal_number is not None else None
    report_apply(plan, result, client, interrupted_by)
    if result.stopped_by is not None:
        raise result.stopped_by
    if stopper.signal_number is not None:
        raise ApplyInterrupted(stopper.signal_number)
    if not result.converged:
        raise ApplyIncomplete()


def _send_writes(
    plan: Plan, client: BlandClient, parallelism: int, audit: AuditLog | None, seams: Seams
) -> tuple[ApplyResult, GracefulStop]:
    """Run the writes under a graceful stop, with a progress bar or one line per write."""

    def on_signal(signum: int) -> None:
        client.cancel()
        echo(
            f"Received {stopper.signal_name}: finishing the writes in flight, then stopping "
            "(send it again to stop at once).",
            err=True,
        )

    def on_second(signum: int) -> None:
        echo(
            "Stopping at once: a write in flight may or may not take effect"
            + (f" ({audit.path} lists each write sent)" if audit is not None else "")
            + "; run plan to see what remains.",
            err=True,
        )

    def report(line: str) -> None:
        """A line per write on stdout; once stdout is closed, nothing new is sent (as on SIGINT)."""
        if stdout_closed():
            return
        try:
            echo(line)
        except OutputClosed:
            client.cancel()
            stopper.event.set()

    writer = client if audit is None else _AuditedWrites(client, audit, plan.persona_names())
    personas = len(set(plan.gains()) | set(plan.losses()))
    total_writes = len(plan.gains()) + len(plan.losses()) + len(plan.number_writes())
    with GracefulStop(on_signal, on_second) as stopper:
        if seams.stdout_is_terminal() and personas >= seams.progress_min_personas:
            with click.progressbar(length=total_writes, label="Applying") as bar:

                def on_write(write: Write) -> None:
                    if audit is not None:
                        audit.record(write)
                    bar.update(1)

                result = apply_plan(
                    plan,
                    writer,
                    report=lambda _line: None,
                    parallelism=parallelism,
                    stop=stopper.event,
                    on_write=on_write,
                )
        else:
            result = apply_plan(
                plan,
                writer,
                report=report,
                parallelism=parallelism,
                stop=stopper.event,
                on_write=audit.record if audit is not None else None,
            )
    return result, stopper


class _AuditedWrites:
    """The client as apply_plan sees it, with a `sent` line in the log before each write goes.

    The line is written as the write is handed to the client; a client already stopped sends
    nothing more, and such a write gets only its `skipped` line.
    """

    def __init__(self, client: BlandClient, audit: AuditLog, names: Mapping[str, str]) -> None:
        self._client = client
        self._audit = audit
        self._names = names

    def _sent(self, action: str, persona_id: str, numbers: list[str]) -> None:
        if not self._client.cancelled:
            name = printable(self._names.get(persona_id, persona_id))
            self._audit.sent(persona_id, name, action, numbers)

    def attach(self, persona_id: str, numbers: Iterable[str]) -> LivePersona:
        listed = list(numbers)
        self._sent("attach", persona_id, listed)
        return self._client.attach(persona_id, listed)

    def detach(self, persona_id: str, numbers: Iterable[str]) -> LivePersona:
        listed = list(numbers)
        self._sent("detach", persona_id, listed)
        return self._client.detach(persona_id, listed)

    def update_settings(
        self, persona_id: str, number: str, settings: RoutingSettings | None
    ) -> SeenSettings:
        self._sent("settings", persona_id, [number])
        return self._client.update_settings(persona_id, number, settings)

    def update_label(self, number: str, label: str, *, persona_id: str | None = None) -> SeenLabel:
        self._sent("label", persona_id or "", [number])
        return self._client.update_label(number, label, persona_id=persona_id)

    def get_persona(self, persona_id: str) -> LivePersona:
        return self._client.get_persona(persona_id)

    def list_inbound(self) -> dict[str, str | None]:
        return self._client.list_inbound()

    def list_personas(self, pages_hint: int = 0) -> tuple[dict[str, LivePersona], int]:
        return self._client.list_personas(pages_hint)

    def list_account_numbers(self) -> frozenset[str]:
        return self._client.list_account_numbers()

    def uninterruptible(self) -> AbstractContextManager[None]:
        return self._client.uninterruptible()
