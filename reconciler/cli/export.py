"""`reconciler export`: the live account's routing as a config file."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.app import Settings
from reconciler.cli.output import echo
from reconciler.config import load_schema
from reconciler.export import (
    check_plans_clean,
    exported_personas,
    labels_too_long,
    render_export,
    unread_numbers,
)
from reconciler.files import refuse_overwriting, write_atomic
from reconciler.owner_reads import read_account


@click.command("export")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Write the config to this file (atomically) instead of printing it.",
)
@click.pass_obj
def export_command(settings: Settings, out: str | None) -> None:
    """Write the live account's routing as a config file, to adopt the tool on an account.

    Lists every active persona that has numbers, by id and name; planning the result shows no
    changes. Soft-deleted personas and personas without numbers are left out.
    """
    if out is not None:
        refuse_overwriting("--out", out, settings.inputs((), ""))
    with settings.client() as client:
        # A number moved while the list was read shows on two personas: read those by id.
        live = read_account(client)
    text = render_export(live, str(load_schema()["$id"]))
    check_plans_clean(text, live)
    personas = exported_personas(live)
    counts = f"{len(personas)} personas, {sum(len(p.numbers) for p in personas)} numbers"
    unread = unread_numbers(live)
    if unread:
        echo(
            f"warning: the API listed {unread} of these numbers without their settings or "
            "label: they are exported without them, and the config leaves them as they are",
            err=True,
        )
    too_long = labels_too_long(live)
    if too_long:
        echo(
            f"warning: {too_long} of these numbers have a label longer than a config may hold "
            "(150 characters, an emoji counting as two): they are exported without it, and "
            "the config leaves it as it is",
            err=True,
        )
    if out is None:
        echo(text, nl=False)
        return
    write_atomic(Path(out), text)
    echo(f"{out}: exported {counts}", err=True)
