"""Build plain data from YAML parser events, keeping a position for every value.

YAML lets many mistakes through silently (a repeated key keeps the last value), so the document
is built from events rather than with yaml.safe_load; what plain data never needs (tags,
anchors, aliases, merge keys) is refused with its position.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml
import yaml.events as ev

from reconciler.config.document import Document, YamlPath, diagnostic_at, shown, shown_json
from reconciler.errors import Diagnostic
from reconciler.model import SourceMark

_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_TAG = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_TAG + name for name in ("str", "int", "float", "bool", "null", "seq", "map")}
# A config never needs more than five levels; a limit far above that keeps a hostile file from
# costing anything, whichever YAML parser is installed.
MAX_DEPTH = 64
TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep: the config needs at most 4"
# Stands for a mapping key whose value is not kept (a duplicate, or a list used as a key).
_DROPPED_KEY = object()
# Plain words the YAML resolver reads as strings (none is a bool, null or number word).
_PLAIN_WORDS = frozenset(
    {
        "version",
        "personas",
        "id",
        "name",
        "numbers",
        "protected",
        "safety",
        "number",
        "label",
        "settings",
        "pathway_id",
        "pathway_version",
        "start_node_id",
    }
)
_QUOTE_STYLES = frozenset({"'", '"'})


@dataclass
class OpenCollection:
    """A mapping or list whose end event has not come yet."""

    container: dict[Any, Any] | list[Any]
    path: YamlPath
    mark: SourceMark
    flow: bool = False
    pending_key: Any = None
    has_key: bool = False


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
        self.too_deep = False

    def problem(self, mark: SourceMark, message: str) -> None:
        self.diagnostics.append(diagnostic_at(mark, message))

    def child_path(self) -> YamlPath | None:
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
        if top.pending_key is not _DROPPED_KEY:
            top.container[top.pending_key] = value
        self.document.marks[path] = mark
        if raw is not None:
            self.document.raw[path] = raw
        top.pending_key, top.has_key = None, False

    def add_key(self, top: OpenCollection, key: Any, mark: SourceMark) -> None:
        assert isinstance(top.container, dict)
        if isinstance(key, dict | list):
            self.problem(mark, "a mapping key must be a plain value, not a list or mapping")
            top.pending_key, top.has_key = _DROPPED_KEY, True  # reported once, not as unknown too
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
            key = _DROPPED_KEY
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
            self.refuse(
                mark, f"tag {short_tag(tag)} is not allowed: the config holds plain data only"
            )
            self.add(event.value, mark)
            return
        if tag in (_TAG + "seq", _TAG + "map"):
            self.refuse(mark, f"tag {short_tag(tag)} on a single value: remove the tag")
            self.add(event.value, mark)
            return
        if tag == _TAG + "timestamp":
            self.add(event.value, mark)  # no field holds a date: keep it as written
            return
        node = yaml.ScalarNode(tag, event.value, None, None, event.style)
        try:
            value = _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node)
        except Exception:  # an explicit !!bool maybe raises KeyError, not a YAMLError
            self.refuse(
                mark, f"{shown_json(event.value)} is not a valid {short_tag(tag)}: remove the tag"
            )
            self.add(event.value, mark)
            return
        self.add(value, mark, raw=None if isinstance(value, str) else event.value)

    def refuse(self, mark: SourceMark, message: str) -> None:
        """Report the value about to be added, and mark it as already reported."""
        self.problem(mark, message)
        path = self.child_path()
        if path is None and self.stack:
            path = self.stack[-1].path  # a refused mapping key: its mapping is unreliable
        if path is not None:
            self.document.refused.add(path)

    def start_collection(self, event: ev.CollectionStartEvent, mark: SourceMark) -> None:
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
            self.stack.append(OpenCollection(container, path, mark, flow))
            return
        self.document.marks[path] = mark
        self.stack.append(OpenCollection(container, path, mark, flow))

    def end_collection(self) -> None:
        finished = self.stack.pop()
        if not self.stack:
            self.document.value = finished.container
            return
        top = self.stack[-1]
        if isinstance(top.container, list):
            top.container.append(finished.container)
        elif top.has_key:
            if top.pending_key is not _DROPPED_KEY:
                top.container[top.pending_key] = finished.container
            top.pending_key, top.has_key = None, False

    def feed(self, events: Iterable[ev.Event]) -> None:
        """Build the document from a parser's events; stops at a second document or too deep."""
        documents = 0
        file = self.document.file
        marks = self.document.marks
        stack = self.stack
        for event in events:
            if (
                type(event) is ev.ScalarEvent
                and event.tag is None
                and event.anchor is None
                and event.style in _QUOTE_STYLES
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
            mark = event_mark(file, event.start_mark)
            if isinstance(event, ev.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    self.problem(mark, "more than one YAML document: put everything in one")
                    return
                continue
            if not self.add_event(event, mark):
                return

    def add_event(self, event: ev.Event, mark: SourceMark) -> bool:
        """Add the value of one event, or open or close a collection; False when too deep."""
        if isinstance(event, ev.AliasEvent):
            # Never expanded: a few aliases of aliases would otherwise grow exponentially.
            self.refuse(
                mark, f"aliases (*{shown(str(event.anchor))}) are not allowed: write the value out"
            )
            self.add(None, mark)
            return True
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self.problem(mark, f"anchors (&{shown(anchor)}) are not allowed: write values out")
        if isinstance(event, ev.CollectionStartEvent):
            if len(self.stack) >= MAX_DEPTH:
                self.problem(mark, TOO_DEEP)
                self.too_deep = True
                return False
            tag = event.tag
            if tag not in (None, "!", _TAG + "seq", _TAG + "map"):
                self.refuse(
                    mark, f"tag {short_tag(tag)} is not allowed: the config holds plain data only"
                )
            self.start_collection(event, mark)
        elif isinstance(event, ev.CollectionEndEvent):
            self.end_collection()
        elif isinstance(event, ev.ScalarEvent):
            self.scalar(event, mark)
        return True
