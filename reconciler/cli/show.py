"""`reconciler show`: print a plan saved by `plan --out`, as plan printed it, offline."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.app import MASK_NUMBERS, PLAN_FORMAT, Settings, pass_settings
from reconciler.cli.output import echo, label
from reconciler.cli.plan import print_plan
from reconciler.errors import InputError, StalePlan
from reconciler.planfile import SavedPlan, is_plan_file, read_plan_file
from reconciler.render import masked
from reconciler.text import printable


@click.command("show")
@click.argument("planfile", type=click.Path(dir_okay=False, readable=False))
@PLAN_FORMAT
@MASK_NUMBERS
@pass_settings
def show_command(settings: Settings, planfile: str, output_format: str, mask_numbers: bool) -> None:
    """Print a plan saved by plan --out, without applying it (no key, no request).

    The plan is as it was when saved, warnings included; apply plans again and checks that the
    account still gives exactly this plan before writing, and checks the file's signature.
    """
    saved = _read(planfile)
    plan = masked(saved.plan) if mask_numbers else saved.plan
    # The file's own strings are shown as data: a crafted file cannot fake lines of output.
    title = printable(label(saved.config_files) or planfile)
    if output_format == "text":
        echo(
            f"Plan saved in {printable(planfile)} by reconciler {printable(saved.tool_version)}, "
            f"for {printable(saved.api_base_url)}:\n"
        )
    print_plan(plan, output_format, title, settings)
    if output_format == "text" and not plan.is_empty:
        echo(
            "Apply checks the plan and its safety valves against the account before writing:\n"
            f"  reconciler apply {printable(planfile)}"
        )


def _read(planfile: str) -> SavedPlan:
    """The saved plan; a clear error for a missing file, a config file or an altered plan."""
    path = Path(planfile)
    if not path.exists():
        raise InputError(f"{planfile}: no such file")
    if not path.is_file():  # a FIFO or a device: never wait on it or read it without end
        raise InputError(f"{planfile}: not a regular file (plan --out saves a plan file)")
    if not is_plan_file(planfile):
        raise InputError(
            f"{planfile}: not a plan file (plan --out PLANFILE saves one); "
            f"to see what config files would change: reconciler plan {planfile}"
        )
    try:
        return read_plan_file(planfile, None)
    except StalePlan as error:
        # Nothing is applied here, so an unreadable plan is an error, not a refused apply.
        raise InputError(str(error)) from None
