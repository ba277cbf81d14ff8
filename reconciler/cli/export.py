"""`reconciler export`: the live account's routing as a config file."""

from __future__ import annotations

import os
from pathlib import Path

import click

from reconciler.cli.app import pass_settings
from reconciler.cli.output import echo
from reconciler.core import export_account
from reconciler.errors import InputError
from reconciler.files import refuse_overwriting, write_atomic
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
    exists = (
        f"--out {out} exists: refusing to replace it (nothing was written; "
        "pass --force to replace it)"
    )
    if out is not None:
        refuse_overwriting("--out", out, settings.inputs((), ""))
        if os.path.lexists(out) and not force:
            raise InputError(exists)
    with settings.client() as client:
        text, exported, warnings = export_account(client)
    for warning in warnings:
        echo(warning, err=True)
    if out is None:
        echo(text, nl=False)
        return
    write_atomic(Path(out), text, if_exists=None if force else exists)
    echo(f"{out}: exported {exported}", err=True)
