"""Check a document against the config's JSON Schema, and what the schema cannot express, in
messages that say what to change."""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from reconciler.config.yaml_reader import Document, YamlPath
from reconciler.errors import Diagnostic
from reconciler.text import SHOWN_CHARS, one_line, shown, shown_json, type_name

# The lists of owner entries, written alike: a persona's and an agent's.
OWNER_LISTS = ("personas", "agents")
_PERCENT_PATH: YamlPath = ("safety", "max_detach_percent")
# The API's limit on a label, held in characters (the schema) and in the UTF-16 units a JavaScript
# server counts (an emoji is two), so that the API cannot refuse a label half-way through an apply.
MAX_LABEL = 150
_TYPE_WORDS = {
    "array": "a list",
    "object": "a mapping",
    "string": "a string",
    "integer": "a whole number",
    "null": "null",
}


def load_schema() -> dict[str, Any]:
    """The published JSON Schema of the config file."""
    text = resources.files("reconciler").joinpath("personas.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_diagnostics(document: Document) -> list[Diagnostic]:
    """Every problem the schema finds in a document, each reported once (phone numbers apart, see
    _inline_refs), and a valve percentage of .nan or .inf: JSON Schema lets nan through every
    bound, and a nan threshold would switch the valve off."""
    found = []
    safety = document.value.get("safety")
    percent = safety.get(_PERCENT_PATH[1]) if isinstance(safety, dict) else None
    if isinstance(percent, float) and not math.isfinite(percent):
        written = ".nan" if math.isnan(percent) else ".inf" if percent > 0 else "-.inf"
        message = f'"{_PERCENT_PATH[1]}" must be a number from 0 to 100, not {written}'
        found.append(Diagnostic(*document.mark(_PERCENT_PATH), message))
    for path, error in _schema_errors(document.value):
        # A number entry that is neither a string nor a mapping (the phone check reports it).
        number_type = _is_number_entry(path) and error.validator == "type"
        if number_type or document.is_refused(path) or (path == _PERCENT_PATH and found):
            continue
        mark = document.mark(path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = sorted(error.schema.get("properties", {}))
            for key in [key for key in error.instance if key not in allowed]:
                key_mark = document.key_marks.get((*path, key), mark)
                found.append(Diagnostic(*key_mark, _unknown_key(key, path, allowed)))
        else:
            found.append(Diagnostic(*mark, _schema_message(error, path)))
    # The same mistake is reported once, however it was found.
    return list(dict.fromkeys(found))


def number_mapping_problems(
    document: Document, path: YamlPath, item: dict[str, Any]
) -> Iterator[Diagnostic]:
    """What the schema cannot check of a number given as a mapping: an empty `settings:` (what
    is left when the lines under it were deleted: YAML reads it as null, which clears), and a
    label's length in UTF-16 units."""
    settings_path = (*path, "settings")
    # Under an agent, `settings` is refused whole by the schema: said once, not twice.
    if path[0] == "personas" and document.raw.get(settings_path) == "":
        mark = document.key_marks[settings_path]  # a value in raw has its key's mark
        message = '"settings" is empty: write "settings: null" to clear the number\'s settings, '
        yield Diagnostic(*mark, message + 'or give them with "pathway_id"')
    label = item.get("label", "")
    units = len(label.encode("utf-16-le")) // 2 if isinstance(label, str) else 0
    if units > MAX_LABEL >= len(label):  # longer in characters too, the schema reports it
        message = f'"label" is {units} characters long as the API may count them (an emoji '
        message += f"counts as two): at most {MAX_LABEL} are allowed"
        yield Diagnostic(*document.mark((*path, "label")), message)


def _inline_refs(node: Any, definitions: dict[str, Any]) -> Any:
    """Local $refs replaced by their definitions (jsonschema resolves a $ref slowly), and phone
    numbers' by an open schema: they get a check of their own."""
    if isinstance(node, list):
        return [_inline_refs(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    name = str(node.get("$ref", "")).removeprefix("#/$defs/")
    if name in definitions:
        return {} if name == "phoneNumber" else _inline_refs(definitions[name], definitions)
    return {key: _inline_refs(value, definitions) for key, value in node.items() if key != "$defs"}


@cache
def _validators() -> dict[str, Any]:
    """A validator of one entry of each owner list, and ("") of the file without those entries:
    plainly valid entries skip jsonschema, whose descent was most of loading 10,000 personas."""
    # Imported here: a file of plainly valid entries never needs it (see _schema_errors).
    import jsonschema

    schema = load_schema()
    cls = jsonschema.validators.validator_for(schema)
    inlined = _inline_refs(schema, schema["$defs"])
    validators = {key: cls(inlined["properties"][key].pop("items")) for key in OWNER_LISTS}
    return {"": cls(inlined), **validators}


def _plainly_valid_entry(entry: Any) -> bool:
    """True for an entry the persona and agent schemas certainly accept (numbers apart): a
    conservative subset of the schema, as anything unusual goes to jsonschema for its message."""
    if type(entry) is not dict or type(entry.get("numbers")) is not list:
        return False
    named = [entry[key] for key in ("id", "name") if key in entry]  # null is no id or name
    return (
        entry.keys() <= {"id", "name", "numbers"}
        and all(type(number) is str for number in entry["numbers"])
        and named != []
        and all(type(value) is str and value != "" for value in named)
    )


def _schema_errors(value: dict[str, Any]) -> Iterator[tuple[YamlPath, Any]]:
    """Every schema error of a document, with its absolute path."""
    plain_top = (
        value.keys() <= {"version", *OWNER_LISTS}
        and type(value.get("version")) is int
        and value["version"] == 1
        and type(value.get("personas")) is list
        and type(value.get("agents", [])) is list
    )
    if not plain_top:
        for error in _validators()[""].iter_errors(value):
            yield tuple(error.absolute_path), error
    for key in OWNER_LISTS:
        entries = value.get(key)
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            if not _plainly_valid_entry(entry):
                for error in _validators()[key].iter_errors(entry):
                    yield (key, index, *error.absolute_path), error


def _is_number_entry(path: YamlPath) -> bool:
    """True for an entry of an owner's `numbers`."""
    return len(path) == 4 and path[0] in OWNER_LISTS and path[2] == "numbers"


def _unknown_key(key: Any, path: YamlPath, allowed: list[str]) -> str:
    """What to say of a key the schema does not allow, with a likely fix."""
    if key == "settings" and path[:1] == ("agents",):
        fix = 'remove it; an agent\'s number takes only "number" and "label"'
        return f'"settings" is not allowed here: persona settings don\'t apply to agents ({fix})'
    hint = difflib.get_close_matches(str(key)[:SHOWN_CHARS], allowed, n=1)
    fix = f'did you mean "{hint[0]}"?' if hint else f"allowed: {', '.join(allowed)}"
    return f"unknown key {shown(json.dumps(str(key)))} ({fix})"


def _schema_message(error: Any, path: YamlPath) -> str:
    """What to say of a schema error; the value is named by its key, or its place in its list."""
    kind, value, expected = error.validator, error.instance, error.validator_value
    name = shown(json.dumps(path[-1])) if path else "the top level"
    if path and isinstance(path[-1], int):  # a list is never the top level: it has a key
        name = f"item {path[-1] + 1} of {shown(json.dumps(path[-2]))}"
    entry = "an agent entry" if path[:1] == ("agents",) else "a persona entry"
    if kind == "required":
        # jsonschema raises one error per missing key; its message is the only place that
        # names which one ("'version' is a required property").
        key = next((key for key in expected if error.message.startswith(repr(key))), "?")
        if len(path) == 2 and path[0] in OWNER_LISTS:
            name = entry
        elif _is_number_entry(path):
            name = "a number given as a mapping"
        return f"{name} is missing the required key {json.dumps(key)}"
    if kind == "anyOf":  # only owner entries have one
        return f'{entry} needs an "id" or a "name"'
    if kind == "const":
        scalar = isinstance(value, str | int | float) and not isinstance(value, bool)
        written = shown_json(value) if scalar else type_name(value)
        return f"{name} must be {json.dumps(expected)}, not {written}"
    if kind == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        wanted = " or ".join(_TYPE_WORDS.get(word, f"of type {word}") for word in kinds)
        hint = " (write [] for none)" if value is None and expected == "array" else ""
        if value is None and path[-1:] == ("label",):
            hint = ' (write "" to clear the label)'
        return f"{name} must be {wanted}, not {type_name(value)}{hint}"
    if kind == "minLength":
        return f"{name} must not be empty"
    if kind == "maxLength" and isinstance(value, str):
        return f"{name} is {len(value)} characters long: at most {expected} are allowed"
    return f"{name}: {shown(one_line(error.message), 200)}"
