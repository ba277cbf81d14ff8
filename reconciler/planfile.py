"""Saved plans (docs/plan-file.md): a plan written at review time and applied later, exactly as
it was reviewed. The file holds the desired state, the valve thresholds and the plan as shown,
signed with a key derived from the API key (which it never holds)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reconciler import __version__
from reconciler.errors import InputError, Refused, cannot_read
from reconciler.files import open_regular, read_regular
from reconciler.model import (
    UNREAD,
    ConfirmedOwners,
    Desired,
    DesiredPersona,
    PersonaRef,
    RoutingSettings,
    SeenLabel,
    SeenSettings,
    SourceMark,
    SourcesDisagree,
    owner_key,
    routing_settings,
)
from reconciler.plan import NUMBER_WRITES, Action, Change, Plan, value_json
from reconciler.render import plan_document
from reconciler.safety import Thresholds

PLAN_FILE_FORMAT = "reconciler-plan"
PLAN_FILE_VERSION = 2
RUN_PLAN_AGAIN = "Run plan again."
# A config file cannot have a "format" key (the schema forbids unknown keys), so this marks a
# plan file even when the rest of it is truncated or reordered.
_SNIFF_BYTES = 1024 * 1024
# A plan of 100,000 numbers takes about 6 MB: a plan file far larger is not read into memory.
MAX_PLAN_FILE_BYTES = 256 * 1024 * 1024
_MARKER = re.compile(rb'"format"\s*:\s*"' + PLAN_FILE_FORMAT.encode() + rb'"')
# The fixed label of the key derivation: the signing key is HMAC(API key, label), never the key.
_KEY_LABEL = b"reconciler plan file signature v1"


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


def public_url(url: str) -> str:
    """The URL without any user:password part, which is a secret and never saved."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = "" if parts.port is None else f":{parts.port}"
    netloc = (f"[{host}]" if ":" in host else host) + port
    return parts._replace(netloc=netloc).geturl().rstrip("/")


def render_plan_file(
    desired: Desired,
    plan: Plan,
    thresholds: Thresholds,
    api_base_url: str,
    key: bytes,
    *,
    redact: Callable[[str], str] = str,
) -> str:
    """The plan file's text (pure): the desired state, the plan as shown with the names of the
    personas it mentions (so that show prints it as plan did), and a signature. `redact` is
    applied to the whole text before signing: a secret from the API never lands in the file."""
    names = plan.persona_names()  # and those of the owner findings: a PersonaRef is (id, name)
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
            "entries": list(map(_entry_json, desired.personas)),
            "protected": list(desired.protected),
            "targets": list(desired.targets),
            "elsewhere": sorted(desired.elsewhere),
        },
        "plan": plan_document(plan),
        "persona_names": dict(sorted(names.items())),
    }
    # As core.differences redacts the fresh plan it compares with this one: through the JSON text.
    saved = json.loads(redact(json.dumps(saved, ensure_ascii=False)))
    saved["key_id"] = _key_id(key)
    saved["integrity"] = _signature(saved, key)
    return json.dumps(saved, indent=2, ensure_ascii=False) + "\n"


def _entry_json(entry: DesiredPersona) -> dict[str, Any]:
    item: dict[str, Any] = {"kind": entry.kind, "id": entry.id, "name": entry.name}
    item.update(numbers=list(entry.numbers), mark=list(entry.mark))
    if entry.settings:
        item["settings"] = {n: value_json(v) for n, v in sorted(entry.settings.items())}
    if entry.labels:
        item["labels"] = dict(sorted(entry.labels.items()))
    return item


def is_plan_file(path: str) -> bool:
    """True when the file's content says it is a plan file, whatever its name. Only the head of
    a regular file is read: a FIFO or a device must not hang or fill memory before config loading
    gets to refuse it."""
    try:
        with open_regular(path) as stream:
            head = stream.read(_SNIFF_BYTES)
    except InputError:
        return False  # missing or not a regular file: config loading reports it
    except OSError as error:  # a read that fails (EIO) is said as such, wherever it is asked
        raise cannot_read(path, error) from None
    return head.lstrip().startswith(b"{") and _MARKER.search(head) is not None


def refused(path: str, reason: str) -> Refused:
    return Refused(f"{path}: {reason}: nothing was written. {RUN_PLAN_AGAIN}")


def read_plan_file(path: str, key: bytes | None) -> SavedPlan:
    """Read and check a plan file; raises Refused if it is altered, truncated or unknown."""
    size, content = read_regular(path, MAX_PLAN_FILE_BYTES)
    if max(size, len(content)) > MAX_PLAN_FILE_BYTES:
        raise refused(path, f"over {MAX_PLAN_FILE_BYTES:,} bytes, more than a plan file holds")
    try:
        document = json.loads(content.decode("utf-8"), parse_constant=_no_constant)
        if not isinstance(document, dict) or document.get("format") != PLAN_FILE_FORMAT:
            raise refused(path, "not a plan file")
        version = document.get("format_version")
        if version != PLAN_FILE_VERSION:
            reads = f"reconciler {__version__} reads version {PLAN_FILE_VERSION}"
            unknown = f"plan file format version {json.dumps(version)} is not supported ({reads})"
            raise refused(path, unknown)
        if key is not None:  # without a key (show) no signature is checked
            if document.get("key_id") != _key_id(key):
                raise refused(path, "the plan was made with another API key")
            if not hmac.compare_digest(str(document.get("integrity")), _signature(document, key)):
                altered = "its signature does not match its content"
                raise refused(path, f"the plan file was altered after it was written ({altered})")
        return _parse(path, document)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise refused(path, f"not a complete plan file, it may be truncated ({error})") from None
    except ValueError as error:  # a value a plan file may not hold, which says what it is
        raise refused(path, f"not a valid plan file ({error})") from None
    except (KeyError, TypeError, AttributeError, OverflowError) as error:
        raise refused(path, f"not a valid plan file ({type(error).__name__}: {error})") from None


def _no_constant(name: str) -> Any:
    """NaN, Infinity or -Infinity: Python's json reads them, JSON has no such numbers."""
    raise ValueError(f"{name} is not a number JSON allows")


def _checked(value: Any, fits: bool, expected: str) -> Any:
    if not fits:
        raise ValueError(f"expected {expected}, got {json.dumps(value)[:60]}")
    return value


def _strings(value: Any) -> tuple[str, ...]:
    fits = isinstance(value, list) and all(isinstance(item, str) for item in value)
    return tuple(_checked(value, fits, "a list of strings"))


def _settings(value: Any) -> RoutingSettings | None:
    fits = value is None or isinstance(value, dict)
    return routing_settings(_checked(value, fits, "settings (an object or null)"))


def change_from_json(item: dict[str, Any]) -> Change:
    """A change from its JSON object (Change.to_json); raises on a malformed one."""
    action = Action(item["action"])
    before: SeenSettings | SeenLabel = None
    after: RoutingSettings | str | None = None
    if action in NUMBER_WRITES:
        known = item["before_known"]
        _checked(known, isinstance(known, bool), "before_known to be true or false")
        before, after = item["before"] if known else None, item["after"]
        if action is Action.SETTINGS:
            before, after = _settings(before), _settings(after)
        else:  # a label written is a string, one seen may be null
            _checked(before, isinstance(before, str | None), "a label (a string or null)")
            _checked(after, isinstance(after, str), "a label (a string)")
        before = before if known else UNREAD
    source, source_name = None, None
    if "from_persona_id" in item:
        source = owner_key(str(item["from_kind"]), str(item["from_persona_id"]))
        source_name = str(item["from_persona_name"])
    owner = owner_key(str(item["kind"]), str(item["persona_id"]))
    number, name = str(item["phone_number"]), str(item["persona_name"])
    return Change(action, owner, name, number, source, source_name, before, after)


def _parse(path: str, document: dict[str, Any]) -> SavedPlan:
    # persona_names first: a file missing several keys is refused naming it.
    names = {str(pid): str(name) for pid, name in document["persona_names"].items()}
    wanted, config = document["desired"], document["config"]
    desired = Desired(
        personas=tuple(map(_entry, wanted["entries"])),
        files=tuple(str(source["path"]) for source in config),
        protected=_strings(wanted["protected"]),
        digests={str(source["path"]): str(source["sha256"]) for source in config},
        targets=_strings(wanted["targets"]),
        elsewhere=frozenset(_strings(wanted.get("elsewhere", []))),
    )
    # The valve thresholds each of its own kind, never converted (bool("no") is True, and true
    # is no number); 1e999, which json reads as inf, is not from 0 to 100.
    percent, minimum, emptying = (document["safety"][name] for name in asdict(Thresholds()))
    fits = type(percent) in (int, float) and 0 <= percent <= 100
    _checked(percent, fits, "max_detach_percent, a number from 0 to 100")
    _checked(minimum, type(minimum) is int and minimum >= 0, "min_numbers, a whole number >= 0")
    _checked(emptying, type(emptying) is bool, "allow_emptying, true or false")
    return SavedPlan(
        path=path,
        desired=desired,
        thresholds=Thresholds(float(percent), minimum, emptying),
        plan=plan_from_document(document["plan"], names),
        document=document["plan"],
        api_base_url=str(document["api_base_url"]),
        tool_version=str(document["tool_version"]),
    )


def _entry(item: dict[str, Any]) -> DesiredPersona:
    file, line, column = item["mark"]
    labels = item.get("labels", {})
    fits = isinstance(labels, dict) and all(isinstance(label, str) for label in labels.values())
    return DesiredPersona(
        id=None if item["id"] is None else str(item["id"]),
        name=None if item["name"] is None else str(item["name"]),
        numbers=_strings(item["numbers"]),
        mark=SourceMark(str(file), int(line), int(column)),
        settings={str(n): _settings(v) for n, v in item.get("settings", {}).items()},
        labels=dict(_checked(labels, fits, "labels (strings by number)")),
        kind="agent" if item["kind"] == "agent" else "persona",
    )


def plan_from_document(document: dict[str, Any], names: Mapping[str, str]) -> Plan:
    """The plan a saved plan document shows, to print it again (show) as plan printed it."""

    def ref(persona_id: Any) -> PersonaRef:
        return PersonaRef(str(persona_id), names.get(str(persona_id), ""))

    def refs(persona_ids: Any) -> tuple[PersonaRef, ...]:
        return tuple(map(ref, persona_ids))

    changes = tuple(map(change_from_json, document["changes"]))  # first: it checks each entry
    dropped = {
        str(c["phone_number"]): _settings(c["settings_cleared"])
        for c in document["changes"]
        if "settings_cleared" in c
    }
    safety = document["safety"]
    valves, refusals = _strings(safety["valves"]), _strings(safety["protected"])
    # The findings by their declared shape, not the file's: a hand-edited file may differ.
    return Plan(
        changes=changes,
        settings_dropped={n: s for n, s in dropped.items() if s is not None},
        confirmed=tuple(
            ConfirmedOwners(str(f["phone_number"]), refs(f["seen_on"]), refs(f["held_by"]))
            for f in document.get("confirmed_owners", [])
        ),
        disagreements=tuple(
            SourcesDisagree(str(f["phone_number"]), ref(f["inbound_owner"]), refs(f["listed_on"]))
            for f in document.get("sources_disagree", [])
        ),
        valves=valves,
        refusals=refusals,
        forced=bool(valves) and not refusals and safety["apply_refuses"] is False,
        targets=_strings(document.get("targets", [])),
        notices=_strings(document.get("warnings", [])),
    )


def read_saved_plan(planfile: str) -> SavedPlan:
    """The saved plan, for show: a missing file, a config file or an altered plan is an error."""
    path = Path(planfile)
    if not path.exists():
        raise InputError(f"{planfile}: no such file")
    if not path.is_file():  # a FIFO or a device: never wait on it or read it without end
        raise InputError(f"{planfile}: not a regular file (plan --out saves a plan file)")
    if not is_plan_file(planfile):
        raise InputError(
            f"{planfile}: not a plan file (plan --out PLANFILE saves one); "
            f"to see what config files would change: reconciler plan {planfile}"
        )
    try:
        return read_plan_file(planfile, None)
    except Refused as error:
        # Nothing is applied here, so an unreadable plan is an error, not a refused apply.
        raise InputError(str(error)) from None
