"""`reconciler validate`: check config files offline."""

from __future__ import annotations

import dataclasses
import json
from typing import cast

import click

from reconciler.cli.app import FILES, echo, label, pass_settings
from reconciler.errors import AlreadyReported, ConfigError, Diagnostic
from reconciler.model import Desired
from reconciler.settings import Settings


@click.command("validate")
@FILES
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="How to print the problems: json (a list on stdout), github (workflow annotations).",
)
@pass_settings
def validate_command(settings: Settings, files: tuple[str, ...], output_format: str) -> None:
    """Check config files offline: schema, phone numbers, duplicates. No key, no network."""
    try:
        desired = cast(Desired, settings.read_inputs(files))
    except ConfigError as error:
        if output_format == "text":
            raise
        _print_problems(error.diagnostics, output_format)
        raise AlreadyReported() from None
    if output_format == "json":
        echo("[]")
        return
    numbers = sum(len(persona.numbers) for persona in desired.personas)
    echo(f"{label(files)}: valid ({len(desired.personas)} personas, {numbers} numbers)")


# GitHub's escaping of a workflow command: %, CR and LF in the message; `:` and `,` too in a
# property (the file).
_MESSAGE = str.maketrans({"%": "%25", "\r": "%0D", "\n": "%0A"})
_PROPERTY = str.maketrans({"%": "%25", "\r": "%0D", "\n": "%0A", ":": "%3A", ",": "%2C"})


def _print_problems(problems: tuple[Diagnostic, ...], output_format: str) -> None:
    if output_format == "json":
        echo(json.dumps([dataclasses.asdict(problem) for problem in problems], indent=2))
        return
    for problem in problems:
        where = f"file={problem.file.translate(_PROPERTY)},line={problem.line},col={problem.column}"
        echo(f"::error {where}::{problem.message.translate(_MESSAGE)}")
