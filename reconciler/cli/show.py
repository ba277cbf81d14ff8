"""`reconciler show`: print a plan saved by `plan --out`, as plan printed it, offline."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.app import MASK_NUMBERS, PLAN_FORMAT, Settings
from reconciler.cli.output import echo, label
from reconciler.cli.plan import print_plan
from reconciler.errors import InputError, StalePlan
from reconciler.plan import Action, Plan
from reconciler.planfile import SavedPlan, is_plan_file, read_plan_file
from reconciler.render import mask_numbers_in, masked
from reconciler.safety import Assessment, Thresholds, assess
from reconciler.text import printable


@click.command("show")
@click.argument("planfile", type=click.Path(dir_okay=False, readable=False))
@PLAN_FORMAT
@MASK_NUMBERS
@click.pass_obj
def show_command(settings: Settings, planfile: str, output_format: str, mask_numbers: bool) -> None:
    """Print a plan saved by plan --out, without applying it (no key, no request).

    The plan is as it was when saved; apply checks it against the account before writing.
    """
    saved = _read(planfile)
    plan = saved.plan
    warnings = _warnings(plan)
    if mask_numbers:
        plan = masked(plan)
        warnings = [mask_numbers_in(warning) for warning in warnings]
    # The file's own strings are shown as data: a crafted file cannot fake lines of output.
    title = printable(label([source.path for source in saved.config]) or planfile)
    if output_format == "text":
        echo(
            f"Plan saved in {printable(planfile)} by reconciler {printable(saved.tool_version)}, "
            f"for {printable(saved.api_base_url)}:\n"
        )
    print_plan(plan, output_format, title, warnings, settings.colour())
    if output_format == "text" and not plan.is_empty:
        echo(
            "Apply checks the plan and its safety valves against the account before writing:\n"
            f"  reconciler apply {printable(planfile)}"
        )


def _warnings(plan: Plan) -> list[str]:
    """The safety lines plan printed, as far as the plan file can tell them.

    Protected numbers depend on the changes alone. The valves count the numbers on every
    persona the plan takes numbers from; the file records them for the managed personas only,
    so when the plan takes numbers from another persona the valves are left to apply, which
    checks them against the account.
    """
    assessment = assess(plan, Thresholds.resolve(plan.safety))
    managed = {persona.id for persona in plan.managed}
    takes_from = {
        change.from_persona_id if change.action is Action.MOVE else change.persona_id
        for change in plan.changes
        if change.action is not Action.ATTACH
    }
    if takes_from <= managed:
        return assessment.warnings()
    return Assessment(protected=assessment.protected).warnings()


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
        return read_plan_file(planfile)
    except StalePlan as error:
        # Nothing is applied here, so an unreadable plan is an error, not a refused apply.
        raise InputError(str(error)) from None
