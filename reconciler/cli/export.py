"""`reconciler export`: the live account's routing as a config file."""

from __future__ import annotations

import click

from reconciler.cli.app import echo, pass_settings
from reconciler.core import export_account
from reconciler.settings import Settings


@click.command("export")
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
