"""Read, check and merge config files: from command-line arguments to one Desired state."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from reconciler.config.document import Document, diagnostic_at, type_name
from reconciler.config.merge import merge
from reconciler.config.phone import check_document_numbers
from reconciler.config.schema import check_number_entries, schema_diagnostics
from reconciler.config.yaml_reader import parse_yaml
from reconciler.errors import ConfigError, Diagnostic, InputError
from reconciler.files import cannot_read, open_regular
from reconciler.model import Desired

DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024


def load_config(paths: Sequence[str | Path], *, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Desired:
    """Read, check and merge config files (or folders of them) into one Desired state.

    Raises InputError with every file that cannot be read, one line each in argument order,
    else ConfigError with every problem of every file, sorted by position.
    """
    sources, diagnostics = read_sources(paths, max_bytes)
    return load_config_sources(sources, diagnostics)


def load_config_sources(
    sources: Sequence[tuple[str, bytes]], diagnostics: list[Diagnostic] | None = None
) -> Desired:
    """Check and merge config texts already in memory, each named as its file would be."""
    diagnostics = [] if diagnostics is None else diagnostics
    documents: list[Document] = []
    for name, content in sources:
        document = _checked_document(name, content, diagnostics)
        if document is not None:
            documents.append(document)
    desired = merge(documents, diagnostics)
    if diagnostics:
        raise ConfigError(diagnostics)
    digests = {name: hashlib.sha256(content).hexdigest() for name, content in sources}
    return replace(desired, digests=digests)


def _checked_document(name: str, content: bytes, diagnostics: list[Diagnostic]) -> Document | None:
    """The file's document, its problems added to diagnostics; None when it cannot be merged."""
    document, problems = parse_yaml(name, content)
    diagnostics.extend(problems)
    if document is None:
        return None
    if not isinstance(document.value, dict):
        diagnostics.append(
            diagnostic_at(
                document.mark(()),
                "the top level must be a mapping with 'version' and 'personas', "
                f"not {type_name(document.value)}",
            )
        )
        return None
    diagnostics.extend(schema_diagnostics(document))
    check_document_numbers(document, diagnostics)
    check_number_entries(document, diagnostics)
    return document


def read_sources(
    paths: Sequence[str | Path], max_bytes: int
) -> tuple[list[tuple[str, bytes]], list[Diagnostic]]:
    """The content of every file the arguments name, and the files refused for their size.

    Raises InputError with every file that cannot be read, one line each in argument order:
    nothing is parsed until every file can be read, as the user fixes the arguments first.
    """
    sources: list[tuple[str, bytes]] = []
    diagnostics: list[Diagnostic] = []
    problems: list[str] = []
    # Lazily, so that a file's read problem comes in its argument's place; a file named twice
    # (or its problem) counts once.
    seen: set[Path] = set()
    for path in _files_named(paths, problems):
        if path in seen:
            continue
        seen.add(path)
        try:
            sources.append((str(path), _read_within_limit(path, max_bytes)))
        except ConfigError as error:
            diagnostics.extend(error.diagnostics)
        except InputError as error:
            problems.append(str(error))
    if problems:
        raise InputError("\n".join(dict.fromkeys(problems)))
    return sources, diagnostics


def _files_named(paths: Sequence[str | Path], problems: list[str]) -> Iterator[Path]:
    """The files the arguments name; an argument that names none adds its problem instead.

    A folder names its .yaml and .yml files; dot-files (.pre-commit-config.yaml, an editor's
    .personas.yaml.swp or .#personas.yaml) are someone else's, never config.
    """
    if not paths:
        raise InputError("no config file given")
    for given in paths:
        path = Path(given)
        try:
            if not stat.S_ISDIR(path.stat().st_mode):
                yield path
                continue
            found = sorted(
                child
                for child in path.iterdir()
                if not child.name.startswith(".")
                and child.suffix.lower() in (".yaml", ".yml")
                and child.is_file()
            )
        except OSError as error:
            problems.append(str(_unreadable(path, error)))
            continue
        if not found:
            problems.append(f"{path}: the folder has no .yaml or .yml files")
        yield from found


def _read_within_limit(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, refusing before reading what is too large or not a regular file."""
    try:
        with open_regular(path) as stream:
            size = os.fstat(stream.fileno()).st_size
            # A file may grow after fstat: read at most one byte past the limit to know.
            content = stream.read(max_bytes + 1) if size <= max_bytes else b""
    except OSError as error:
        raise _unreadable(path, error) from None
    size = max(size, len(content))
    if size <= max_bytes:
        return content
    shown = f"{size:,} bytes" if len(content) <= max_bytes else f"over {max_bytes:,} bytes"
    message = (
        f"the file is {shown}, over the limit of {max_bytes:,} bytes (--max-file-size): "
        "it is not read"
    )
    raise ConfigError([Diagnostic(str(path), 1, 1, message)])


def _unreadable(path: Path, error: OSError) -> InputError:
    if isinstance(error, FileNotFoundError | NotADirectoryError):
        return InputError(f"{path}: no such file")
    return cannot_read(path, (error.strerror or type(error).__name__).lower())
