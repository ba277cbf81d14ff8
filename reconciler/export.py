"""Write the live account as a config file, so a team can adopt the tool from where it stands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from functools import cache
from typing import Any

from reconciler.config import MAX_LABEL, load_config_sources, load_schema
from reconciler.errors import ConfigError, InputError, ReconcilerError
from reconciler.model import (
    SETTING_KEYS,
    Live,
    LivePersona,
    RoutingSettings,
    owner_id,
    owner_kind,
    owner_words,
)
from reconciler.planner import build_plan
from reconciler.secrets import REDACTOR

# How many numbers an export warning names.
NAMED_NUMBERS = 5


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar: a JSON string is one, and it never reads as a number."""
    return json.dumps(text, ensure_ascii=False)


def exported_personas(live: Live) -> list[LivePersona]:
    """Active personas and agents that hold numbers, by name then id; a number on two of them
    is an error.

    Such a number cannot be written into a valid file (a number appears once), and whichever
    persona the file gave it to, the first plan would show a move.
    """
    owners = live.owners()
    shared = {number: ids for number, ids in owners.items() if len(ids) > 1}
    if shared:
        number, ids = min(shared.items())
        names = ", ".join(f"{live.personas[i].name!r} ({i})" for i in ids)
        more = f" and {len(shared) - 1} more numbers" if len(shared) > 1 else ""
        raise InputError(
            f"{number}{more} is attached to several personas ({names}): attach it to one "
            "of them in the dashboard, then export again"
        )
    # A number GET /v1/inbound does not show cannot be in a valid config (see left_out).
    held = [replace(owner, numbers=owner.numbers & live.account_numbers) for owner in _named(live)]
    return sorted(
        (owner for owner in held if owner.numbers), key=lambda owner: (owner.name, owner.id)
    )


def _named(live: Live) -> list[LivePersona]:
    """The active owners a config can name: personas, and agents GET /v2/agents lists."""
    return [
        owner
        for owner in live.active()
        if owner_kind(owner.id) != "agent" or owner_id(owner.id) in live.agents
    ]


def unlisted_agents(live: Live) -> list[str]:
    """Ids of agents that hold numbers (their twins are tagged so) but GET /v2/agents does not
    list: deleted, or past the 500 it lists. Export leaves their numbers out."""
    named = {owner.id for owner in _named(live)}
    held = [owner for owner in live.active() if owner.numbers and owner.id not in named]
    return sorted(owner_id(owner.id) for owner in held)


def left_out(live: Live) -> list[str]:
    """Warnings for numbers GET /v1/inbound does not show (it may spell one as no phone number),
    and for the agents GET /v2/agents may leave out when it comes back full."""
    off_account = sorted(
        (number, owner_words(owner.id, owner.name))
        for owner in _named(live)
        for number in owner.numbers - live.account_numbers
    )
    warnings = [
        f"warning: {number} (on {owner}) is left out: GET /v1/inbound does not show it as a "
        "number of this account, so a config cannot name it; the config leaves it as it is"
        for number, owner in off_account
    ]
    if live.agents_incomplete:
        warnings.append(
            "warning: GET /v2/agents came back full (500 agents, the most it lists): the "
            "numbers of agents past those 500 may be left out; add such an agent by id under "
            "`agents:` to manage its numbers"
        )
    return warnings


def render_export(live: Live, schema_url: str) -> str:
    """The live routing as a config file (format 1) that plans with no changes."""
    lines = [
        f"# yaml-language-server: $schema={schema_url}",
        "#",
        "# Exported from the live account by `reconciler export`. Every persona and agent listed",
        "# here is managed: after `reconciler apply` it has exactly the numbers listed under it.",
        "# Those with no numbers are not listed; add one to manage it.",
        "version: 1",
    ]
    held = exported_personas(live)
    for kind, key in (("persona", "personas"), ("agent", "agents")):
        owners = [owner for owner in held if owner_kind(owner.id) == kind]
        if not owners:
            if kind == "persona":
                lines.append("personas: []")  # the schema wants the list, agents: is optional
            continue
        lines.append(f"{key}:")
        for owner in owners:
            lines.append(f"  - id: {_quoted(owner_id(owner.id))}")
            if owner.name:  # the schema wants a non-empty name; the id alone is enough
                lines.append(f"    name: {_quoted(owner.name)}")
            lines.append("    numbers:")
            for number in sorted(owner.numbers):
                lines.extend(_number_lines(owner, number))
    return "\n".join(lines) + "\n"


def _number_lines(owner: LivePersona, number: str) -> list[str]:
    """A number as a plain string, or as a mapping when it has settings or a label."""
    label, settings = _kept(owner, number)
    if label is None and settings is None:
        return [f"      - {_quoted(number)}"]
    lines = [f"      - number: {_quoted(number)}"]
    if label is not None:
        lines.append(f"        label: {_quoted(label)}")
    if settings is not None:
        # Only the known keys, in their order: settings with any other are not kept.
        value = settings.as_dict()
        lines.append("        settings:")
        lines += [f"          {key}: {_quoted(value[key])}" for key in SETTING_KEYS if key in value]
    return lines


@cache
def _settings_check() -> Any:
    """A validator of the config schema's `settings` of a number: the one definition of them."""
    import jsonschema  # here: only an export needs it, and importing it costs every command ~50 ms

    schema = load_schema()["$defs"]["numberMapping"]["properties"]["settings"]
    return jsonschema.validators.validator_for(schema)(schema)


def _kept(owner: LivePersona, number: str) -> tuple[str | None, RoutingSettings | None]:
    """The number's label and settings as exported: a value the listing did not show, or that
    a config cannot hold (a label over 150 characters or UTF-16 units, settings the config
    schema refuses), is left out, and the entry then leaves it as it is."""
    label = owner.labels.get(number)
    if not label or max(len(label), len(label.encode("utf-16-le")) // 2) > MAX_LABEL:
        label = None
    settings = owner.settings.get(number)
    if settings is not None and not _settings_check().is_valid(settings.as_dict()):
        settings = None
    return label, settings


def _exported(live: Live) -> Iterator[tuple[LivePersona, str, str | None, RoutingSettings | None]]:
    """Each exported number, with its owner, and its label and settings as exported."""
    for owner in exported_personas(live):
        for number in owner.numbers:
            yield owner, number, *_kept(owner, number)


def settings_left_out(live: Live) -> list[str]:
    """The exported numbers whose settings a config cannot hold; export leaves them out.

    Left out, the settings stay as they are; written, the export would not load as a config.
    """
    exported = _exported(live)
    return sorted(n for owner, n, _, kept in exported if owner.settings.get(n) and kept is None)


def labels_too_long(live: Live) -> int:
    """How many labels the account holds that are too long for a config; export leaves them out."""
    return sum(1 for owner, n, kept, _ in _exported(live) if owner.labels.get(n) and kept is None)


def unread_numbers(live: Live) -> int:
    """How many exported numbers the listing gave without their settings or label (an agent's
    numbers have no persona settings)."""
    return sum(
        1
        for owner, number, _, _ in _exported(live)
        if number not in owner.labels
        or (owner_kind(owner.id) == "persona" and number not in owner.settings)
    )


def check_plans_clean(text: str, live: Live) -> None:
    """Read an export back as a config and plan it against the same account: it must be clean.

    This holds the promise of export (plan shows no changes) whatever the account holds.
    """
    try:
        leftover = build_plan(load_config_sources([("the export", text.encode("utf-8"))]), live)
    except ConfigError as error:
        raise ReconcilerError(f"the export is not a valid config: {error}") from None
    if not leftover.is_empty:
        raise ReconcilerError(f"the export would not plan clean: {leftover.summary_line()}")


def export_warnings(live: Live, text: str) -> list[str]:
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
    tallies = [
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
    warnings += [f"warning: {words.format(count)}" for count, words in tallies if count]
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
