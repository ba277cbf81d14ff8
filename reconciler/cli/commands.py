"""The commands that change nothing on the account: validate, plan (which may save the plan for
apply), show (a saved plan), export and doctor."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from typing import Any, cast

import click

from reconciler.cli.app import (
    FILES,
    cli,
    echo,
    format_option,
    label,
    pass_settings,
    plan_options,
)
from reconciler.core import export_account, plan_config
from reconciler.doctor import run_doctor
from reconciler.errors import ConfigError, ExitCode, ReconcilerError, Refused
from reconciler.model import Desired
from reconciler.plan import Plan
from reconciler.planfile import read_saved_plan
from reconciler.render import mask_numbers_in, plan_document, render_markdown, render_text
from reconciler.safety import refusal
from reconciler.secrets import REDACTOR, key_source
from reconciler.settings import Settings
from reconciler.text import printable

PLAN_FORMAT = format_option(
    "json", "markdown", help="How to print the plan (markdown: for a pull-request comment)."
)
MASK_NUMBERS = click.option(
    "--mask-numbers",
    is_flag=True,
    help="Show only the last four digits of each number (for public repositories).",
)


@cli.command("validate")
@FILES
@format_option(
    "json",
    "github",
    help="How to print the problems: json (a list on stdout), github (workflow annotations).",
)
@pass_settings
def validate_command(settings: Settings, files: tuple[str, ...], output_format: str) -> None:
    """Check config files offline: schema, phone numbers, duplicates. No key, no network."""
    try:
        desired = cast(Desired, settings.read_inputs(files))
    except ConfigError as error:
        problems = error.diagnostics
        if output_format == "text":
            raise
        if output_format == "json":
            echo(json.dumps([dataclasses.asdict(problem) for problem in problems], indent=2))
        else:  # GitHub workflow annotations
            for problem in problems:
                where = f"file={problem.file.translate(_PROPERTY)},line={problem.line}"
                echo(f"::error {where},col={problem.column}::{problem.message.translate(_MESSAGE)}")
        raise ReconcilerError() from None
    if output_format == "json":
        echo("[]")
        return
    numbers = sum(len(persona.numbers) for persona in desired.personas)
    echo(f"{label(files)}: valid ({len(desired.personas)} personas, {numbers} numbers)")


# GitHub's escaping of a workflow command's message and of a property (the file).
_MESSAGE = str.maketrans({"%": "%25", "\r": "%0D", "\n": "%0A"})
_PROPERTY = str.maketrans({"%": "%25", "\r": "%0D", "\n": "%0A", ":": "%3A", ",": "%2C"})


@cli.command("plan")
@FILES
@PLAN_FORMAT
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on error.",
)
@MASK_NUMBERS
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Also save the plan to this file; `apply PLANFILE` applies exactly it.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Plan as apply --force would: a safety valve warns but does not refuse the plan.",
)
@plan_options
@pass_settings
def plan_command(
    settings: Settings,
    files: tuple[str, ...],
    output_format: str,
    detailed_exitcode: bool,
    mask_numbers: bool,
    out: str | None,
    force: bool,
    targets: tuple[str, ...],
    **valves: Any,
) -> None:
    """Show what apply would change, reading the live account (writes nothing).

    Exits 3, after printing the plan, when apply would refuse it (a safety valve without
    --force, or a protected number).
    """
    plan = plan_config(settings, files, targets, valves, force=force, out=out)
    print_plan(plan, output_format, label(files), settings, mask=mask_numbers)
    if out is not None:
        note = f"Saved the plan to {out}. To apply exactly this plan: reconciler apply {out}"
        # Only text is for reading; json and markdown are documents other tools take verbatim.
        echo(note, err=output_format != "text")
    reason = refusal(plan)
    if reason is not None:
        shown = mask_numbers_in(reason) if mask_numbers else reason
        raise Refused(f"apply would refuse this plan: {shown}")
    if detailed_exitcode and not plan.is_empty:
        raise ReconcilerError(exit_code=ExitCode.CHANGES)


def print_plan(
    plan: Plan, output_format: str, title: str, settings: Settings, *, mask: bool = False
) -> None:
    """The plan in a format: text (coloured where the settings say), json or markdown; with
    `mask`, every number in what is printed shows only its last four digits."""
    shown: Callable[[str], str] = mask_numbers_in if mask else str
    if output_format == "json":
        echo(shown(json.dumps(plan_document(plan), indent=2)))
        for warning in plan.warnings():
            echo(shown(warning), err=True)
    elif output_format == "markdown":
        # Masked before Markdown escapes the text, as secrets are redacted: `****` is escaped.
        markdown = render_markdown(plan, title, redact=lambda text: shown(REDACTOR.clean(text)))
        echo(markdown, nl=False)
    elif settings.colour():
        echo(shown(render_text(plan, title, _style)), nl=False, colour=True)
    else:
        echo(shown(render_text(plan, title)), nl=False)


def _style(text: str, name: str) -> str:
    return click.style(text, bold=True) if name == "bold" else click.style(text, fg=name)


@cli.command("show")
@click.argument("planfile", type=click.Path(dir_okay=False, readable=False))
@PLAN_FORMAT
@MASK_NUMBERS
@pass_settings
def show_command(settings: Settings, planfile: str, output_format: str, mask_numbers: bool) -> None:
    """Print a plan saved by plan --out, without applying it (no key, no request).

    The plan is as it was when saved, warnings included; apply plans again and checks that the
    account still gives exactly this plan before writing, and checks the file's signature.
    """
    saved = read_saved_plan(planfile)
    # The file's own strings are shown as data: a crafted file cannot fake lines of output.
    title = printable(label(saved.desired.files) or planfile)
    if output_format == "text":
        echo(
            f"Plan saved in {printable(planfile)} by reconciler {printable(saved.tool_version)}, "
            f"for {printable(saved.api_base_url)}:\n"
        )
    print_plan(saved.plan, output_format, title, settings, mask=mask_numbers)
    if output_format == "text" and not saved.plan.is_empty:
        echo(
            "Apply checks the plan and its safety valves against the account before writing:\n"
            f"  reconciler apply {printable(planfile)}"
        )


@cli.command("export")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Write the config to this file (atomically, mode 0600) instead of printing it. "
    "An existing file is replaced only with --force.",
)
@click.option("--force", is_flag=True, help="Replace the --out file if it exists.")
@pass_settings
def export_command(settings: Settings, out: str | None, force: bool) -> None:
    """Write the live account's routing as a config file, to adopt the tool on an account.

    Lists every active persona that has numbers, by id and name; planning the result shows no
    changes. Soft-deleted personas and personas without numbers are left out.
    """
    text, exported = export_account(settings, out, force=force)
    if out is None:
        echo(text, nl=False)
    else:
        echo(f"{out}: exported {exported}", err=True)


@cli.command("doctor")
@format_option("json", help="How to print the checks.")
@pass_settings
def doctor_command(settings: Settings, output_format: str) -> None:
    """Check, with GET requests only, that the account behaves as this tool assumes.

    Checks the key, the paging of the persona listing, GET /v1/inbound, the response shapes,
    whether the two sources of ownership agree, and how v2 agents and their numbers can be read.
    Exits 1 when any check fails.
    """
    base_url = settings.base_url()
    report = run_doctor(settings.client, key_source(settings.api_key_file, os.environ))
    if output_format == "json":
        echo(json.dumps(report.to_json(), indent=2))
    else:
        echo(report.to_text(base_url))
    if report.failed:
        raise ReconcilerError()
