"""`reconciler doctor`: read-only checks that the account behaves as this tool assumes."""

from __future__ import annotations

import json

import click

from reconciler.cli.app import echo, pass_settings
from reconciler.doctor import run_doctor
from reconciler.errors import AlreadyReported
from reconciler.settings import Settings


@click.command("doctor")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="How to print the checks.",
)
@pass_settings
def doctor_command(settings: Settings, output_format: str) -> None:
    """Check, with GET requests only, that the account behaves as this tool assumes.

    Checks the key, the paging of the persona listing, GET /v1/inbound, the response shapes,
    whether the two sources of ownership agree, and how v2 agents and their numbers can be read.
    Exits 1 when any check fails.
    """
    base_url = settings.base_url()
    report = run_doctor(settings.client, settings.key_source())
    if output_format == "json":
        echo(json.dumps(report.to_json(), indent=2))
    else:
        echo(report.to_text(base_url))
    if report.failed:
        raise AlreadyReported()
