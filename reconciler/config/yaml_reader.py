"""Parse one config file's bytes into a positioned document, strictly.

Problems the YAML parser reports without a useful position or in its own words (bad encoding,
control characters, tabs, unclosed brackets and quotes) are found first or translated here, so
that each points where the fix belongs.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from reconciler.config.document import Document, diagnostic_at
from reconciler.config.yaml_builder import TOO_DEEP, DocumentBuilder, OpenCollection, event_mark
from reconciler.errors import ConfigError, Diagnostic
from reconciler.model import SourceMark
from reconciler.text import one_line

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# What YAML 1.1 and 1.2 call printable; anything else (NUL, other C0 controls, DEL, C1 controls)
# is refused by the parser with a position-less message, so it is found here first.
_NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CONTENT_LINE = re.compile(r"^[^\S\n]*[^\s#]", re.MULTILINE)


def parse_yaml(file: str, content: bytes) -> tuple[Document | None, list[Diagnostic]]:
    """Parse one file's bytes into a positioned document and the problems found on the way.

    The document is None when the YAML could not be parsed at all.
    """
    text = _decode(file, content)
    document = Document(file)
    if _is_empty(text):
        return None, [Diagnostic(file, 1, 1, "the file is empty (expected 'version: 1')")]
    control = _control_character(file, text)
    if control is not None:
        return None, [control]
    builder = DocumentBuilder(document)
    try:
        builder.feed(yaml.parse(text, Loader=_Loader))
    except yaml.MarkedYAMLError as error:
        builder.diagnostics.append(_syntax_error(error, text, builder.stack, file))
        return None, builder.diagnostics
    except yaml.YAMLError as error:
        index = getattr(error, "position", 0)
        where = _position(file, text, index if isinstance(index, int) else 0)
        reason = one_line(str(getattr(error, "reason", "") or error))
        builder.problem(where, f"invalid YAML: {reason}")
        return None, builder.diagnostics
    if builder.too_deep:
        return None, builder.diagnostics
    return document, builder.diagnostics


def _position(file: str, text: str, index: int) -> SourceMark:
    """The line and column (both from 1, columns in characters) of a character index."""
    line_start = text.rfind("\n", 0, index) + 1
    return SourceMark(file, text.count("\n", 0, index) + 1, index - line_start + 1)


def _syntax_error(
    error: yaml.MarkedYAMLError, text: str, open_collections: list[OpenCollection], file: str
) -> Diagnostic:
    """One diagnostic for a YAML syntax error, pointing where the fix belongs."""
    problem = one_line(error.problem or "invalid YAML")
    mark = error.problem_mark or error.context_mark
    where = event_mark(file, mark)
    index = mark.index if mark is not None else 0
    if 0 <= index < len(text) and text[index] == "\t":
        return diagnostic_at(where, _tab_message(text, index))
    if "maximum nesting depth" in problem:
        return diagnostic_at(where, TOO_DEEP)
    at_end = not text[index:].strip()
    open_flow = next((frame for frame in reversed(open_collections) if frame.flow), None)
    if at_end and open_flow is not None:
        # The parser notices only at the end of the file; the fix belongs at the bracket.
        opened = "{" if isinstance(open_flow.container, dict) else "["
        closing = "}" if opened == "{" else "]"
        return diagnostic_at(
            open_flow.mark, f'"{opened}" is never closed: add the matching "{closing}"'
        )
    context = one_line(error.context or "")
    context_mark = error.context_mark
    if at_end and context_mark is not None and "quoted scalar" in context:
        quote = text[context_mark.index] if context_mark.index < len(text) else '"'
        return diagnostic_at(
            event_mark(file, context_mark),
            f"the quote {quote} is never closed: add the matching {quote}",
        )
    message = f"invalid YAML: {problem}"
    if context and context_mark is not None:
        message += f" ({context} that starts at line {context_mark.line + 1})"
    return diagnostic_at(where, message)


def _tab_message(text: str, index: int) -> str:
    """What to say about the tab character at index, which YAML refused."""
    before = text[text.rfind("\n", 0, index) + 1 : index]
    if not before.strip(" \t"):
        return "tab character used for indentation: YAML needs spaces"
    return f'tab character after "{before.strip()[-1:]}": YAML needs a space here'


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
    code = ord(found.group())
    name = " (NUL)" if code == 0 else ""
    return diagnostic_at(
        _position(file, text, found.start()),
        f"control character U+{code:04X}{name} is not allowed in YAML: remove it",
    )


def _is_empty(text: str) -> bool:
    """True when the text has nothing but blank lines and comments."""
    return _CONTENT_LINE.search(text) is None
