"""`reconciler plan`: show what apply would change, and optionally save it for apply."""

from __future__ import annotations

from collections.abc import Sequence

import click

from reconciler.cli.app import (
    FILES,
    MASK_NUMBERS,
    PLAN_FORMAT,
    Settings,
    flag_safety,
    safety_options,
)
from reconciler.cli.output import echo, label, styler
from reconciler.errors import ChangesPending
from reconciler.files import refuse_overwriting
from reconciler.plan import Plan
from reconciler.planfile import config_sources, render_plan_file, write_plan_file
from reconciler.render import mask_numbers_in, masked, render_json, render_text
from reconciler.render_markdown import render_markdown
from reconciler.safety import Thresholds, assess
from reconciler.secrets import REDACTOR
from reconciler.workflow import plan_from_config, refuse_saved_plans


@click.command("plan")
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
@safety_options
@click.pass_obj
def plan_command(
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
    desired = settings.load_config(files)  # before any request: an invalid file sends nothing
    if out is not None:
        refuse_overwriting("--out", out, settings.inputs([*files, *desired.files], "config file"))
    with settings.client() as client:
        plan = plan_from_config(desired, client)
        api_base_url = client.base_url
    flags = flag_safety(max_detach_percent, min_numbers, allow_emptying)
    thresholds = Thresholds.resolve(plan.safety, flags)
    warnings = assess(plan, thresholds).warnings()
    if mask_numbers:
        warnings = [mask_numbers_in(warning) for warning in warnings]
    if out is not None:  # first: a plan file that cannot be written stops before any output
        document = render_plan_file(
            plan,
            thresholds=thresholds,
            api_base_url=api_base_url,
            config=config_sources(plan),
            redact=REDACTOR.clean,
        )
        write_plan_file(out, document)
    shown = masked(plan) if mask_numbers else plan
    print_plan(shown, output_format, label(files), warnings, settings.colour())
    if out is not None:
        note = f"Saved the plan to {out}. To apply exactly this plan: reconciler apply {out}"
        # Only text is for reading; json and markdown are documents other tools take verbatim.
        echo(note, err=output_format != "text")
    if detailed_exitcode and not plan.is_empty:
        raise ChangesPending()


def print_plan(
    plan: Plan, output_format: str, title: str, warnings: Sequence[str], colour: bool
) -> None:
    """The plan in a format: text (coloured if `colour`), json or markdown."""
    if output_format == "json":
        echo(render_json(plan), nl=False)
        for warning in warnings:
            echo(warning, err=True)
    elif output_format == "markdown":
        echo(render_markdown(plan, title, warnings=warnings, redact=REDACTOR.clean), nl=False)
    else:
        echo(render_text(plan, title, styler(colour), warnings), nl=False, colour=colour)
