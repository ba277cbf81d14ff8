"""Parse one config file's bytes into a Document that keeps a position for every value, strictly.

Built from parser events, not yaml.safe_load or yaml.compose: an alias and its anchor stay apart,
and what YAML lets through silently (a repeated key, tags, anchors, aliases, merge keys) is
refused. What the parser says without a useful position or in its own words (encoding, control
characters, tabs, unclosed brackets and quotes) is found first or translated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml
import yaml.events as ev

from reconciler.errors import Diagnostic
from reconciler.model import SourceMark
from reconciler.text import one_line, shown, shown_json

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# What YAML does not call printable (NUL, other C0 controls, DEL, C1 controls) is refused by the
# parser with a position-less message, so it is found here first.
_NOT_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE
_CONTENT_LINE = re.compile(r"^[^\S\n]*[^\s#]", re.MULTILINE)
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_TAG = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_TAG + name for name in ("str", "int", "float", "bool", "null", "seq", "map")}
# A config never needs more than five levels; a limit far above that keeps a hostile file from
# costing anything, whichever YAML parser is installed.
MAX_DEPTH = 64
_NOT_ALLOWED = "is not allowed: the config holds plain data only"
# Where a value sits in a document: mapping keys and list indexes from the top level down.
YamlPath = tuple[str | int, ...]


@dataclass
class Document:
    """A YAML document as plain data, with the position of every value and of every mapping key."""

    file: str
    value: Any = None
    marks: dict[YamlPath, SourceMark] = field(default_factory=dict)
    key_marks: dict[YamlPath, SourceMark] = field(default_factory=dict)
    # The text of a plain scalar YAML read as something other than a string (014 is octal 12).
    raw: dict[YamlPath, str] = field(default_factory=dict)
    # Values already reported as refused YAML (tags, aliases, merge keys): the schema and the
    # phone checks stay quiet about them rather than repeat the same mistake in other words.
    refused: set[YamlPath] = field(default_factory=set)

    def mark(self, path: YamlPath) -> SourceMark:
        """The position of the value at path, or of its nearest ancestor."""
        while path and path not in self.marks:
            path = path[:-1]
        return self.marks.get(path) or SourceMark(self.file, 1, 1)

    def is_refused(self, path: YamlPath) -> bool:
        """True when the value at path, or one holding it, was already reported as refused YAML."""
        return bool(self.refused) and any(path[:n] in self.refused for n in range(len(path) + 1))


@lru_cache(maxsize=4096)
def _implicit_tag(value: str) -> str:
    """The tag YAML gives a plain scalar (the config's keys come thousands of times in a file)."""
    return str(_RESOLVER.resolve(yaml.ScalarNode, value, (True, False)))  # type: ignore[no-untyped-call]


def short_tag(tag: str | None) -> str:
    """A tag as written in YAML (!!int for tag:yaml.org,2002:int), ready for a message."""
    return shown("!!" + tag[len(_TAG) :] if tag and tag.startswith(_TAG) else str(tag))


def event_mark(file: str, mark: Any) -> SourceMark:
    """The position of a parser mark (0-based), or of the file's start, as a SourceMark."""
    return SourceMark(file, mark.line + 1, mark.column + 1) if mark else SourceMark(file, 1, 1)


class DocumentBuilder:
    """Builds plain data from a parser's events, keeping positions and collecting problems."""

    def __init__(self, document: Document, events: Iterator[ev.Event]) -> None:
        self.document = document
        self.events = events
        self.diagnostics: list[Diagnostic] = []
        # The collections not ended yet, with a flow one's brackets (see syntax_error).
        self.open: list[tuple[SourceMark, str]] = []

    def problem(self, mark: SourceMark, message: str, refused: YamlPath | None = None) -> None:
        """Report a problem at mark; the value at `refused` is marked as already reported."""
        self.diagnostics.append(Diagnostic(*mark, message))
        if refused is not None:
            self.document.refused.add(refused)

    def build(self) -> None:
        """Build the document from the first YAML document (a second is refused)."""
        for event in self.events:
            if isinstance(event, ev.DocumentStartEvent) and () in self.document.marks:
                mark = event_mark(self.document.file, event.start_mark)
                self.problem(mark, "more than one YAML document: put everything in one")
                return
            if isinstance(event, ev.DocumentStartEvent):
                self.document.value = self.node(next(self.events), ())

    def node(self, event: Any, path: YamlPath | None, key_of: YamlPath | None = None) -> Any:
        """The value that event starts, read to its end and kept at path. None keeps it nowhere
        (a mapping key, the value of a key refused), yet reports its problems: a key's as its
        mapping's (key_of)."""
        mark = event_mark(self.document.file, event.start_mark)
        where = key_of if path is None else path
        if path is not None:
            self.document.marks[path] = mark
        if isinstance(event, ev.AliasEvent):
            # Never expanded: a few aliases of aliases would otherwise grow exponentially.
            message = f"aliases (*{shown(str(event.anchor))}) are not allowed: write the value out"
            self.problem(mark, message, where)
            return None
        if event.anchor is not None:
            message = f"anchors (&{shown(event.anchor)}) are not allowed: write values out"
            self.problem(mark, message)
        if isinstance(event, ev.ScalarEvent):
            return self.scalar(event, path, where, mark)
        if len(self.open) >= MAX_DEPTH:  # reported as the parser's own limit is: reading stops
            raise yaml.MarkedYAMLError(None, None, "maximum nesting depth", event.start_mark)
        if event.tag not in (None, "!", _TAG + "seq", _TAG + "map"):
            self.problem(mark, f"tag {short_tag(event.tag)} {_NOT_ALLOWED}", where)
        is_mapping = type(event) is ev.MappingStartEvent
        self.open.append((mark, ("{}" if is_mapping else "[]") if event.flow_style else ""))
        value = self.mapping(path) if is_mapping else self.sequence(path)
        self.open.pop()
        return value

    def scalar(
        self, event: ev.ScalarEvent, path: YamlPath | None, where: YamlPath | None, mark: SourceMark
    ) -> Any:
        tag = event.tag
        # Quoted, block and "!"-tagged scalars are strings; only plain ones are resolved.
        if tag is None and event.implicit[0]:
            tag = _implicit_tag(event.value)
        if tag in (None, "!", _TAG + "str", _TAG + "timestamp"):
            return event.value  # a date is kept as written: no field holds one
        if tag == _TAG + "merge":  # the mapping holding it is unreliable
            mapping = where if path is None else path[:-1] if path else None
            self.problem(mark, "merge keys (<<) are not allowed: write the values out", mapping)
            return event.value
        if tag not in _ALLOWED_TAGS or tag in (_TAG + "seq", _TAG + "map"):
            fix = "on a single value: remove the tag" if tag in _ALLOWED_TAGS else _NOT_ALLOWED
            self.problem(mark, f"tag {short_tag(tag)} {fix}", where)
            return event.value
        node = yaml.ScalarNode(tag, event.value, None, None, event.style)
        try:
            value = _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node)
            if type(value) is int:
                str(value)  # ValueError past the digits Python writes (0x... reads any length)
        except Exception:  # an explicit !!bool maybe raises KeyError, not a YAMLError
            message = f"{shown_json(event.value)} is not a valid {short_tag(tag)}"
            self.problem(mark, message + (": remove the tag" if event.tag else ""), where)
            return event.value
        if path and not isinstance(value, str):
            self.document.raw[path] = event.value
        return value

    def sequence(self, path: YamlPath | None) -> list[Any]:
        items: list[Any] = []
        while not isinstance(event := next(self.events), ev.SequenceEndEvent):
            items.append(self.node(event, None if path is None else (*path, len(items))))
        return items

    def mapping(self, path: YamlPath | None) -> dict[Any, Any]:
        entries: dict[Any, Any] = {}
        first_marks: dict[Any, SourceMark] = {}
        while not isinstance(event := next(self.events), ev.MappingEndEvent):
            mark = event_mark(self.document.file, event.start_mark)
            plain = not isinstance(event, ev.CollectionStartEvent)
            if not plain:  # said before it is read, which may stop at a problem inside it
                self.problem(mark, "a mapping key must be a plain value, not a list or mapping")
            key = self.node(event, None, path)
            key_path = None
            if plain and key in first_marks:
                first = first_marks[key].line
                message = f"duplicate key {json.dumps(str(key))} (first at line {first}; YAML "
                self.problem(mark, message + "would silently keep only the last one)")
            elif plain:
                first_marks[key] = mark
                if path is not None:
                    key_path = (*path, key if isinstance(key, str | int) else str(key))
                    self.document.key_marks[key_path] = mark
            # The value of a key refused is read all the same; of a key given twice, the first
            # is kept, as the later one is reported and must be removed.
            value = self.node(next(self.events), key_path)
            if key_path is not None:
                entries[key] = value
        return entries

    def syntax_error(self, error: yaml.MarkedYAMLError, text: str) -> tuple[SourceMark, str]:
        """Where a YAML syntax error's fix belongs, and what to say."""
        problem = one_line(error.problem or "invalid YAML")
        mark = error.problem_mark or error.context_mark
        where = event_mark(self.document.file, mark)
        index = mark.index if mark is not None else 0
        if 0 <= index < len(text) and text[index] == "\t":
            before = text[text.rfind("\n", 0, index) + 1 : index]
            if not before.strip(" \t"):
                return where, "tab character used for indentation: YAML needs spaces"
            return where, f'tab character after "{before.strip()[-1:]}": YAML needs a space here'
        if "maximum nesting depth" in problem:
            return where, f"nested more than {MAX_DEPTH} levels deep: the config needs at most 4"
        at_end = not text[index:].strip()
        open_flows = [(bracket, pair) for bracket, pair in self.open if pair]
        if at_end and open_flows:
            # The parser notices only at the end of the file; the fix belongs at the bracket.
            bracket, pair = open_flows[-1]
            return bracket, f'"{pair[0]}" is never closed: add the matching "{pair[1]}"'
        context = one_line(error.context or "")
        context_mark = error.context_mark
        if at_end and context_mark is not None and "quoted scalar" in context:
            quote = text[context_mark.index] if context_mark.index < len(text) else '"'
            where = event_mark(self.document.file, context_mark)
            return where, f"the quote {quote} is never closed: add the matching {quote}"
        if context and context_mark is not None:
            problem += f" ({context} that starts at line {context_mark.line + 1})"
        return where, f"invalid YAML: {problem}"


def parse_yaml(file: str, content: bytes) -> tuple[Document | None, list[Diagnostic]]:
    """Parse one file's bytes into a positioned document (None when the YAML could not be
    parsed at all) and the problems found on the way."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if content.startswith((b"\xff\xfe", b"\xfe\xff")):
            return None, [Diagnostic(file, 1, 1, "the file is UTF-16 text: save it as UTF-8")]
        # Columns count characters, as for every other message.
        before = content[: error.start].decode("utf-8", "replace")
        where = _position(file, before, len(before))
        bad = content[error.start : error.start + 1].hex()
        return None, [Diagnostic(*where, f"the file is not UTF-8 text (byte 0x{bad})")]
    if _CONTENT_LINE.search(text) is None:  # nothing but blank lines and comments
        return None, [Diagnostic(file, 1, 1, "the file is empty (expected 'version: 1')")]
    control = _NOT_PRINTABLE.search(text)
    if control is not None:
        code = ord(control.group())
        name = " (NUL)" if code == 0 else ""
        message = f"control character U+{code:04X}{name} is not allowed in YAML: remove it"
        return None, [Diagnostic(*_position(file, text, control.start()), message)]
    builder = DocumentBuilder(Document(file), iter(_Loader(text).get_event, None))
    try:  # what the reader refuses (its errors have no position) is found above first
        builder.build()
    except yaml.MarkedYAMLError as error:
        builder.problem(*builder.syntax_error(error, text))
        return None, builder.diagnostics
    return builder.document, builder.diagnostics


def _position(file: str, text: str, index: int) -> SourceMark:
    """The line and column (both from 1, columns in characters) of a character index."""
    line_start = text.rfind("\n", 0, index) + 1
    return SourceMark(file, text.count("\n", 0, index) + 1, index - line_start + 1)
