"""Read config files into a Desired state, pointing every problem at its file, line and column.

YAML lets many mistakes through silently (a repeated key keeps the last value, an unquoted
+14155550100 becomes an integer), so the document is built from parser events here rather than
with yaml.safe_load: that keeps a position for every value and refuses what plain data never needs
(tags, anchors, aliases, merge keys).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import stat
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import phonenumbers
import yaml
import yaml.events as ev

from reconciler.errors import ConfigError, Diagnostic, InputError
from reconciler.model import Desired, DesiredPersona, SafetySettings, SourceMark

if TYPE_CHECKING:
    import jsonschema

DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024
SCHEMA_PATH = Path(__file__).with_name("personas.schema.json")

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_TAG = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_TAG + name for name in ("str", "int", "float", "bool", "null", "seq", "map")}
_CANONICAL = re.compile(r"\+[1-9][0-9]{1,14}\Z")
_LOOSE_CHARS = re.compile(r"[\s\-().\u00a0\u2010-\u2015]")
# What YAML 1.1 and 1.2 call printable; anything else (NUL, other C0 controls, DEL, C1 controls)
# is refused by the parser with a position-less message, so it is found here first.
_NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CONTENT_LINE = re.compile(r"^[^\S\n]*[^\s#]", re.MULTILINE)
# A config never needs more than five levels; a limit far above that keeps a hostile file from
# costing anything, whichever YAML parser is installed.
MAX_DEPTH = 64
# Values are shown in messages, but a 5 MB string must not become a 5 MB line.
_SHOWN_CHARS = 60

Path_ = tuple[str | int, ...]
_DISCARD = object()
# Plain words the YAML resolver reads as strings (none is a bool, null or number word).
_PLAIN_WORDS = frozenset({"version", "personas", "id", "name", "numbers", "protected", "safety"})
_QUOTED = frozenset({"'", '"'})


@dataclass
class _Document:
    """A YAML document as plain data, with the position of every value and of every mapping key."""

    file: str
    value: Any = None
    marks: dict[Path_, SourceMark] = field(default_factory=dict)
    key_marks: dict[Path_, SourceMark] = field(default_factory=dict)
    raw: dict[Path_, str] = field(default_factory=dict)
    # Values already reported as refused YAML (tags, aliases, merge keys): the schema and the
    # phone checks stay quiet about them rather than repeat the same mistake in other words.
    refused: set[Path_] = field(default_factory=set)

    def mark(self, path: Path_) -> SourceMark:
        """The position of the value at path, or of its nearest ancestor."""
        found = self.marks.get(path)
        while found is None and path:
            path = path[:-1]
            found = self.marks.get(path)
        return found if found is not None else SourceMark(self.file, 1, 1)


@dataclass
class _Frame:
    container: dict[Any, Any] | list[Any]
    path: Path_
    mark: SourceMark
    flow: bool = False
    pending_key: Any = None
    has_key: bool = False


class _Builder:
    """Builds plain data from YAML events, keeping positions and collecting problems."""

    def __init__(self, document: _Document) -> None:
        self.document = document
        self.diagnostics: list[Diagnostic] = []
        self.stack: list[_Frame] = []
        self.has_root = False
        self.too_deep = False

    def problem(self, mark: SourceMark, message: str) -> None:
        self.diagnostics.append(Diagnostic(mark.file, mark.line, mark.column, message))

    def child_path(self) -> Path_ | None:
        """Path of the next value, or None when the next value is a mapping key."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.container, list):
            return (*top.path, len(top.container))
        if not top.has_key:
            return None
        key = top.pending_key
        return (*top.path, key if isinstance(key, str | int) else str(key))

    def add(self, value: Any, mark: SourceMark, raw: str | None = None) -> None:
        path = self.child_path()
        if not self.stack:
            self.document.value = value
            self.document.marks[()] = mark
            self.has_root = True
            return
        top = self.stack[-1]
        if isinstance(top.container, list):
            assert path is not None
            top.container.append(value)
            self.document.marks[path] = mark
            if raw is not None:
                self.document.raw[path] = raw
            return
        if path is None:
            self.add_key(top, value, mark)
            return
        if top.pending_key is not _DISCARD:
            top.container[top.pending_key] = value
        self.document.marks[path] = mark
        if raw is not None:
            self.document.raw[path] = raw
        top.pending_key, top.has_key = None, False

    def add_key(self, top: _Frame, key: Any, mark: SourceMark) -> None:
        assert isinstance(top.container, dict)
        if isinstance(key, dict | list):
            self.problem(mark, "a mapping key must be a plain value, not a list or mapping")
            top.pending_key, top.has_key = _DISCARD, True  # reported once, not as unknown too
            return
        key_path = (*top.path, key if isinstance(key, str | int) else str(key))
        if key in top.container:
            first = self.document.key_marks[key_path]
            self.problem(
                mark,
                f"duplicate key {json.dumps(str(key))} (first at line {first.line}; "
                "YAML would silently keep only the last one)",
            )
            # Keep the first value: the later one is reported and must be removed.
            key = _DISCARD
        else:
            self.document.key_marks[key_path] = mark
        top.pending_key, top.has_key = key, True

    def scalar(self, event: ev.ScalarEvent, mark: SourceMark) -> None:
        tag = event.tag
        if tag in (None, "!"):
            # Quoted, block and "!"-tagged scalars are strings; only plain ones are resolved.
            if tag == "!" or not event.implicit[0]:
                self.add(event.value, mark)
                return
            if event.value in _PLAIN_WORDS:
                # The config's own keys, thousands of times in a large file: the resolver would
                # say str for each of them.
                self.add(event.value, mark)
                return
            tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, (True, False))  # type: ignore[no-untyped-call]
        if tag == _TAG + "merge":
            self.problem(mark, "merge keys (<<) are not allowed: write the values out")
            if self.stack:
                self.document.refused.add(self.stack[-1].path)
            self.add(event.value, mark)
            return
        if tag not in _ALLOWED_TAGS and tag != _TAG + "timestamp":
            self.problem(
                mark, f"tag {_short_tag(tag)} is not allowed: the config holds plain data only"
            )
            self.refuse_next()
            self.add(event.value, mark)
            return
        if tag in (_TAG + "seq", _TAG + "map"):
            self.problem(mark, f"tag {_short_tag(tag)} on a single value: remove the tag")
            self.refuse_next()
            self.add(event.value, mark)
            return
        if tag == _TAG + "timestamp":
            self.add(event.value, mark)  # no field holds a date: keep it as written
            return
        node = yaml.ScalarNode(tag, event.value, None, None, event.style)
        try:
            value = _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node)
        except Exception:  # an explicit !!bool maybe raises KeyError, not a YAMLError
            shown = _shown(json.dumps(event.value, ensure_ascii=False))
            self.problem(mark, f"{shown} is not a valid {_short_tag(tag)}: remove the tag")
            self.refuse_next()
            self.add(event.value, mark)
            return
        self.add(value, mark, raw=None if isinstance(value, str) else event.value)

    def refuse_next(self) -> None:
        """Mark the value about to be added as already reported."""
        path = self.child_path()
        if path is None and self.stack:
            path = self.stack[-1].path  # a refused mapping key: its mapping is unreliable
        if path is not None:
            self.document.refused.add(path)

    def start(self, event: ev.CollectionStartEvent, mark: SourceMark) -> None:
        path = self.child_path()
        container: dict[Any, Any] | list[Any] = (
            {} if isinstance(event, ev.MappingStartEvent) else []
        )
        flow = bool(event.flow_style)
        if path is None:
            # A collection used as a mapping key: record it as a key, then swallow its content.
            top = self.stack[-1]
            self.add_key(top, container, mark)
            path = (*top.path, str(top.pending_key))
            self.stack.append(_Frame(container, path, mark, flow))
            return
        self.document.marks[path] = mark
        self.stack.append(_Frame(container, path, mark, flow))

    def end(self) -> None:
        frame = self.stack.pop()
        if not self.stack:
            self.document.value = frame.container
            self.has_root = True
            return
        top = self.stack[-1]
        if isinstance(top.container, list):
            top.container.append(frame.container)
        elif top.has_key:
            if top.pending_key is not _DISCARD:
                top.container[top.pending_key] = frame.container
            top.pending_key, top.has_key = None, False

    def feed(self, events: Iterable[ev.Event]) -> None:
        documents = 0
        file = self.document.file
        marks = self.document.marks
        stack = self.stack
        for event in events:
            if (
                type(event) is ev.ScalarEvent
                and event.tag is None
                and event.anchor is None
                and event.style in _QUOTED
                and stack
                and event.start_mark is not None
            ):
                container = stack[-1].container
                if type(container) is list:
                    # The hot path of a large file: a quoted phone number in a list. The same
                    # result as scalar() -> add(), without the calls and checks around them.
                    start = event.start_mark
                    marks[(*stack[-1].path, len(container))] = SourceMark(
                        file, start.line + 1, start.column + 1
                    )
                    container.append(event.value)
                    continue
            mark = _mark(file, event.start_mark)
            if isinstance(event, ev.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    self.problem(mark, "more than one YAML document: put everything in one")
                    return
                continue
            if isinstance(event, ev.AliasEvent):
                # Never expanded: a few aliases of aliases would otherwise grow exponentially.
                self.problem(
                    mark,
                    f"aliases (*{_shown(str(event.anchor))}) are not allowed: write the value out",
                )
                self.refuse_next()
                self.add(None, mark)
                continue
            anchor = getattr(event, "anchor", None)
            if anchor is not None:
                self.problem(mark, f"anchors (&{_shown(anchor)}) are not allowed: write values out")
            if isinstance(event, ev.CollectionStartEvent):
                if len(self.stack) >= MAX_DEPTH:
                    self.problem(
                        mark,
                        f"nested more than {MAX_DEPTH} levels deep: the config needs at most 4",
                    )
                    self.too_deep = True
                    return
                tag = event.tag
                if tag not in (None, "!", _TAG + "seq", _TAG + "map"):
                    self.problem(
                        mark,
                        f"tag {_short_tag(tag)} is not allowed: the config holds plain data only",
                    )
                    self.refuse_next()
                self.start(event, mark)
            elif isinstance(event, ev.CollectionEndEvent):
                self.end()
            elif isinstance(event, ev.ScalarEvent):
                self.scalar(event, mark)


def _shown(text: str, limit: int = _SHOWN_CHARS) -> str:
    """A value as it may appear in a message: on one line, and a very long one cut."""
    if not text.isprintable():
        # U+2028 and the like would break the message's line in some viewers.
        text = "".join(char if char.isprintable() else f"\\u{ord(char):04x}" for char in text)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}...({len(text):,} characters)"


def _short_tag(tag: str | None) -> str:
    return _shown("!!" + tag[len(_TAG) :] if tag and tag.startswith(_TAG) else str(tag))


def _mark(file: str, mark: Any) -> SourceMark:
    if mark is None:
        return SourceMark(file, 1, 1)
    return SourceMark(file, mark.line + 1, mark.column + 1)


def _position(file: str, text: str, index: int) -> SourceMark:
    """The line and column (both from 1, columns in characters) of a character index."""
    line_start = text.rfind("\n", 0, index) + 1
    return SourceMark(file, text.count("\n", 0, index) + 1, index - line_start + 1)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _yaml_error(error: yaml.MarkedYAMLError, text: str, builder: _Builder, file: str) -> Diagnostic:
    """One diagnostic for a YAML syntax error, pointing where the fix belongs."""
    problem = _one_line(error.problem or "invalid YAML")
    mark = error.problem_mark or error.context_mark
    where = _mark(file, mark)
    index = mark.index if mark is not None else 0
    if 0 <= index < len(text) and text[index] == "\t":
        before = text[text.rfind("\n", 0, index) + 1 : index]
        message = (
            "tab character used for indentation: YAML needs spaces"
            if not before.strip(" \t")
            else f'tab character after "{before.strip()[-1:]}": YAML needs a space here'
        )
        return Diagnostic(file, where.line, where.column, message)
    if "maximum nesting depth" in problem:
        return Diagnostic(
            file,
            where.line,
            where.column,
            f"nested more than {MAX_DEPTH} levels deep: the config needs at most 4",
        )
    at_end = not text[index:].strip()
    open_flow = next((frame for frame in reversed(builder.stack) if frame.flow), None)
    if at_end and open_flow is not None:
        # The parser notices only at the end of the file; the fix belongs at the bracket.
        opened = "{" if isinstance(open_flow.container, dict) else "["
        closing = "}" if opened == "{" else "]"
        return Diagnostic(
            file,
            open_flow.mark.line,
            open_flow.mark.column,
            f'"{opened}" is never closed: add the matching "{closing}"',
        )
    context = _one_line(error.context or "")
    context_mark = error.context_mark
    if at_end and context_mark is not None and "quoted scalar" in context:
        quote = text[context_mark.index] if context_mark.index < len(text) else '"'
        return Diagnostic(
            file,
            context_mark.line + 1,
            context_mark.column + 1,
            f"the quote {quote} is never closed: add the matching {quote}",
        )
    message = f"invalid YAML: {problem}"
    if context and context_mark is not None:
        message += f" ({context} that starts at line {context_mark.line + 1})"
    return Diagnostic(file, where.line, where.column, message)


def _decode(file: str, content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if content.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise ConfigError(
                [Diagnostic(file, 1, 1, "the file is UTF-16 text: save it as UTF-8")]
            ) from None
        line_start = content.rfind(b"\n", 0, error.start) + 1
        line = content.count(b"\n", 0, error.start) + 1
        # Columns count characters, as for every other message.
        column = len(content[line_start : error.start].decode("utf-8", "replace")) + 1
        bad = content[error.start : error.start + 1].hex()
        raise ConfigError(
            [Diagnostic(file, line, column, f"the file is not UTF-8 text (byte 0x{bad})")]
        ) from None


def _control_character(file: str, text: str) -> Diagnostic | None:
    found = _NOT_PRINTABLE.search(text)
    if found is None:
        return None
    where = _position(file, text, found.start())
    code = ord(found.group())
    name = " (NUL)" if code == 0 else ""
    return Diagnostic(
        file,
        where.line,
        where.column,
        f"control character U+{code:04X}{name} is not allowed in YAML: remove it",
    )


def _is_empty(text: str) -> bool:
    """True when the text has nothing but blank lines and comments."""
    return _CONTENT_LINE.search(text) is None


def parse_yaml(file: str, content: bytes) -> tuple[_Document | None, list[Diagnostic]]:
    """Parse one file's bytes into a positioned document and the problems found on the way.

    The document is None when the YAML could not be parsed at all.
    """
    text = _decode(file, content)
    document = _Document(file)
    if _is_empty(text):
        return None, [Diagnostic(file, 1, 1, "the file is empty (expected 'version: 1')")]
    control = _control_character(file, text)
    if control is not None:
        return None, [control]
    builder = _Builder(document)
    try:
        builder.feed(yaml.parse(text, Loader=_Loader))
    except yaml.MarkedYAMLError as error:
        builder.diagnostics.append(_yaml_error(error, text, builder, file))
        return None, builder.diagnostics
    except yaml.YAMLError as error:
        index = getattr(error, "position", 0)
        where = _position(file, text, index if isinstance(index, int) else 0)
        reason = _one_line(str(getattr(error, "reason", "") or error))
        builder.problem(where, f"invalid YAML: {reason}")
        return None, builder.diagnostics
    if builder.too_deep:
        return None, builder.diagnostics
    return document, builder.diagnostics


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    """Replace local $refs by their definitions; phone numbers by an open schema.

    Phone numbers get check_phone_number, which is stricter than the schema's pattern and says
    what is wrong; skipping them here also keeps jsonschema off the hot path of a large file.
    """
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            return {} if name == "phoneNumber" else _inline(definitions[name], definitions)
        inlined = {
            key: _inline(value, definitions) for key, value in node.items() if key != "$defs"
        }
        if inlined.get("items") == {}:
            del inlined["items"]  # an open items schema only costs a descent per item
        return inlined
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    return node


def load_schema() -> dict[str, Any]:
    """The published JSON Schema of the config file."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


@cache
def _validators() -> tuple[jsonschema.protocols.Validator, jsonschema.protocols.Validator]:
    """Validators of the whole file without its persona entries, and of one persona entry.

    Split so that entries which are plainly valid (see _plainly_valid_persona) skip jsonschema:
    its descent costs tens of microseconds per entry, most of loading a 10,000-persona file.
    """
    # Imported here: a file of plainly valid entries never needs it (see _schema_errors).
    import jsonschema

    schema = load_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    inlined = _inline(schema, schema.get("$defs", {}))
    personas = inlined["properties"]["personas"]
    persona_schema = personas.pop("items")
    return (
        cls(inlined, format_checker=cls.FORMAT_CHECKER),
        cls(persona_schema, format_checker=cls.FORMAT_CHECKER),
    )


_PERSONA_KEYS = frozenset({"id", "name", "numbers"})


def _plainly_valid_persona(entry: Any) -> bool:
    """True for an entry the persona schema certainly accepts (numbers are checked apart).

    A conservative subset of the schema: anything unusual goes to jsonschema for its message.
    """
    if type(entry) is not dict or type(entry.get("numbers")) is not list:
        return False
    if not entry.keys() <= _PERSONA_KEYS:
        return False
    persona_id, name = entry.get("id"), entry.get("name")
    if persona_id is None and name is None:
        return False
    return all(
        value is None or (type(value) is str and value != "") for value in (persona_id, name)
    )


def _plainly_valid_top(value: Any) -> bool:
    """True for a document whose top level the schema certainly accepts (entries apart)."""
    return (
        type(value) is dict
        and value.keys() <= {"version", "personas"}
        and type(value.get("version")) is int
        and value["version"] == 1
        and type(value.get("personas")) is list
    )


def _schema_errors(value: Any) -> Iterator[tuple[Path_, Any]]:
    """Every schema error of a document, with its absolute path."""
    if not _plainly_valid_top(value):
        whole, _ = _validators()
        for error in whole.iter_errors(value):
            yield tuple(error.absolute_path), error
    entries = value.get("personas") if isinstance(value, dict) else None
    if not isinstance(entries, list):
        return
    for index, entry in enumerate(entries):
        if _plainly_valid_persona(entry):
            continue
        _, persona = _validators()
        for error in persona.iter_errors(entry):
            yield ("personas", index, *error.absolute_path), error


def _is_number_path(path: Path_) -> bool:
    return (len(path) == 4 and path[0] == "personas" and path[2] == "numbers") or (
        len(path) == 2 and path[0] == "protected"
    )


def _type_name(value: Any) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _where(path: Path_) -> str:
    if not path:
        return "the top level"
    name = path[-1]
    if isinstance(name, int):
        return (
            f"item {name + 1} of {_shown(json.dumps(str(path[-2])))}" if len(path) > 1 else "item"
        )
    return _shown(json.dumps(name))


def _schema_diagnostics(document: _Document) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    seen: set[Diagnostic] = set()
    for path, error in _schema_errors(document.value):
        if _is_number_path(path) and error.validator in ("type", "pattern"):
            continue  # phone numbers get a more precise check of their own
        if document.refused and _is_refused(document, path):
            continue
        mark = document.mark(path)
        message = _schema_message(error, path, document)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            schema = error.schema if isinstance(error.schema, dict) else {}
            allowed = sorted(schema.get("properties", {}))
            extra = [key for key in error.instance if key not in allowed]
            for key in extra:
                key_mark = document.key_marks.get((*path, key), mark)
                hint = difflib.get_close_matches(str(key)[:_SHOWN_CHARS], allowed, n=1)
                suffix = (
                    f' (did you mean "{hint[0]}"?)' if hint else f" (allowed: {', '.join(allowed)})"
                )
                found.append(
                    Diagnostic(
                        key_mark.file,
                        key_mark.line,
                        key_mark.column,
                        f"unknown key {_shown(json.dumps(str(key)))}{suffix}",
                    )
                )
            continue
        diagnostic = Diagnostic(mark.file, mark.line, mark.column, message)
        if diagnostic not in seen:  # the same mistake is reported once, however it was found
            seen.add(diagnostic)
            found.append(diagnostic)
    return found


def _is_refused(document: _Document, path: Path_) -> bool:
    return any(path[:size] in document.refused for size in range(len(path) + 1))


def _schema_message(error: Any, path: Path_, document: _Document) -> str:
    kind = error.validator
    value = error.instance
    if kind == "required":
        # jsonschema raises one error per missing key; its message is the only place that
        # names which one ("'version' is a required property").
        missing = [key for key in error.validator_value if key not in (value or {})]
        key = next((key for key in missing if error.message.startswith(repr(key))), None)
        if key is None:
            key = missing[0] if missing else "?"
        name = "a persona entry" if path[:1] == ("personas",) and len(path) == 2 else _where(path)
        return f"{name} is missing the required key {json.dumps(key)}"
    if kind == "anyOf" and path[:1] == ("personas",):
        return 'a persona entry needs an "id" or a "name"'
    if kind == "const":
        scalar = isinstance(value, str | int | float) and not isinstance(value, bool)
        shown = _shown(json.dumps(value, ensure_ascii=False)) if scalar else _type_name(value)
        return f"{_where(path)} must be {json.dumps(error.validator_value)}, not {shown}"
    if kind == "type":
        expected = error.validator_value
        wanted = {"array": "a list", "object": "a mapping", "string": "a string"}.get(
            expected, f"of type {expected}"
        )
        hint = " (write [] for none)" if value is None and expected == "array" else ""
        return f"{_where(path)} must be {wanted}, not {_type_name(value)}{hint}"
    if kind == "minLength":
        return f"{_where(path)} must not be empty"
    return f"{_where(path)}: {_shown(_one_line(error.message), 200)}"


@cache
def _possible_for(country_code: int, length: int, leading_zero: bool) -> bool:
    number = phonenumbers.PhoneNumber(
        country_code=country_code,
        national_number=int("1" + "0" * (length - 1)) if not leading_zero else 1,
        italian_leading_zero=leading_zero or None,
        number_of_leading_zeros=length - 1 if leading_zero else None,
    )
    return bool(phonenumbers.is_possible_number(number))


def _country_code(digits: str) -> int | None:
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return code
    return None


_CHECK_FULLY = "check fully"


@cache
def _verdict(prefix: str, digit_count: int) -> str | None:
    """What the country code and length alone say (numbers of a large file share both).

    A template for the message, None when possible, or _CHECK_FULLY for a subscriber number
    starting with 0, which depends on more than the length.
    """
    code = _country_code(prefix)
    if code is None:
        return "{number} has no valid country code"
    code_length = len(str(code))
    if digit_count == code_length:
        return "{number} has a country code but no subscriber number"
    if prefix[code_length : code_length + 1] == "0":
        return _CHECK_FULLY
    if _possible_for(code, digit_count - code_length, False):
        return None
    return f"{{number}} is not a possible phone number for country code +{code} (wrong length)"


def _impossible_reason(number: str) -> str | None:
    """Why a canonical-looking E.164 number cannot exist, or None when it is possible."""
    verdict = _verdict(number[1:5], len(number) - 1)
    if verdict is None:
        return None
    if verdict is not _CHECK_FULLY:
        return verdict.replace("{number}", number)
    return _impossible_reason_fully(number)


def _impossible_reason_fully(number: str) -> str | None:
    digits = number[1:]
    code = _country_code(digits)
    if code is None:
        return f"{number} has no valid country code"
    national = digits[len(str(code)) :]
    if not national:
        return f"{number} has a country code but no subscriber number"
    leading_zero = national.startswith("0") and len(national.lstrip("0")) > 0
    if national.startswith("0") and len(national.lstrip("0")) == 0:
        return f"{number} is not a possible phone number"
    if leading_zero:
        try:
            possible = phonenumbers.is_possible_number(phonenumbers.parse(number, None))
        except phonenumbers.NumberParseException:
            possible = False
    else:
        possible = _possible_for(code, len(national), False)
    if not possible:
        return f"{number} is not a possible phone number for country code +{code} (wrong length)"
    return None


def _ascii_digits(text: str) -> str:
    """Other scripts' decimal digits (Arabic-Indic, Devanagari, ...) as ASCII digits."""
    if text.isascii():
        return text
    return "".join(
        str(unicodedata.decimal(char)) if unicodedata.decimal(char, None) is not None else char
        for char in text
    )


def suggest_e164(value: str) -> str | None:
    """A canonical E.164 form of a loosely written number, or None when there is none."""
    if len(value) > _SHOWN_CHARS:
        return None  # nothing that long is a loosely written phone number
    # NFKC turns fullwidth digits and plus signs into ASCII ones.
    loose = _LOOSE_CHARS.sub("", _ascii_digits(unicodedata.normalize("NFKC", value)))
    if loose.startswith("00"):
        loose = "+" + loose[2:]
    elif not loose.startswith("+"):
        loose = "+" + loose
    return loose if _CANONICAL.fullmatch(loose) else None


_E164_HINT = '"+", the country code and the number, digits only, e.g. "+14155550100"'


def check_phone_number(value: Any, raw: str | None) -> str | None:
    """The message for a value that is not a canonical, possible E.164 number, else None."""
    if isinstance(value, str):
        if _CANONICAL.fullmatch(value):
            return _impossible_reason(value)
        shown = _shown(json.dumps(value, ensure_ascii=False))
        if re.fullmatch(r"\+[0-9]{16,}", value):
            return f"{shown} has {len(value) - 1} digits: E.164 allows at most 15"
        if value.startswith("+0"):
            return f"{shown} is not an E.164 phone number: no country code starts with 0"
        suggestion = suggest_e164(value)
        if suggestion is not None and suggestion != value:
            reason = _impossible_reason(suggestion)
            if reason is None:
                return f'{shown} is not canonical E.164: did you mean "{suggestion}"?'
        return f"{shown} is not an E.164 phone number ({_E164_HINT})"
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Shown as written: YAML may have read it as something else (014 is octal 12).
        written = _shown(raw if raw is not None else str(value))
        if re.fullmatch(r"\+?[0-9_]+", written):
            quoted = "+" + written.lstrip("+").replace("_", "")
            if _CANONICAL.fullmatch(quoted) and _impossible_reason(quoted) is None:
                return f'{written} is a number, not a string: quote it as "{quoted}"'
        return f"{written} is a number, not a string: quote it and write it in E.164 ({_E164_HINT})"
    return f"a phone number must be a quoted string, not {_type_name(value)}"


@dataclass(frozen=True)
class _Seen:
    mark: SourceMark


def _check_numbers(document: _Document, diagnostics: list[Diagnostic]) -> None:
    value = document.value
    groups: list[tuple[Path_, Any]] = []
    personas = value.get("personas")
    if isinstance(personas, list):
        for index, persona in enumerate(personas):
            if isinstance(persona, dict) and isinstance(persona.get("numbers"), list):
                groups.append((("personas", index, "numbers"), persona["numbers"]))
    if isinstance(value.get("protected"), list):
        groups.append((("protected",), value["protected"]))
    for base, numbers in groups:
        for index, number in enumerate(numbers):
            path = (*base, index)
            if document.refused and _is_refused(document, path):
                continue
            # Cheap test first: most numbers in a large file are already canonical and possible.
            if isinstance(number, str) and _CANONICAL.fullmatch(number):
                message = _impossible_reason(number)
            else:
                message = check_phone_number(number, document.raw.get(path))
            if message is not None:
                mark = document.mark(path)
                diagnostics.append(Diagnostic(mark.file, mark.line, mark.column, message))


def _unreadable(path: Path, error: OSError) -> InputError:
    if isinstance(error, FileNotFoundError | NotADirectoryError):
        return InputError(f"{path}: no such file")
    reason = error.strerror or type(error).__name__
    return InputError(f"{path}: cannot read the file ({reason.lower()})")


def _iter_files(paths: Sequence[str | Path], problems: list[str]) -> Iterator[Path]:
    """The files the arguments name; an argument that names none adds its problem instead."""
    if not paths:
        raise InputError("no config file given")
    for given in paths:
        path = Path(given)
        try:
            is_folder = stat.S_ISDIR(path.stat().st_mode)
            if is_folder:
                found = sorted(
                    child
                    for child in path.iterdir()
                    if child.suffix.lower() in (".yaml", ".yml") and child.is_file()
                )
        except OSError as error:
            problems.append(str(_unreadable(path, error)))
            continue
        if not is_folder:
            yield path
        elif not found:
            problems.append(f"{path}: the folder has no .yaml or .yml files")
        else:
            yield from found


def _read(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, refusing before reading what is too large or not a regular file."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; regular files ignore it.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise _unreadable(path, error) from None
    with os.fdopen(descriptor, "rb") as stream:
        try:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                raise InputError(f"{path}: not a regular file")
            # A file may grow after fstat: read at most one byte past the limit to know.
            content = stream.read(max_bytes + 1) if status.st_size <= max_bytes else b""
        except OSError as error:
            raise _unreadable(path, error) from None
    size = max(status.st_size, len(content))
    if size > max_bytes:
        shown = f"{size:,} bytes" if len(content) <= max_bytes else f"over {max_bytes:,} bytes"
        raise ConfigError(
            [
                Diagnostic(
                    str(path),
                    1,
                    1,
                    f"the file is {shown}, over the limit of {max_bytes:,} bytes "
                    "(--max-file-size): it is not read",
                )
            ]
        )
    return content


def load_config(paths: Sequence[str | Path], *, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Desired:
    """Read, check and merge config files (or folders of them) into one Desired state.

    Raises InputError with every file that cannot be read, one line each in argument order,
    else ConfigError with every problem of every file, sorted by position.
    """
    sources: list[tuple[str, bytes]] = []
    diagnostics: list[Diagnostic] = []
    # Lazily, so that a file's read problem comes in its argument's place; a file named twice
    # (or its problem) counts once.
    problems: list[str] = []
    seen: set[Path] = set()
    for path in _iter_files(paths, problems):
        if path in seen:
            continue
        seen.add(path)
        try:
            sources.append((str(path), _read(path, max_bytes)))
        except ConfigError as error:
            diagnostics.extend(error.diagnostics)
        except InputError as error:
            problems.append(str(error))
    if problems:
        # Nothing is parsed until every file can be read: the user fixes the arguments first.
        raise InputError("\n".join(dict.fromkeys(problems)))
    return load_config_sources(sources, diagnostics)


def load_config_sources(
    sources: Sequence[tuple[str, bytes]], diagnostics: list[Diagnostic] | None = None
) -> Desired:
    """Check and merge config texts already in memory, each named as its file would be."""
    diagnostics = [] if diagnostics is None else diagnostics
    documents: list[_Document] = []
    for name, content in sources:
        try:
            document, problems = parse_yaml(name, content)
        except ConfigError as error:
            diagnostics.extend(error.diagnostics)
            continue
        diagnostics.extend(problems)
        if document is None:
            continue
        if not isinstance(document.value, dict):
            mark = document.mark(())
            diagnostics.append(
                Diagnostic(
                    mark.file,
                    mark.line,
                    mark.column,
                    "the top level must be a mapping with 'version' and 'personas', "
                    f"not {_type_name(document.value)}",
                )
            )
            continue
        diagnostics.extend(_schema_diagnostics(document))
        _check_numbers(document, diagnostics)
        documents.append(document)
    desired = _merge(documents, diagnostics)
    if diagnostics:
        raise ConfigError(diagnostics)
    return desired


def _list_at(mapping: dict[str, Any], key: str) -> list[Any]:
    found = mapping.get(key)
    return found if isinstance(found, list) else []


def _merge(documents: list[_Document], diagnostics: list[Diagnostic]) -> Desired:
    personas: list[DesiredPersona] = []
    number_seen: dict[str, SourceMark] = {}
    id_seen: dict[str, SourceMark] = {}
    name_seen: dict[str, SourceMark] = {}
    protected: dict[str, SourceMark] = {}
    safety: SafetySettings | None = None
    safety_mark: SourceMark | None = None

    def twice(mark: SourceMark, what: str, first: SourceMark) -> None:
        diagnostics.append(
            Diagnostic(
                mark.file, mark.line, mark.column, f"{what} is listed twice (also at {first})"
            )
        )

    for document in documents:
        value = document.value
        # Wrong types were reported by the schema; what is left of them is skipped here.
        for index, entry in enumerate(_list_at(value, "personas")):
            if not isinstance(entry, dict):
                continue
            mark = document.mark(("personas", index))
            persona_id, name = entry.get("id"), entry.get("name")
            persona_id = persona_id if isinstance(persona_id, str) and persona_id else None
            name = name if isinstance(name, str) and name else None
            if persona_id is not None:
                if persona_id in id_seen:
                    twice(mark, f"persona id {_shown(persona_id)}", id_seen[persona_id])
                id_seen.setdefault(persona_id, mark)
            if name is not None and persona_id is None:
                # Only a name alone names a persona twice: two entries with ids may share a name
                # (Bland allows it), and the name then only checks each id.
                if name in name_seen:
                    twice(mark, f"persona {_shown(repr(name))}", name_seen[name])
                name_seen.setdefault(name, mark)
            numbers: list[str] = []
            number_marks: dict[str, SourceMark] = {}
            raw_numbers = entry.get("numbers")
            for position, number in enumerate(raw_numbers if isinstance(raw_numbers, list) else []):
                if not isinstance(number, str) or not _CANONICAL.fullmatch(number):
                    continue
                number_mark = document.mark(("personas", index, "numbers", position))
                if number in number_seen:
                    twice(number_mark, number, number_seen[number])
                    continue
                number_seen[number] = number_mark
                numbers.append(number)
                number_marks[number] = number_mark
            personas.append(DesiredPersona(persona_id, name, tuple(numbers), mark, number_marks))
        for position, number in enumerate(_list_at(value, "protected")):
            if isinstance(number, str) and _CANONICAL.fullmatch(number):
                number_mark = document.mark(("protected", position))
                if number in protected:
                    twice(number_mark, f"protected number {number}", protected[number])
                protected.setdefault(number, number_mark)
        if isinstance(value.get("safety"), dict):
            mark = document.mark(("safety",))
            if safety_mark is not None:
                diagnostics.append(
                    Diagnostic(
                        mark.file,
                        mark.line,
                        mark.column,
                        f"'safety' may be set in one file only (also at {safety_mark})",
                    )
                )
            safety_mark = mark
            block = value["safety"]
            safety = SafetySettings(
                max_detach_percent=block.get("max_detach_percent"),
                min_numbers_for_percent=block.get("min_numbers"),
                allow_empty=block.get("allow_emptying"),
            )
    return Desired(
        personas=tuple(personas),
        files=tuple(document.file for document in documents),
        protected=tuple(protected),
        protected_marks=protected,
        safety=safety or SafetySettings(),
    )
