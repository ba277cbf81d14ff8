"""Saved plans: a plan written at review time and applied later, exactly as it was reviewed.

A plan file is JSON (format documented in the README). Besides the changes it carries a
fingerprint of the live state they were computed from, so that apply can refuse when the
account changed in between, and everything apply needs without the config: the managed
personas, the protected numbers and the valve thresholds in force. An integrity hash of the
content catches a file edited by hand or cut short. It never holds the API key.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from reconciler import __version__
from reconciler.errors import InputError, StalePlan
from reconciler.files import cannot_read, open_regular, write_atomic
from reconciler.model import (
    UNREAD,
    RoutingSettings,
    SafetySettings,
    SeenLabel,
    SeenSettings,
    routing_settings,
)
from reconciler.plan import NUMBER_WRITES, Action, Change, ManagedPersona, Plan, value_json
from reconciler.safety import Thresholds

PLAN_FILE_FORMAT = "reconciler-plan"
PLAN_FILE_VERSION = 1
RUN_PLAN_AGAIN = "Run plan again."
# A config file cannot have a "format" key (the schema forbids unknown keys), so this marks a
# plan file even when the rest of it is truncated or reordered.
# Plan files are written with "format" as their first key; a hand-reformatted one may move it.
_SNIFF_BYTES = 1024 * 1024
_MARKER = re.compile(rb'"format"\s*:\s*"' + PLAN_FILE_FORMAT.encode() + rb'"')


@dataclass(frozen=True)
class ConfigSource:
    """A config file a plan was made from, and the sha256 of its content then."""

    path: str
    sha256: str


@dataclass(frozen=True)
class SavedPlan:
    """A plan file as read back.

    `plan.managed[*].live` holds each managed persona's numbers when planned and `plan.owners`
    the owners when planned of every number the fingerprint covers.
    """

    path: str
    plan: Plan
    api_base_url: str
    tool_version: str
    config: tuple[ConfigSource, ...]
    names: Mapping[str, str]


def config_sources(plan: Plan) -> tuple[ConfigSource, ...]:
    """Each config file of the plan with the sha256 of the bytes that were validated."""
    return tuple(ConfigSource(file, plan.config_digests[file]) for file in plan.config_files)


def public_url(url: str) -> str:
    """The URL without any user:password part, which is a secret and never saved."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)).rstrip("/")


def _covered_numbers(plan: Plan) -> set[str]:
    """Numbers whose owners the fingerprint records: those the plan touches or that sit on a
    managed persona (the latter so that a difference there can be named with its old owner)."""
    covered = {change.phone_number for change in plan.changes}
    for persona in plan.managed:
        covered |= persona.live
    return covered


def integrity_hash(document: Mapping[str, Any]) -> str:
    """sha256 of the document without its `integrity` key, as canonical JSON."""
    content = {key: value for key, value in document.items() if key != "integrity"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def render_plan_file(
    plan: Plan,
    *,
    thresholds: Thresholds,
    api_base_url: str,
    config: Sequence[ConfigSource],
    redact: Callable[[str], str] = str,
) -> str:
    """The plan file's text (pure): the plan, its fingerprint, and an integrity hash.

    `redact` is applied to every string value before hashing, so a secret that reached a name
    from the API never lands in the file, and the file still passes its integrity check.
    """
    covered = _covered_numbers(plan)
    owners = {number: sorted(plan.owners.get(number, ())) for number in sorted(covered)}
    names = plan.persona_names()
    document: dict[str, Any] = {
        "format": PLAN_FILE_FORMAT,
        "format_version": PLAN_FILE_VERSION,
        "tool_version": __version__,
        "config": [{"path": source.path, "sha256": source.sha256} for source in config],
        "api_base_url": public_url(api_base_url),
        "changes": [change.to_json() for change in plan.changes],
        "summary": plan.summary(),
        "managed": [_managed_json(persona) for persona in plan.managed],
        "protected": sorted(plan.protected),
        "safety": {
            "max_detach_percent": thresholds.max_detach_percent,
            "min_numbers": thresholds.min_numbers,
            "allow_emptying": thresholds.allow_emptying,
        },
        "fingerprint": {
            "personas": {persona.id: sorted(persona.live) for persona in plan.managed},
            "owners": owners,
            **_seen_json(plan),
        },
        "persona_names": dict(sorted(names.items())),
    }
    document = _map_strings(document, redact)
    document["integrity"] = integrity_hash(document)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _managed_json(persona: ManagedPersona) -> dict[str, Any]:
    """A managed persona as the plan file keeps it: what it must hold and what it declares."""
    item: dict[str, Any] = {"id": persona.id, "name": persona.name}
    item["numbers"] = sorted(persona.desired)
    if persona.settings:
        item["settings"] = {n: value_json(s) for n, s in sorted(persona.settings.items())}
    if persona.labels:
        item["labels"] = dict(sorted(persona.labels.items()))
    return item


def _seen_json(plan: Plan) -> dict[str, Any]:
    """The fingerprint of declared settings and labels: the values shown, and those not shown.

    Absent for a plan whose config declares none, so such plan files are as before.
    """
    if not plan.settings_seen and not plan.labels_seen:
        return {}
    settings = {n: value_json(v) for n, v in plan.settings_seen.items() if v is not UNREAD}
    labels = {n: v for n, v in plan.labels_seen.items() if v is not UNREAD}
    return {
        "settings": dict(sorted(settings.items())),
        "labels": dict(sorted(labels.items())),
        "unread": {
            "settings": sorted(n for n, v in plan.settings_seen.items() if v is UNREAD),
            "labels": sorted(n for n, v in plan.labels_seen.items() if v is UNREAD),
        },
    }


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {key: _map_strings(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [_map_strings(item, change) for item in value]
    return value


def write_plan_file(path: str, text: str) -> None:
    """Write atomically (temp file in the same folder, fsync, rename), mode 0600."""
    write_atomic(path, text, mode=0o600, what="plan file")


def is_plan_file(path: str) -> bool:
    """True when the file's content says it is a plan file (whatever its name).

    Only the head of a regular file is read: a FIFO or a device must not hang or fill memory
    before config loading gets to refuse it.
    """
    try:
        with open_regular(path) as stream:
            head = stream.read(_SNIFF_BYTES)
    except (OSError, InputError):
        return False  # not a readable regular file: config loading reports it
    return head.lstrip().startswith(b"{") and _MARKER.search(head) is not None


def _refuse(path: str, reason: str) -> StalePlan:
    return StalePlan(f"{path}: {reason}: nothing was written. {RUN_PLAN_AGAIN}")


def read_plan_file(path: str) -> SavedPlan:
    """Read and check a plan file; raises StalePlan if it is altered, truncated or unknown."""
    try:
        content = Path(path).read_bytes()
    except OSError as error:
        raise cannot_read(path, error.strerror) from None
    try:
        document = json.loads(content.decode("utf-8"), parse_constant=_no_constant)
    except _NotJson as error:
        raise _refuse(path, f"not a valid plan file ({error})") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise _refuse(path, f"not a complete plan file, it may be truncated ({error})") from None
    if not isinstance(document, dict) or document.get("format") != PLAN_FILE_FORMAT:
        raise _refuse(path, "not a plan file")
    version = document.get("format_version")
    if version != PLAN_FILE_VERSION:
        raise _refuse(
            path,
            f"plan file format version {json.dumps(version)} is not supported "
            f"(reconciler {__version__} reads version {PLAN_FILE_VERSION})",
        )
    if document.get("integrity") != integrity_hash(document):
        raise _refuse(
            path,
            "the plan file was altered after it was written (its integrity hash does not match "
            "its content)",
        )
    try:
        return _parse(path, document)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as error:
        raise _refuse(path, f"not a valid plan file ({type(error).__name__}: {error})") from None


class _NotJson(ValueError):
    """NaN, Infinity or -Infinity: Python's json reads them, JSON has no such numbers."""


def _no_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a number JSON allows")


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"expected a list of strings, got {json.dumps(value)[:60]}")
    return value


def _settings_value(value: Any) -> RoutingSettings | None:
    if value is not None and not isinstance(value, dict):
        raise TypeError(f"expected settings (an object or null), got {json.dumps(value)[:60]}")
    return routing_settings(value)


def _label_value(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"expected a label (a string or null), got {json.dumps(value)[:60]}")
    return value


def _change(item: dict[str, Any]) -> Change:
    action = Action(item["action"])
    before: SeenSettings | SeenLabel = None
    after: RoutingSettings | str | None = None
    if action in NUMBER_WRITES:
        read = _settings_value if action is Action.SETTINGS else _label_value
        if not isinstance(item["before_known"], bool):
            raise TypeError("before_known must be true or false")
        before = read(item["before"]) if item["before_known"] else UNREAD
        after = read(item["after"])
        if action is Action.LABEL and not isinstance(after, str):
            raise TypeError("a label change must write a string")
    return Change(
        action,
        str(item["persona_id"]),
        str(item["persona_name"]),
        str(item["phone_number"]),
        str(item["from_persona_id"]) if "from_persona_id" in item else None,
        str(item["from_persona_name"]) if "from_persona_name" in item else None,
        before=before,
        after=after,
    )


def _seen(fingerprint: dict[str, Any]) -> tuple[dict[str, SeenSettings], dict[str, SeenLabel]]:
    """The declared settings and labels as the fingerprint recorded them (see _seen_json)."""
    unread = fingerprint.get("unread", {})
    settings: dict[str, SeenSettings] = {
        str(n): _settings_value(v) for n, v in fingerprint.get("settings", {}).items()
    }
    settings.update(dict.fromkeys(_strings(unread.get("settings", [])), UNREAD))
    labels: dict[str, SeenLabel] = {
        str(n): _label_value(v) for n, v in fingerprint.get("labels", {}).items()
    }
    labels.update(dict.fromkeys(_strings(unread.get("labels", [])), UNREAD))
    return settings, labels


def _labels(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise TypeError(f"expected labels (strings by number), got {json.dumps(value)[:60]}")
    return {str(number): label for number, label in value.items()}


def _thresholds(safety: dict[str, Any]) -> SafetySettings:
    """The valve thresholds as saved, each of its own kind: never converted (bool("no") is True)."""
    percent, minimum, emptying = (
        safety["max_detach_percent"],
        safety["min_numbers"],
        safety["allow_emptying"],
    )
    if isinstance(percent, bool) or not isinstance(percent, int | float):
        raise ValueError(f"max_detach_percent {percent!r} is not a number")
    if not 0 <= percent <= 100:  # also refuses nan, and 1e999, which json reads as inf
        raise ValueError(f"max_detach_percent {float(percent)} is not from 0 to 100")
    if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 0:
        raise ValueError(f"min_numbers {minimum!r} is not a whole number of 0 or more")
    if not isinstance(emptying, bool):
        raise ValueError(f"allow_emptying {emptying!r} is not true or false")
    return SafetySettings(
        max_detach_percent=float(percent), min_numbers=minimum, allow_emptying=emptying
    )


def _parse(path: str, document: dict[str, Any]) -> SavedPlan:
    fingerprint = document["fingerprint"]
    planned = {
        str(pid): frozenset(_strings(numbers)) for pid, numbers in fingerprint["personas"].items()
    }
    managed = tuple(
        ManagedPersona(
            str(entry["id"]),
            str(entry["name"]),
            planned[entry["id"]],
            frozenset(_strings(entry["numbers"])),
            settings={str(n): _settings_value(v) for n, v in entry.get("settings", {}).items()},
            labels=_labels(entry.get("labels", {})),
        )
        for entry in document["managed"]
    )
    changes = tuple(_change(item) for item in document["changes"])
    thresholds = _thresholds(document["safety"])
    owners = {str(number): tuple(_strings(ids)) for number, ids in fingerprint["owners"].items()}
    unfingerprinted = sorted({change.phone_number for change in changes} - owners.keys())
    if unfingerprinted:
        # Apply trusts only what the fingerprint lets it check against the live account.
        raise ValueError(f"changes to numbers the fingerprint does not cover: {unfingerprinted}")
    settings_seen, labels_seen = _seen(fingerprint)
    plan = Plan(
        changes=changes,
        managed=managed,
        owners=owners,
        protected=tuple(_strings(document["protected"])),
        safety=thresholds,
        settings_seen=settings_seen,
        labels_seen=labels_seen,
    )
    return SavedPlan(
        path=path,
        plan=plan,
        api_base_url=str(document["api_base_url"]),
        tool_version=str(document["tool_version"]),
        config=tuple(
            ConfigSource(str(source["path"]), str(source["sha256"]))
            for source in document["config"]
        ),
        names={str(pid): str(name) for pid, name in document["persona_names"].items()},
    )
