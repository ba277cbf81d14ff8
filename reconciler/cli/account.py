"""The commands that read the account whole: `reconciler export` writes its routing as a config
file; `reconciler doctor` checks, read-only, that it behaves as this tool assumes."""

from __future__ import annotations

import json
import os

import click

from reconciler.cli.app import cli, echo, format_option, pass_settings
from reconciler.core import export_account
from reconciler.doctor import run_doctor
from reconciler.errors import ReconcilerError
from reconciler.secrets import key_source
from reconciler.settings import Settings


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
