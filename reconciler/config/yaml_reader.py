"""Parse one config file's bytes into a document that keeps a position for every value, strictly.

The document is built from YAML parser events (see the package's notes). Problems the parser
reports without a useful position or in its own words (bad encoding, control characters, tabs,
unclosed brackets and quotes) are found first or translated here, so that each points where the
fix belongs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml
import yaml.events as ev

from reconciler.config.document import Document, YamlPath, shown, shown_json
from reconciler.errors import Diagnostic
from reconciler.model import SourceMark
from reconciler.text import one_line

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# What YAML 1.1 and 1.2 call printable; anything else (NUL, other C0 controls, DEL, C1 controls)
# is refused by the parser with a position-less message, so it is found here first.
_NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CONTENT_LINE = re.compile(r"^[^\S\n]*[^\s#]", re.MULTILINE)
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_TAG = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_TAG + name for name in ("str", "int", "float", "bool", "null", "seq", "map")}
# A config never needs more than five levels; a limit far above that keeps a hostile file from
# costing anything, whichever YAML parser is installed.
MAX_DEPTH = 64
TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep: the config needs at most 4"
# Stand for a mapping key whose value is not kept (a duplicate, or a list used as a key), and
# for no key yet.
_DROPPED_KEY = object()
_NO_KEY = object()
_NOT_ALLOWED = "is not allowed: the config holds plain data only"


@dataclass
class OpenCollection:
    """A mapping or list whose end event has not come yet, and a mapping's key waiting for its
    value (_NO_KEY when the next value is a key)."""

    container: dict[Any, Any] | list[Any]
    path: YamlPath
    mark: SourceMark
    flow: bool = False
    key: Any = _NO_KEY


@lru_cache(maxsize=4096)
def _implicit_tag(value: str) -> str:
    """The tag YAML gives a plain scalar (the config's keys come thousands of times in a file)."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return tag


def short_tag(tag: str | None) -> str:
    """A tag as written in YAML (!!int for tag:yaml.org,2002:int), ready for a message."""
    return shown("!!" + tag[len(_TAG) :] if tag and tag.startswith(_TAG) else str(tag))


def event_mark(file: str, mark: Any) -> SourceMark:
    """The position of a parser mark (0-based) as a SourceMark (1-based)."""
    if mark is None:
        return SourceMark(file, 1, 1)
    return SourceMark(file, mark.line + 1, mark.column + 1)


class DocumentBuilder:
    """Builds plain data from YAML events, keeping positions and collecting problems."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self.diagnostics: list[Diagnostic] = []
        self.stack: list[OpenCollection] = []

    def problem(self, mark: SourceMark, message: str) -> None:
        self.diagnostics.append(Diagnostic(*mark, message))

    def child_path(self) -> YamlPath | None:
        """Path of the next value, or None when the next value is a mapping key."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.container, list):
            return (*top.path, len(top.container))
        if top.key is _NO_KEY:
            return None
        return (*top.path, top.key if isinstance(top.key, str | int) else str(top.key))

    def add(self, value: Any, mark: SourceMark, raw: str | None = None) -> None:
        """Add a value: the key of a mapping waiting for one, else the next value.

        A collection is added when it starts, and put in place again when it ends.
        """
        path = self.child_path()
        if path is None:
            self.add_key(self.stack[-1], value, mark)
            return
        self.document.marks[path] = mark
        if raw is not None and self.stack:
            self.document.raw[path] = raw
        if not isinstance(value, dict | list):
            self.place(value)

    def place(self, value: Any) -> None:
        """Put the next value (a scalar, or a collection just ended) where it belongs."""
        if not self.stack:
            self.document.value = value
            return
        top = self.stack[-1]
        if isinstance(top.container, list):
            top.container.append(value)
            return
        if top.key is not _DROPPED_KEY:
            top.container[top.key] = value
        top.key = _NO_KEY

    def add_key(self, top: OpenCollection, key: Any, mark: SourceMark) -> None:
        assert isinstance(top.container, dict)
        if isinstance(key, dict | list):
            self.problem(mark, "a mapping key must be a plain value, not a list or mapping")
            top.key = _DROPPED_KEY  # reported once, not as unknown too
            return
        key_path = (*top.path, key if isinstance(key, str | int) else str(key))
        top.key = key
        if key in top.container:
            first = self.document.key_marks[key_path]
            self.problem(
                mark,
                f"duplicate key {json.dumps(str(key))} (first at line {first.line}; "
                "YAML would silently keep only the last one)",
            )
            # Keep the first value: the later one is reported and must be removed.
            top.key = _DROPPED_KEY
        else:
            self.document.key_marks[key_path] = mark

    def scalar(self, event: ev.ScalarEvent, mark: SourceMark) -> None:
        tag = event.tag
        # Quoted, block and "!"-tagged scalars are strings; only plain ones are resolved.
        if tag is None and event.implicit[0]:
            tag = _implicit_tag(event.value)
        if tag in (None, "!", _TAG + "str", _TAG + "timestamp"):
            # Most plain scalars: the config's keys, names and ids. A date is kept as
            # written: no field holds one.
            self.add(event.value, mark)
        elif tag == _TAG + "merge":
            self.problem(mark, "merge keys (<<) are not allowed: write the values out")
            if self.stack:
                self.document.refused.add(self.stack[-1].path)
            self.add(event.value, mark)
        elif tag not in _ALLOWED_TAGS or tag in (_TAG + "seq", _TAG + "map"):
            fix = "on a single value: remove the tag" if tag in _ALLOWED_TAGS else _NOT_ALLOWED
            self.refuse(mark, f"tag {short_tag(tag)} {fix}")
            self.add(event.value, mark)
        else:
            node = yaml.ScalarNode(tag, event.value, None, None, event.style)
            try:
                value = _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node)
            except Exception:  # an explicit !!bool maybe raises KeyError, not a YAMLError
                message = f"{shown_json(event.value)} is not a valid {short_tag(tag)}"
                self.refuse(mark, message + ": remove the tag")
                value = event.value
            self.add(value, mark, None if isinstance(value, str) else event.value)

    def refuse(self, mark: SourceMark, message: str) -> None:
        """Report the value about to be added, and mark it as already reported."""
        self.problem(mark, message)
        path = self.child_path()
        # A refused mapping key: its mapping is unreliable.
        self.document.refused.add(self.stack[-1].path if path is None else path)

    def feed(self, events: Iterable[ev.Event]) -> bool:
        """Build the document from a parser's events; stops at a second document, or too deep
        (then False: the document is not kept)."""
        documents = 0
        for event in events:
            mark = event_mark(self.document.file, event.start_mark)
            if isinstance(event, ev.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    self.problem(mark, "more than one YAML document: put everything in one")
                    return True
            elif isinstance(event, ev.AliasEvent):
                # Never expanded: a few aliases of aliases would otherwise grow exponentially.
                message = f"aliases (*{shown(str(event.anchor))}) are not allowed"
                self.refuse(mark, message + ": write the value out")
                self.add(None, mark)
                continue
            anchor = getattr(event, "anchor", None)
            if anchor is not None:
                self.problem(mark, f"anchors (&{shown(anchor)}) are not allowed: write values out")
            if isinstance(event, ev.ScalarEvent):
                self.scalar(event, mark)
            elif isinstance(event, ev.CollectionStartEvent):
                if len(self.stack) >= MAX_DEPTH:
                    self.problem(mark, TOO_DEEP)
                    return False
                if event.tag not in (None, "!", _TAG + "seq", _TAG + "map"):
                    self.refuse(mark, f"tag {short_tag(event.tag)} {_NOT_ALLOWED}")
                empty: dict[Any, Any] | list[Any] = (
                    {} if type(event) is ev.MappingStartEvent else []
                )
                path = self.child_path()
                self.add(empty, mark)
                if path is None:  # a mapping or list used as a mapping key: dropped at its end
                    path = (*self.stack[-1].path, str(self.stack[-1].key))
                self.stack.append(OpenCollection(empty, path, mark, bool(event.flow_style)))
            elif isinstance(event, ev.CollectionEndEvent):
                self.place(self.stack.pop().container)
        return True


def parse_yaml(file: str, content: bytes) -> tuple[Document | None, list[Diagnostic]]:
    """Parse one file's bytes into a positioned document and the problems found on the way.

    The document is None when the YAML could not be parsed at all.
    """
    text = _decode(file, content)
    if isinstance(text, Diagnostic):
        return None, [text]
    if _CONTENT_LINE.search(text) is None:  # nothing but blank lines and comments
        return None, [Diagnostic(file, 1, 1, "the file is empty (expected 'version: 1')")]
    control = _NOT_PRINTABLE.search(text)
    if control is not None:
        code = ord(control.group())
        name = " (NUL)" if code == 0 else ""
        message = f"control character U+{code:04X}{name} is not allowed in YAML: remove it"
        return None, [Diagnostic(*_position(file, text, control.start()), message)]
    builder = DocumentBuilder(Document(file))
    try:
        whole = builder.feed(iter(_Loader(text).get_event, None))
    except yaml.MarkedYAMLError as error:
        builder.problem(*_syntax_error(error, text, builder.stack, file))
    except yaml.YAMLError as error:
        index = getattr(error, "position", 0)
        where = _position(file, text, index if isinstance(index, int) else 0)
        reason = one_line(str(getattr(error, "reason", "") or error))
        builder.problem(where, f"invalid YAML: {reason}")
    else:
        if whole:
            return builder.document, builder.diagnostics
    return None, builder.diagnostics


def _position(file: str, text: str, index: int) -> SourceMark:
    """The line and column (both from 1, columns in characters) of a character index."""
    line_start = text.rfind("\n", 0, index) + 1
    return SourceMark(file, text.count("\n", 0, index) + 1, index - line_start + 1)


def _syntax_error(
    error: yaml.MarkedYAMLError, text: str, open_collections: list[OpenCollection], file: str
) -> tuple[SourceMark, str]:
    """Where a YAML syntax error's fix belongs, and what to say."""
    problem = one_line(error.problem or "invalid YAML")
    mark = error.problem_mark or error.context_mark
    where = event_mark(file, mark)
    index = mark.index if mark is not None else 0
    if 0 <= index < len(text) and text[index] == "\t":
        before = text[text.rfind("\n", 0, index) + 1 : index]
        if not before.strip(" \t"):
            return where, "tab character used for indentation: YAML needs spaces"
        return where, f'tab character after "{before.strip()[-1:]}": YAML needs a space here'
    if "maximum nesting depth" in problem:
        return where, TOO_DEEP
    at_end = not text[index:].strip()
    open_flow = next((frame for frame in reversed(open_collections) if frame.flow), None)
    if at_end and open_flow is not None:
        # The parser notices only at the end of the file; the fix belongs at the bracket.
        opened, closing = ("{", "}") if isinstance(open_flow.container, dict) else ("[", "]")
        return open_flow.mark, f'"{opened}" is never closed: add the matching "{closing}"'
    context = one_line(error.context or "")
    context_mark = error.context_mark
    if at_end and context_mark is not None and "quoted scalar" in context:
        quote = text[context_mark.index] if context_mark.index < len(text) else '"'
        return (
            event_mark(file, context_mark),
            f"the quote {quote} is never closed: add the matching {quote}",
        )
    if context and context_mark is not None:
        problem += f" ({context} that starts at line {context_mark.line + 1})"
    return where, f"invalid YAML: {problem}"


def _decode(file: str, content: bytes) -> str | Diagnostic:
    """The file's text, or what is wrong with its encoding."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if content.startswith((b"\xff\xfe", b"\xfe\xff")):
            return Diagnostic(file, 1, 1, "the file is UTF-16 text: save it as UTF-8")
        line_start = content.rfind(b"\n", 0, error.start) + 1
        line = content.count(b"\n", 0, error.start) + 1
        # Columns count characters, as for every other message.
        column = len(content[line_start : error.start].decode("utf-8", "replace")) + 1
        bad = content[error.start : error.start + 1].hex()
        return Diagnostic(file, line, column, f"the file is not UTF-8 text (byte 0x{bad})")
