"""Read config files into a Desired state, pointing every problem at its file, line and column.

YAML lets many mistakes through silently (a repeated key keeps the last value, an unquoted
+14155550100 becomes an integer), so the document is built from parser events here rather than
with yaml.safe_load: that keeps a position for every value and refuses what plain data never needs
(tags, anchors, aliases, merge keys).
"""

from __future__ import annotations

import difflib
import json
import re
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

Path_ = tuple[str | int, ...]
_DISCARD = object()
_STR_TAG = _TAG + "str"
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

    def mark(self, path: Path_) -> SourceMark:
        """The position of the value at path, or of its nearest ancestor."""
        found = self.marks.get(path)
        if found is not None:
            return found
        while path not in self.marks and path:
            path = path[:-1]
        return self.marks.get(path) or SourceMark(self.file, 1, 1)


@dataclass
class _Frame:
    container: dict[Any, Any] | list[Any]
    path: Path_
    pending_key: Any = None
    has_key: bool = False


class _Builder:
    """Builds plain data from YAML events, keeping positions and collecting problems."""

    def __init__(self, document: _Document) -> None:
        self.document = document
        self.diagnostics: list[Diagnostic] = []
        self.stack: list[_Frame] = []
        self.has_root = False

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
            key = f"<complex key at line {mark.line}>"
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
        if event.style in ("'", '"') or (event.tag is None and not event.implicit[0]):
            self.add(event.value, mark)
            return
        tag = event.tag if event.tag not in (None, "!") else None
        if tag is None and event.value in _PLAIN_WORDS:
            tag = _STR_TAG  # the config's own keys, written thousands of times in a large file
        elif tag is None:
            tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, (True, False))  # type: ignore[no-untyped-call]
        if tag == _TAG + "merge":
            self.problem(mark, "merge keys (<<) are not allowed: write the values out")
            self.add(event.value, mark)
            return
        if tag not in _ALLOWED_TAGS and tag != _TAG + "timestamp":
            self.problem(
                mark, f"tag {_short_tag(tag)} is not allowed: the config holds plain data only"
            )
            self.add(event.value, mark)
            return
        if tag == _STR_TAG:
            self.add(event.value, mark)  # what the constructor would return, without a node
            return
        node = yaml.ScalarNode(tag, event.value, None, None, event.style)
        try:
            value = _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node)
        except (ValueError, yaml.YAMLError):
            value = event.value
        if tag == _TAG + "timestamp":
            value = str(event.value)
        self.add(value, mark, raw=None if isinstance(value, str) else event.value)

    def start(self, event: ev.CollectionStartEvent, mark: SourceMark) -> None:
        path = self.child_path()
        container: dict[Any, Any] | list[Any] = (
            {} if isinstance(event, ev.MappingStartEvent) else []
        )
        if path is None:
            # A collection used as a mapping key: record it as a key, then swallow its content.
            top = self.stack[-1]
            self.add_key(top, container, mark)
            path = (*top.path, str(top.pending_key))
            frame = _Frame(container, path)
            self.stack.append(frame)
            return
        self.document.marks[path] = mark
        self.stack.append(_Frame(container, path))

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
            kind = type(event)
            if type(event) is ev.ScalarEvent:
                start = event.start_mark
                if start is not None and event.anchor is None and event.style in _QUOTED and stack:
                    # The hot path of a large file: a quoted phone number in a list. Same
                    # result as scalar() -> add(), without the calls and checks around them.
                    container = stack[-1].container
                    if type(container) is list:
                        marks[(*stack[-1].path, len(container))] = SourceMark(
                            file, start.line + 1, start.column + 1
                        )
                        container.append(event.value)
                        continue
                mark = _mark(file, start)
                self._check_anchor(event, mark)
                self.scalar(event, mark)
            elif kind is ev.SequenceEndEvent or kind is ev.MappingEndEvent:
                self.end()
            elif isinstance(event, ev.CollectionStartEvent):
                mark = _mark(file, event.start_mark)
                self._check_anchor(event, mark)
                tag = event.tag
                if tag not in (None, "!", _TAG + "seq", _TAG + "map"):
                    self.problem(
                        mark,
                        f"tag {_short_tag(tag)} is not allowed: the config holds plain data only",
                    )
                self.start(event, mark)
            elif kind is ev.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    mark = _mark(file, event.start_mark)
                    self.problem(mark, "more than one YAML document: put everything in one")
                    return
            elif isinstance(event, ev.AliasEvent):
                mark = _mark(file, event.start_mark)
                self.problem(
                    mark, f"aliases (*{event.anchor}) are not allowed: write the value out"
                )
                self.add(None, mark)

    def _check_anchor(self, event: ev.NodeEvent, mark: SourceMark) -> None:
        anchor = event.anchor
        if anchor is not None:
            self.problem(mark, f"anchors (&{anchor}) are not allowed: write values out")


def _short_tag(tag: str | None) -> str:
    return "!!" + tag[len(_TAG) :] if tag and tag.startswith(_TAG) else str(tag)


def _mark(file: str, mark: Any) -> SourceMark:
    if mark is None:
        return SourceMark(file, 1, 1)
    return SourceMark(file, mark.line + 1, mark.column + 1)


def _yaml_error_message(error: yaml.MarkedYAMLError, text: str) -> str:
    problem = (error.problem or "invalid YAML").strip()
    mark = error.problem_mark
    if mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t":
        return "tab character used for indentation: YAML needs spaces"
    message = f"invalid YAML: {problem}"
    context_mark = error.context_mark
    if error.context and context_mark is not None:
        message += f" ({error.context.strip()} that starts at line {context_mark.line + 1})"
    return message


def _decode(file: str, content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = content.count(b"\n", 0, error.start) + 1
        column = error.start - (content.rfind(b"\n", 0, error.start) + 1) + 1
        bad = content[error.start : error.start + 1].hex()
        raise ConfigError(
            [Diagnostic(file, line, column, f"the file is not UTF-8 text (byte 0x{bad})")]
        ) from None


def parse_yaml(file: str, content: bytes) -> tuple[_Document | None, list[Diagnostic]]:
    """Parse one file's bytes into a positioned document and the problems found on the way.

    The document is None when the YAML could not be parsed at all.
    """
    text = _decode(file, content)
    document = _Document(file)
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()
    ):
        return None, [Diagnostic(file, 1, 1, "the file is empty (expected 'version: 1')")]
    builder = _Builder(document)
    try:
        builder.feed(yaml.parse(text, Loader=_Loader))
    except yaml.MarkedYAMLError as error:
        mark = _mark(file, error.problem_mark or error.context_mark)
        builder.problem(mark, _yaml_error_message(error, text))
        return None, builder.diagnostics
    except yaml.YAMLError as error:
        builder.problem(SourceMark(file, 1, 1), f"invalid YAML: {error}")
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
        return f"item {name + 1} of {json.dumps(str(path[-2]))}" if len(path) > 1 else "item"
    return json.dumps(name)


def _schema_diagnostics(document: _Document) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for path, error in _schema_errors(document.value):
        if _is_number_path(path) and error.validator in ("type", "pattern"):
            continue  # phone numbers get a more precise check of their own
        mark = document.mark(path)
        message = _schema_message(error, path, document)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            schema = error.schema if isinstance(error.schema, dict) else {}
            allowed = sorted(schema.get("properties", {}))
            extra = [key for key in error.instance if key not in allowed]
            for key in extra:
                key_mark = document.key_marks.get((*path, key), mark)
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                suffix = (
                    f' (did you mean "{hint[0]}"?)' if hint else f" (allowed: {', '.join(allowed)})"
                )
                found.append(
                    Diagnostic(
                        key_mark.file,
                        key_mark.line,
                        key_mark.column,
                        f"unknown key {json.dumps(str(key))}{suffix}",
                    )
                )
            continue
        found.append(Diagnostic(mark.file, mark.line, mark.column, message))
    return found


def _schema_message(error: Any, path: Path_, document: _Document) -> str:
    kind = error.validator
    value = error.instance
    if kind == "required":
        missing = [key for key in error.validator_value if key not in (value or {})]
        name = "a persona entry" if path[:1] == ("personas",) and len(path) == 2 else _where(path)
        return f"{name} is missing the required key {json.dumps(missing[0] if missing else '?')}"
    if kind == "anyOf" and path[:1] == ("personas",):
        return 'a persona entry needs an "id" or a "name"'
    if kind == "const":
        return (
            f"{_where(path)} must be {json.dumps(error.validator_value)}, not {json.dumps(value)}"
        )
    if kind == "type":
        expected = error.validator_value
        wanted = {"array": "a list", "object": "a mapping", "string": "a string"}.get(
            expected, f"of type {expected}"
        )
        return f"{_where(path)} must be {wanted}, not {_type_name(value)}"
    if kind == "minLength":
        return f"{_where(path)} must not be empty"
    return f"{_where(path)}: {error.message}"


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


# (first five characters, length) of numbers found possible without a leading zero: the country
# code and the first national digit lie in those five, so the answer is the same for all of them.
_POSSIBLE_SHAPES: set[tuple[str, int]] = set()


def _impossible_reason(number: str) -> str | None:
    """Why a canonical-looking E.164 number cannot exist, or None when it is possible."""
    shape = (number[:5], len(number))
    if shape in _POSSIBLE_SHAPES:
        return None
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
        possible = phonenumbers.is_possible_number(phonenumbers.parse(number, None))
    else:
        possible = _possible_for(code, len(national), False)
    if not possible:
        return f"{number} is not a possible phone number for country code +{code} (wrong length)"
    if not leading_zero:
        _POSSIBLE_SHAPES.add(shape)
    return None


def suggest_e164(value: str) -> str | None:
    """A canonical E.164 form of a loosely written number, or None when there is none."""
    loose = _LOOSE_CHARS.sub("", unicodedata.normalize("NFKC", value))
    if loose.startswith("00"):
        loose = "+" + loose[2:]
    elif not loose.startswith("+"):
        loose = "+" + loose
    return loose if _CANONICAL.fullmatch(loose) else None


def check_phone_number(value: Any, raw: str | None) -> str | None:
    """The message for a value that is not a canonical, possible E.164 number, else None."""
    if isinstance(value, str):
        if _CANONICAL.fullmatch(value):
            return _impossible_reason(value)
        suggestion = suggest_e164(value)
        shown = json.dumps(value, ensure_ascii=False)
        if suggestion is not None and suggestion != value:
            reason = _impossible_reason(suggestion)
            if reason is None:
                return f'{shown} is not canonical E.164: did you mean "{suggestion}"?'
        return (
            f"{shown} is not an E.164 phone number "
            '(a "+", the country code and the number, digits only, e.g. "+14155550100")'
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        written = raw if raw is not None else str(value)
        digits = re.sub(r"[^0-9]", "", written)
        return f'{written} is a number, not a string: quote it as "+{digits}"'
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
            # Cheap test first: most numbers in a large file are already canonical and possible.
            if isinstance(number, str) and _CANONICAL.fullmatch(number):
                message = _impossible_reason(number)
            else:
                message = check_phone_number(number, document.raw.get(path))
            if message is not None:
                mark = document.mark(path)
                diagnostics.append(Diagnostic(mark.file, mark.line, mark.column, message))


def _iter_files(paths: Sequence[str | Path]) -> Iterator[Path]:
    if not paths:
        raise InputError("no config file given")
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()
            )
            if not found:
                raise InputError(f"{path}: the folder has no .yaml or .yml files")
            yield from found
        elif path.exists():
            yield path
        else:
            raise InputError(f"{path}: no such file")


def _read(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ConfigError(
                [
                    Diagnostic(
                        str(path),
                        1,
                        1,
                        f"the file is {size:,} bytes, over the limit of {max_bytes:,} bytes",
                    )
                ]
            )
        return path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read the file ({error.strerror})") from None


def load_config(paths: Sequence[str | Path], *, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Desired:
    """Read, check and merge config files (or folders of them) into one Desired state.

    Raises ConfigError with every problem of every file, sorted by position.
    """
    diagnostics: list[Diagnostic] = []
    documents: list[_Document] = []
    files = list(dict.fromkeys(_iter_files(paths)))
    for path in files:
        try:
            document, problems = parse_yaml(str(path), _read(path, max_bytes))
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
        for index, entry in enumerate(value.get("personas") or []):
            if not isinstance(entry, dict):
                continue
            mark = document.mark(("personas", index))
            persona_id, name = entry.get("id"), entry.get("name")
            persona_id = persona_id if isinstance(persona_id, str) and persona_id else None
            name = name if isinstance(name, str) and name else None
            if persona_id is not None:
                if persona_id in id_seen:
                    twice(mark, f"persona id {persona_id}", id_seen[persona_id])
                id_seen.setdefault(persona_id, mark)
            if name is not None:
                if name in name_seen:
                    twice(mark, f"persona {name!r}", name_seen[name])
                name_seen.setdefault(name, mark)
            numbers: list[str] = []
            number_marks: dict[str, SourceMark] = {}
            raw_numbers = entry.get("numbers")
            for position, number in enumerate(raw_numbers if isinstance(raw_numbers, list) else []):
                if not isinstance(number, str):
                    continue
                number_mark = document.mark(("personas", index, "numbers", position))
                if number in number_seen:
                    twice(number_mark, number, number_seen[number])
                    continue
                number_seen[number] = number_mark
                numbers.append(number)
                number_marks[number] = number_mark
            personas.append(DesiredPersona(persona_id, name, tuple(numbers), mark, number_marks))
        for position, number in enumerate(value.get("protected") or []):
            if isinstance(number, str):
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
