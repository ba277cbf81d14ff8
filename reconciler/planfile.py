"""Saved plans: a plan written at review time and applied later, exactly as it was reviewed.

A plan file is JSON (docs/plan-file.md, schemas/plan-file.schema.json): the desired state the
plan was made from, the valve thresholds in force and the plan as it was shown. `apply PLANFILE`
plans again from that desired state and applies only when the fresh plan shows exactly what the
saved one does. The file is signed with an HMAC keyed from the API key, so a plan edited and
signed again without the key is refused. It never holds the API key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from reconciler import __version__
from reconciler.errors import InputError, StalePlan
from reconciler.files import cannot_read, open_regular, write_atomic
from reconciler.model import (
    UNREAD,
    ConfirmedOwners,
    Desired,
    DesiredPersona,
    PersonaRef,
    SourceMark,
    SourcesDisagree,
    owner_key,
    routing_settings,
)
from reconciler.plan import NUMBER_WRITES, Action, Change, Plan, value_json
from reconciler.safety import Thresholds

PLAN_FILE_FORMAT = "reconciler-plan"
PLAN_FILE_VERSION = 2
RUN_PLAN_AGAIN = "Run plan again."
# A config file cannot have a "format" key (the schema forbids unknown keys), so this marks a
# plan file even when the rest of it is truncated or reordered.
_SNIFF_BYTES = 1024 * 1024
_MARKER = re.compile(rb'"format"\s*:\s*"' + PLAN_FILE_FORMAT.encode() + rb'"')
# The fixed label of the key derivation: the signing key is HMAC(API key, label), never the key.
_KEY_LABEL = b"reconciler plan file signature v1"
_SHOWN_CHARS = 100  # of a schema message, which quotes the value found


def signing_key(api_key: str) -> bytes:
    """The key that signs plan files, derived from the API key (which it does not reveal)."""
    return hmac.new(api_key.encode("utf-8"), _KEY_LABEL, hashlib.sha256).digest()


def _key_id(key: bytes) -> str:
    """Names the signing key in the file, so a plan made with another key is told apart."""
    return hmac.new(key, b"key id", hashlib.sha256).hexdigest()[:16]


def _signature(document: Mapping[str, Any], key: bytes) -> str:
    """HMAC-SHA256 of the document without its `integrity` key, as canonical JSON."""
    content = {name: value for name, value in document.items() if name != "integrity"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "hmac-sha256:" + hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SavedPlan:
    """A plan file as read back: what to plan from, and the plan it showed then."""

    path: str
    desired: Desired
    thresholds: Thresholds
    plan: Plan
    document: dict[str, Any]
    api_base_url: str
    tool_version: str
    config_files: tuple[str, ...]


def public_url(url: str) -> str:
    """The URL without any user:password part, which is a secret and never saved."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)).rstrip("/")


def render_plan_file(
    desired: Desired,
    plan: Plan,
    document: Mapping[str, Any],
    *,
    thresholds: Thresholds,
    api_base_url: str,
    key: bytes,
    redact: Callable[[str], str] = str,
) -> str:
    """The plan file's text (pure): the desired state, the plan document, names, a signature.

    `document` is the plan as shown (render.plan_document); `plan` gives the names of the
    personas it mentions, so that show can print it as plan did. `redact` is applied to the
    whole text before signing: a secret that reached a name from the API never lands in the
    file, and the file still passes its signature check.
    """
    names = plan.persona_names()
    names.update(ref for found in plan.confirmed for ref in (*found.seen_on, *found.held_by))
    names.update(
        ref for found in plan.disagreements for ref in (found.inbound_owner, *found.listed_on)
    )
    saved: dict[str, Any] = {
        "format": PLAN_FILE_FORMAT,
        "format_version": PLAN_FILE_VERSION,
        "tool_version": __version__,
        "api_base_url": public_url(api_base_url),
        "config": [
            {"path": file, "sha256": desired.digests.get(file, "")} for file in desired.files
        ],
        "safety": asdict(thresholds),
        "desired": {
            "entries": [_entry_json(entry) for entry in desired.personas],
            "protected": list(desired.protected),
            "targets": list(desired.targets),
            "elsewhere": sorted(desired.elsewhere),
        },
        "plan": dict(document),
        "persona_names": dict(sorted(names.items())),
    }
    # As core.differences redacts the fresh plan it compares with this one: through the JSON text.
    saved = json.loads(redact(json.dumps(saved, ensure_ascii=False)))
    saved["key_id"] = _key_id(key)
    saved["integrity"] = _signature(saved, key)
    return json.dumps(saved, indent=2, ensure_ascii=False) + "\n"


def _entry_json(entry: DesiredPersona) -> dict[str, Any]:
    item: dict[str, Any] = {"kind": entry.kind, "id": entry.id, "name": entry.name}
    item["numbers"] = list(entry.numbers)
    item["mark"] = [entry.mark.file, entry.mark.line, entry.mark.column]
    if entry.settings:
        item["settings"] = {n: value_json(v) for n, v in sorted(entry.settings.items())}
    if entry.labels:
        item["labels"] = dict(sorted(entry.labels.items()))
    return item


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


def read_plan_file(path: str, key: bytes | None) -> SavedPlan:
    """Read and check a plan file; raises StalePlan if it is altered, truncated or unknown.

    With `key` None (show, which has no key) the signature is not checked.
    """
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
    if key is not None and document.get("key_id") != _key_id(key):
        raise _refuse(path, "the plan was made with another API key")
    if key is not None and not hmac.compare_digest(
        str(document.get("integrity")), _signature(document, key)
    ):
        raise _refuse(
            path,
            "the plan file was altered after it was written (its signature does not match "
            "its content)",
        )
    if invalid := best_match(_validator().iter_errors(document)):
        where = ".".join(map(str, invalid.absolute_path)) or "the file"
        message = invalid.message[:_SHOWN_CHARS] + (
            "..." if len(invalid.message) > _SHOWN_CHARS else ""
        )
        raise _refuse(path, f"not a valid plan file ({where}: {message})")
    return _parse(path, document)


class _NotJson(ValueError):
    """NaN, Infinity or -Infinity: Python's json reads them, JSON has no such numbers."""


def _no_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a number JSON allows")


@cache
def _validator() -> Draft202012Validator:
    """The plan file's schema, which takes the plan's own from schemas/plan.schema.json."""
    file_schema, plan_schema = (
        json.loads(resources.files("reconciler").joinpath(name).read_text("utf-8"))
        for name in ("plan-file.schema.json", "plan.schema.json")
    )
    file_schema["$defs"]["plan"] = plan_schema  # embedded, its $id resolves `plan.schema.json`
    return Draft202012Validator(file_schema)


def change_from_json(item: Mapping[str, Any]) -> Change:
    """A change from its JSON object (Change.to_json), as the plan schema allows it."""
    action = Action(item["action"])
    writes = action in NUMBER_WRITES

    def value(shown: Any) -> Any:
        return routing_settings(shown) if action is Action.SETTINGS else shown

    source = None
    if "from_persona_id" in item:
        source = owner_key(item["from_kind"], item["from_persona_id"])
    return Change(
        action,
        owner_key(item["kind"], item["persona_id"]),
        item["persona_name"],
        item["phone_number"],
        source,
        item.get("from_persona_name"),
        before=(value(item["before"]) if item["before_known"] else UNREAD) if writes else None,
        after=value(item["after"]) if writes else None,
    )


def _parse(path: str, document: dict[str, Any]) -> SavedPlan:
    """The plan file's content, once the schema has checked it."""
    desired, safety = document["desired"], document["safety"]
    files = tuple(source["path"] for source in document["config"])
    personas = tuple(
        DesiredPersona(
            id=item["id"],
            name=item["name"],
            numbers=tuple(item["numbers"]),
            mark=SourceMark(*item["mark"]),
            settings={n: routing_settings(v) for n, v in item.get("settings", {}).items()},
            labels=item.get("labels", {}),
            kind=item["kind"],
        )
        for item in desired["entries"]
    )
    return SavedPlan(
        path=path,
        desired=Desired(
            personas=personas,
            files=files,
            protected=tuple(desired["protected"]),
            digests={source["path"]: source["sha256"] for source in document["config"]},
            targets=tuple(desired["targets"]),
            elsewhere=frozenset(desired.get("elsewhere", [])),
        ),
        # Each of its own kind, as the schema checked it: never converted (bool("no") is True).
        thresholds=Thresholds(
            float(safety["max_detach_percent"]),
            int(safety["min_numbers"]),
            safety["allow_emptying"],
        ),
        plan=plan_from_document(document["plan"], document["persona_names"]),
        document=document["plan"],
        api_base_url=document["api_base_url"],
        tool_version=document["tool_version"],
        config_files=files,
    )


def plan_from_document(document: Mapping[str, Any], names: Mapping[str, str]) -> Plan:
    """The plan a saved plan document shows, to print it again (show) as plan printed it."""

    def ref(persona_id: str) -> PersonaRef:
        return PersonaRef(persona_id, names.get(persona_id, ""))

    changes = document["changes"]
    safety = document["safety"]
    return Plan(
        changes=tuple(map(change_from_json, changes)),
        settings_dropped={
            item["phone_number"]: cleared
            for item in changes
            if (cleared := routing_settings(item.get("settings_cleared"))) is not None
        },
        confirmed=tuple(
            ConfirmedOwners(
                found["phone_number"],
                tuple(map(ref, found["seen_on"])),
                tuple(map(ref, found["held_by"])),
            )
            for found in document.get("confirmed_owners", [])
        ),
        disagreements=tuple(
            SourcesDisagree(
                found["phone_number"],
                ref(found["inbound_owner"]),
                tuple(map(ref, found["listed_on"])),
            )
            for found in document.get("sources_disagree", [])
        ),
        valves=tuple(safety["valves"]),
        refusals=tuple(safety["protected"]),
        forced=bool(safety["valves"]) and not safety["protected"] and not safety["apply_refuses"],
        targets=tuple(document.get("targets", [])),
        notices=tuple(document.get("warnings", [])),
    )
