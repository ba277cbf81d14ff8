"""`reconciler export`: the live account's routing as a config file."""

from __future__ import annotations

import os
from pathlib import Path

import click

from reconciler.cli.app import Settings, pass_settings
from reconciler.cli.output import echo
from reconciler.config import load_schema
from reconciler.errors import InputError
from reconciler.export import (
    check_plans_clean,
    exported_personas,
    labels_too_long,
    left_out,
    render_export,
    settings_left_out,
    unlisted_agents,
    unread_numbers,
)
from reconciler.files import refuse_overwriting, write_atomic
from reconciler.model import Live, owner_kind
from reconciler.owner_reads import read_account
from reconciler.secrets import REDACTOR

# Numbers named in one warning line; the rest are counted.
NAMED_NUMBERS = 5


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
        # A number moved while the list was read shows on two personas: read those by id.
        live = read_account(client)
    text = render_export(live, str(load_schema()["$id"]))
    check_plans_clean(text, live)
    for warning in _warnings(live, text):
        echo(warning, err=True)
    if out is None:
        echo(text, nl=False)
        return
    write_atomic(Path(out), text, if_exists=None if force else exists)
    owners = exported_personas(live)
    agents = sum(1 for owner in owners if owner_kind(owner.id) == "agent")
    numbers = sum(len(owner.numbers) for owner in owners)
    held_by = f"{len(owners) - agents} personas, " + (f"{agents} agents, " if agents else "")
    echo(f"{out}: exported {held_by}{numbers} numbers", err=True)


def _warnings(live: Live, text: str) -> list[str]:
    """What the export leaves out, and why: each left as it is by the config."""
    warnings = [
        f"warning: agent {live.agents[agent].name!r} ({agent}) is left out: which numbers it "
        "holds cannot be read (its hidden persona is not listed, cannot be read by id, and "
        "GET /v1/inbound names no owners)"
        for agent in sorted(live.unverifiable)
    ]
    warnings += [
        f"warning: agent {agent} is left out: its hidden persona holds numbers, but GET "
        "/v2/agents does not list it (deleted, or past the 500 it lists); add it by id under "
        "`agents:` to manage its numbers"
        for agent in unlisted_agents(live)
    ]
    warnings += left_out(live)
    counted = [
        (
            unread_numbers(live),
            "the API listed {} of these numbers without their settings or label: they are "
            "exported without them, and the config leaves them as they are",
        ),
        (
            labels_too_long(live),
            "{} of these numbers have a label longer than a config may hold (150 characters, "
            "an emoji counting as two): they are exported without it, and the config leaves it "
            "as it is",
        ),
    ]
    warnings += [f"warning: {words.format(count)}" for count, words in counted if count]
    odd = settings_left_out(live)
    if odd:
        more = f" and {len(odd) - NAMED_NUMBERS} more" if len(odd) > NAMED_NUMBERS else ""
        warnings.append(
            f"warning: {', '.join(odd[:NAMED_NUMBERS])}{more}: settings a config cannot hold (a "
            "key other than pathway_id, pathway_version and start_node_id, a version that is "
            "not a whole number, or no pathway_id): exported without them, and the config "
            "leaves them as they are"
        )
    if REDACTOR.clean(text) != text:
        warnings.append(
            "warning: the account's text holds the API key, or a long run of it: the export "
            "shows *** in its place, and will not plan clean until that text is changed"
        )
    return warnings
