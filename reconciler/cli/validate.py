"""`reconciler validate`: check config files offline."""

from __future__ import annotations

import click

from reconciler.cli.app import FILES, Settings
from reconciler.cli.output import echo, label
from reconciler.core import refuse_saved_plans


@click.command("validate")
@FILES
@click.pass_obj
def validate_command(settings: Settings, files: tuple[str, ...]) -> None:
    """Check config files offline: schema, phone numbers, duplicates. No key, no network."""
    refuse_saved_plans(files)
    desired = settings.load_config(files)
    numbers = sum(len(persona.numbers) for persona in desired.personas)
    echo(f"{label(files)}: valid ({len(desired.personas)} personas, {numbers} numbers)")
