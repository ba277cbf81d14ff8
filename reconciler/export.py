"""Write the live account as a config file, so a team can adopt the tool from where it stands."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import cache
from operator import attrgetter
from typing import Any

from reconciler.config.load import load_config_sources
from reconciler.config.schema import MAX_LABEL, load_schema
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
from reconciler.text import and_more


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar: a JSON string is one, and it never reads as a number."""
    return json.dumps(text, ensure_ascii=False)


def export_config(live: Live) -> tuple[str, list[str], str]:
    """The config file (format 1) of the owners a config can name that hold numbers of the
    account, by name then id, checked to plan with no changes; the warnings of what it leaves
    out, and why; and what it holds (`N personas, N numbers`)."""
    # A number on two is an error: a file names it once, and the first plan would show a move.
    if shared := live.seen_twice:
        number, ids = min(shared.items())
        names = ", ".join(f"{live.personas[i].name!r} ({i})" for i in ids)
        more = f" and {len(shared) - 1} more numbers" if len(shared) > 1 else ""
        raise InputError(
            f"{number}{more} is attached to several personas ({names}): attach it to one "
            "of them in the dashboard, then export again"
        )
    # A number GET /v1/inbound does not show cannot be in a valid config (a warning says so).
    held = [replace(owner, numbers=owner.numbers & live.account_numbers) for owner in live.named]
    held = sorted((owner for owner in held if owner.numbers), key=attrgetter("name", "id"))
    lines = [
        f"# yaml-language-server: $schema={load_schema()['$id']}",
        "#",
        "# Exported from the live account by `reconciler export`. Every persona and agent listed",
        "# here is managed: after `reconciler apply` it has exactly the numbers listed under it.",
        "# Those with no numbers are not listed; add one to manage it.",
        "version: 1",
    ]
    for kind in ("persona", "agent"):
        owners = [owner for owner in held if owner_kind(owner.id) == kind]
        if owners or kind == "persona":  # the schema wants `personas:`, `agents:` is optional
            lines.append(f"{kind}s:" if owners else "personas: []")
        for owner in owners:
            lines.append(f"  - id: {_quoted(owner_id(owner.id))}")
            if owner.name:  # the schema wants a non-empty name; the id alone is enough
                lines.append(f"    name: {_quoted(owner.name)}")
            lines.append("    numbers:")
            for number in sorted(owner.numbers):
                lines.extend(_number_lines(owner, number))
    text = "\n".join(lines) + "\n"
    # Read back as a config, it plans clean against the same account, whatever that holds.
    try:
        leftover = build_plan(load_config_sources([("the export", text.encode("utf-8"))]), live)
    except ConfigError as error:
        raise ReconcilerError(f"the export is not a valid config: {error}") from None
    if not leftover.is_empty:
        raise ReconcilerError(f"the export would not plan clean: {leftover.summary_line()}")
    agents = sum(1 for owner in held if owner_kind(owner.id) == "agent")
    numbers = sum(len(owner.numbers) for owner in held)
    holds = f"{len(held) - agents} personas, " + (f"{agents} agents, " if agents else "")
    return text, _warnings(live, held, text), f"{holds}{numbers} numbers"


def _number_lines(owner: LivePersona, number: str) -> list[str]:
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
    a config cannot hold (a label over 150 UTF-16 units, which are never fewer than its
    characters; settings the config schema refuses), is left out, and the entry then leaves it
    as it is."""
    label = owner.labels.get(number)
    if not label or len(label.encode("utf-16-le")) // 2 > MAX_LABEL:
        label = None
    settings = owner.settings.get(number)
    if settings is not None and not _settings_check().is_valid(settings.as_dict()):
        settings = None
    return label, settings


def _warnings(live: Live, held: list[LivePersona], text: str) -> list[str]:
    """What the export leaves out, and why: each left as it is by the config."""
    found = [
        f"agent {live.agents[agent].name!r} ({agent}) is left out: which numbers it holds cannot "
        "be read (its hidden persona is not listed, cannot be read by id, and GET /v1/inbound "
        "names no owners)"
        for agent in sorted(live.unverifiable)
    ]
    # Agents whose twins hold numbers but GET /v2/agents does not list (deleted, or past 500).
    unlisted = {o.id for o in live.active if o.numbers} - {owner.id for owner in live.named}
    found += [
        f"agent {agent} is left out: its hidden persona holds numbers, but GET /v2/agents does "
        "not list it (deleted, or past the 500 it lists); add it by id under `agents:` to manage "
        "its numbers"
        for agent in sorted(map(owner_id, unlisted))
    ]
    # GET /v1/inbound may spell a number as no phone number: a config cannot name it then.
    off_account = sorted(
        (number, owner_words(owner.id, owner.name))
        for owner in live.named
        for number in owner.numbers - live.account_numbers
    )
    found += [
        f"{number} (on {owner}) is left out: GET /v1/inbound does not show it as a number of "
        "this account, so a config cannot name it; the config leaves it as it is"
        for number, owner in off_account
    ]
    exported = [(o, n, *_kept(o, n)) for o in held for n in o.numbers]
    # An agent's numbers have no persona settings to show.
    unread = sum(
        n not in o.labels or (owner_kind(o.id) == "persona" and n not in o.settings)
        for o, n, _, _ in exported
    )
    too_long = sum(bool(o.labels.get(n)) and label is None for o, n, label, _ in exported)
    odd = sorted(n for o, n, _, settings in exported if o.settings.get(n) and settings is None)
    redacted = REDACTOR.clean(text) != text
    # The lines about the whole export, each with whether it applies.
    found += [
        line
        for line, applies in {
            "GET /v2/agents came back full (500 agents, the most it lists): the numbers of agents "
            "past those 500 may be left out; add such an agent by id under `agents:` to manage "
            "its numbers": live.agents_incomplete,
            f"the API listed {unread} of these numbers without their settings or label: they are "
            "exported without them, and the config leaves them as they are": unread,
            f"{too_long} of these numbers have a label longer than a config may hold (150 "
            "characters, an emoji counting as two): they are exported without it, and the config "
            "leaves it as it is": too_long,
            f"{and_more(odd, 5)}: settings a config cannot hold (a key other than "
            "pathway_id, pathway_version and start_node_id, a version that is not a whole number, "
            "or no pathway_id): exported without them, and the config leaves them as they are": odd,
            "the account's text holds the API key, or a long run of it: the export shows *** in "
            "its place, and will not plan clean until that text is changed": redacted,
        }.items()
        if applies
    ]
    return [f"warning: {line}" for line in found]
