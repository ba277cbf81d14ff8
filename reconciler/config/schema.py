"""Check a document against the config's JSON Schema, and what the schema cannot express, in
messages that say what to change."""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from reconciler.config.document import (
    OWNER_LISTS,
    SHOWN_CHARS,
    Document,
    YamlPath,
    diagnostic_at,
    number_items,
    owner_entries,
    shown,
    shown_json,
    type_name,
)
from reconciler.errors import Diagnostic
from reconciler.model import SourceMark
from reconciler.text import one_line

if TYPE_CHECKING:
    import jsonschema

_PERSONA_KEYS = frozenset({"id", "name", "numbers"})
_PERCENT_PATH: YamlPath = ("safety", "max_detach_percent")
# The API's limit on a label. The schema counts characters; a JavaScript server counts UTF-16
# units, in which an emoji is two: a label is held to both, so that the API cannot refuse it
# half-way through an apply.
MAX_LABEL = 150


def load_schema() -> dict[str, Any]:
    """The published JSON Schema of the config file."""
    text = resources.files("reconciler").joinpath("personas.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_diagnostics(document: Document) -> list[Diagnostic]:
    """Every schema problem of a document but those of phone numbers, each reported once."""
    found = _non_finite_numbers(document)
    seen: set[Diagnostic] = set()
    for path, error in _schema_errors(document.value):
        if _is_number_path(path) and error.validator in ("type", "pattern"):
            continue  # phone numbers get a more precise check of their own
        if document.is_refused(path) or (path == _PERCENT_PATH and found):
            continue
        mark = document.mark(path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            found.extend(_unknown_keys(error, path, document, mark))
            continue
        diagnostic = diagnostic_at(mark, _schema_message(error, path))
        if diagnostic not in seen:  # the same mistake is reported once, however it was found
            seen.add(diagnostic)
            found.append(diagnostic)
    return found


def check_number_entries(document: Document, diagnostics: list[Diagnostic]) -> None:
    """What the schema cannot check of each number given as a mapping: an empty `settings:`
    (YAML reads it as null, which clears), and a label's length in UTF-16 units.

    An empty value is what a file looks like after the lines under `settings:` were deleted or
    commented out; clearing a live number's pathway must be written out as `settings: null`.
    """
    for entry_path, entry in owner_entries(document.value):
        for path, item in number_items(entry_path, entry):
            if not isinstance(item, dict):
                continue
            settings_path = (*path, "settings")
            # Under an agent, `settings` is refused whole by the schema: said once, not twice.
            if (
                path[0] == "personas"
                and "settings" in item
                and item["settings"] is None
                and document.raw.get(settings_path) == ""
            ):
                diagnostics.append(
                    diagnostic_at(
                        document.key_marks.get(settings_path, document.mark(settings_path)),
                        '"settings" is empty: write "settings: null" to clear the number\'s '
                        'settings, or give them with "pathway_id"',
                    )
                )
            label = item.get("label")
            label = label if isinstance(label, str) else ""
            units = len(label.encode("utf-16-le")) // 2
            if units > MAX_LABEL >= len(label):  # a longer label, the schema reports
                diagnostics.append(
                    diagnostic_at(
                        document.mark((*path, "label")),
                        f'"label" is {units} characters long as the API may count them (an '
                        f"emoji counts as two): at most {MAX_LABEL} are allowed",
                    )
                )


def _non_finite_numbers(document: Document) -> list[Diagnostic]:
    """The valve percentage written as .nan or .inf: JSON Schema lets nan through every bound,
    and a nan threshold would switch the valve off."""
    safety = document.value.get("safety") if isinstance(document.value, dict) else None
    value = safety.get(_PERCENT_PATH[1]) if isinstance(safety, dict) else None
    if not isinstance(value, float) or math.isfinite(value):
        return []
    written = ".nan" if math.isnan(value) else ".inf" if value > 0 else "-.inf"
    return [
        diagnostic_at(
            document.mark(_PERCENT_PATH),
            f'"{_PERCENT_PATH[1]}" must be a number from 0 to 100, not {written}',
        )
    ]


def _inline_refs(node: Any, definitions: dict[str, Any]) -> Any:
    """Replace local $refs by their definitions; phone numbers by an open schema.

    Phone numbers get check_phone_number, which is stricter than the schema's pattern and says
    what is wrong; skipping them here also keeps jsonschema off the hot path of a large file.
    """
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            return {} if name == "phoneNumber" else _inline_refs(definitions[name], definitions)
        inlined = {
            key: _inline_refs(value, definitions) for key, value in node.items() if key != "$defs"
        }
        if inlined.get("items") == {}:
            del inlined["items"]  # an open items schema only costs a descent per item
        return inlined
    if isinstance(node, list):
        return [_inline_refs(item, definitions) for item in node]
    return node


@cache
def _validators() -> tuple[
    jsonschema.protocols.Validator, dict[str, jsonschema.protocols.Validator]
]:
    """Validators of the whole file without its owner entries, and of one entry of each list.

    Split so that entries which are plainly valid (see _plainly_valid_persona) skip jsonschema:
    its descent costs tens of microseconds per entry, most of loading a 10,000-persona file.
    """
    # Imported here: a file of plainly valid entries never needs it (see _schema_errors).
    import jsonschema

    schema = load_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    inlined = _inline_refs(schema, schema.get("$defs", {}))
    entries = {
        key: cls(inlined["properties"][key].pop("items"), format_checker=cls.FORMAT_CHECKER)
        for key in OWNER_LISTS
    }
    return cls(inlined, format_checker=cls.FORMAT_CHECKER), entries


def _plainly_valid_persona(entry: Any) -> bool:
    """True for an entry the persona and agent schemas certainly accept (numbers apart).

    A conservative subset of the schema: anything unusual goes to jsonschema for its message.
    A mapping in `numbers` needs the schema; plain strings are checked apart.
    """
    if type(entry) is not dict or type(entry.get("numbers")) is not list:
        return False
    named = [entry[key] for key in ("id", "name") if key in entry]  # null is no id or name
    return (
        entry.keys() <= _PERSONA_KEYS
        and all(type(number) is str for number in entry["numbers"])
        and named != []
        and all(type(value) is str and value != "" for value in named)
    )


def _plainly_valid_top(value: dict[str, Any]) -> bool:
    """True for a document whose top level the schema certainly accepts (entries apart)."""
    return (
        value.keys() <= {"version", *OWNER_LISTS}
        and type(value.get("version")) is int
        and value["version"] == 1
        and type(value.get("personas")) is list
        and type(value.get("agents", [])) is list
    )


def _schema_errors(value: dict[str, Any]) -> Iterator[tuple[YamlPath, Any]]:
    """Every schema error of a document, with its absolute path."""
    if not _plainly_valid_top(value):
        for error in _validators()[0].iter_errors(value):
            yield tuple(error.absolute_path), error
    for key in OWNER_LISTS:
        entries = value.get(key)
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            if not _plainly_valid_persona(entry):
                for error in _validators()[1][key].iter_errors(entry):
                    yield (key, index, *error.absolute_path), error


def _is_number_entry(path: YamlPath) -> bool:
    """True for an entry of an owner's `numbers`: a phone number, or a mapping holding one."""
    return len(path) == 4 and path[0] in OWNER_LISTS and path[2] == "numbers"


def _is_number_path(path: YamlPath) -> bool:
    """True for a phone number: a string entry of `numbers`, the `number` of a mapping entry,
    or an entry of `protected`."""
    in_numbers = _is_number_entry(path[:4]) and path[4:] in ((), ("number",))
    return in_numbers or (len(path) == 2 and path[0] == "protected")


def _unknown_keys(
    error: Any, path: YamlPath, document: Document, mark: SourceMark
) -> Iterator[Diagnostic]:
    """One diagnostic per key the schema does not allow, at the key, with a likely fix."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    allowed = sorted(schema.get("properties", {}))
    for key in error.instance:
        if key in allowed:
            continue
        if key == "settings" and path[:1] == ("agents",):
            message = (
                '"settings" is not allowed here: persona settings don\'t apply to agents '
                '(remove it; an agent\'s number takes only "number" and "label")'
            )
        else:
            hint = difflib.get_close_matches(str(key)[:SHOWN_CHARS], allowed, n=1)
            suffix = (
                f' (did you mean "{hint[0]}"?)' if hint else f" (allowed: {', '.join(allowed)})"
            )
            message = f"unknown key {shown(json.dumps(str(key)))}{suffix}"
        yield diagnostic_at(document.key_marks.get((*path, key), mark), message)


_TYPE_WORDS = {
    "array": "a list",
    "object": "a mapping",
    "string": "a string",
    "integer": "a whole number",
    "null": "null",
}


def _describe_path(path: YamlPath) -> str:
    """The value at path as a message names it: its key, or its item number in its list."""
    if not path:
        return "the top level"
    name = path[-1]
    if isinstance(name, int):
        return f"item {name + 1} of {shown(json.dumps(str(path[-2])))}" if len(path) > 1 else "item"
    return shown(json.dumps(name))


def _schema_message(error: Any, path: YamlPath) -> str:
    kind, value = error.validator, error.instance
    entry = "an agent entry" if path[:1] == ("agents",) else "a persona entry"
    if kind == "required":
        # jsonschema raises one error per missing key; its message is the only place that
        # names which one ("'version' is a required property").
        missing = [key for key in error.validator_value if key not in (value or {})]
        first = missing[0] if missing else "?"
        key = next((key for key in missing if error.message.startswith(repr(key))), first)
        name = _describe_path(path)
        if len(path) == 2 and path[0] in OWNER_LISTS:
            name = entry
        elif _is_number_entry(path):
            name = "a number given as a mapping"
        return f"{name} is missing the required key {json.dumps(key)}"
    if kind == "anyOf" and path[:1] in (("personas",), ("agents",)):
        return f'{entry} needs an "id" or a "name"'
    if kind == "const":
        scalar = isinstance(value, str | int | float) and not isinstance(value, bool)
        written = shown_json(value) if scalar else type_name(value)
        return f"{_describe_path(path)} must be {json.dumps(error.validator_value)}, not {written}"
    if kind == "type":
        expected = error.validator_value
        kinds = expected if isinstance(expected, list) else [expected]
        wanted = " or ".join(_TYPE_WORDS.get(kind, f"of type {kind}") for kind in kinds)
        hint = " (write [] for none)" if value is None and expected == "array" else ""
        if value is None and path[-1:] == ("label",):
            hint = ' (write "" to clear the label)'
        return f"{_describe_path(path)} must be {wanted}, not {type_name(value)}{hint}"
    if kind == "minLength":
        return f"{_describe_path(path)} must not be empty"
    if kind == "maxLength" and isinstance(value, str):
        return (
            f"{_describe_path(path)} is {len(value)} characters long: "
            f"at most {error.validator_value} are allowed"
        )
    return f"{_describe_path(path)}: {shown(one_line(error.message), 200)}"
