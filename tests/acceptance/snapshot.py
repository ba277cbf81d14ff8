"""What the scenarios may change, as read from the account before the first one and after the
restore: the scratch personas' numbers with their labels and settings, the scratch agents'
numbers, and where each scratch number is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.api import BlandClient
from reconciler.api.urls import persona_path
from reconciler.config.schema import MAX_LABEL
from reconciler.model import owner_key
from reconciler.owner_reads import read_account

if TYPE_CHECKING:
    from tests.acceptance.harness import Target

# What of a number object the scenarios may change, and the restore writes back.
RESTORED_FIELDS = ("label", "persona_settings")


@dataclass(frozen=True)
class Snapshot:
    """What the scenarios may change, as read from the account.

    `objects` holds, for each number on a scratch persona, the `label` and `persona_settings`
    the persona read by id shows (only those it shows: bare-string numbers show neither; no
    label and "" are kept as None, as the tool treats them alike). `labels` is what
    GET /v1/inbound says of each scratch number's label, if it says anything.
    `Scratch.recorded_config` declares each recorded value under its number, so the restore
    writes back what the scenarios changed.
    """

    # scratch persona, and scratch agent (`agent:ID`) whose numbers can be read -> its numbers
    routing: dict[str, frozenset[str]]
    owners: dict[str, tuple[str, ...]]  # scratch number -> its owners (personas, `agent:ID`)
    objects: dict[str, dict[str, Any]]
    labels: dict[str, Any]


def take_snapshot(client: BlandClient, target: Target) -> Snapshot:
    """The scratch personas' routing and number objects, and where each scratch number is."""
    routing: dict[str, frozenset[str]] = {}
    objects: dict[str, dict[str, Any]] = {}
    for pid in target.personas:
        entries = client.get_json(persona_path(pid))["data"]["inbound_numbers"] or []
        numbers = []
        for entry in entries:
            number = entry["phone_number"] if isinstance(entry, dict) else entry
            numbers.append(number)
            if isinstance(entry, dict):
                objects[number] = restorable(entry)
        routing[pid] = frozenset(numbers)
    live = read_account(client)
    with_twins = {agent for _, agent in live.twins.values()}
    for agent in target.agents:
        key = owner_key("agent", agent)
        # Recorded only where plan sees the agent's numbers, and will after an attach: an
        # agent that never held a number gets its twin then, which may not be readable.
        seen = key in live.personas and agent not in live.unverifiable
        if seen and (agent in with_twins or live.inbound_owners):
            routing[key] = live.personas[key].numbers
    owners = live.owners
    inbound = client.get_json("/v1/inbound")
    entries = inbound.get("inbound_numbers", []) if isinstance(inbound, dict) else inbound
    labels = {
        entry["phone_number"]: entry["label"] or None
        for entry in entries
        if isinstance(entry, dict) and entry.get("phone_number") in target.numbers
        if "label" in entry  # GET /v1/inbound is not documented to give labels
    }
    return Snapshot(
        routing, {number: owners.get(number, ()) for number in target.numbers}, objects, labels
    )


def label_fits(label: object) -> bool:
    """Whether a config can hold the label (None: no label); one that cannot is never changed
    by the scenarios, and never written back."""
    if label is None:
        return True
    return isinstance(label, str) and max(len(label), len(label.encode("utf-16-le")) // 2) <= (
        MAX_LABEL
    )


def restorable(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a number object that the restore writes back, as far as it shows them."""
    kept = {name: entry[name] for name in RESTORED_FIELDS if name in entry}
    if "label" in kept:
        kept["label"] = kept["label"] or None
    return kept


def snapshot_differences(recorded: Snapshot, now: Snapshot) -> list[str]:
    """What differs between two snapshots, one entry per persona or number."""
    lines = []
    for name in ("routing", "owners", "objects", "labels"):
        old, new = getattr(recorded, name), getattr(now, name)
        for key in sorted(old.keys() | new.keys()):
            if old.get(key) != new.get(key):
                lines.append(f"{name} of {key}: recorded {old.get(key)}, now {new.get(key)}")
    return lines
