"""From command-line arguments to config texts: files, folders of them, and the size limit."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from reconciler.errors import ConfigError, Diagnostic, InputError
from reconciler.files import cannot_read, open_regular

DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024


def read_sources(
    paths: Sequence[str | Path], max_bytes: int
) -> tuple[list[tuple[str, bytes]], list[Diagnostic]]:
    """The content of every file the arguments name, and the files refused for their size.

    Raises InputError with every file that cannot be read, one line each in argument order.
    """
    sources: list[tuple[str, bytes]] = []
    diagnostics: list[Diagnostic] = []
    # Lazily, so that a file's read problem comes in its argument's place; a file named twice
    # (or its problem) counts once.
    problems: list[str] = []
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
        # Nothing is parsed until every file can be read: the user fixes the arguments first.
        raise InputError("\n".join(dict.fromkeys(problems)))
    return sources, diagnostics


def _unreadable(path: Path, error: OSError) -> InputError:
    if isinstance(error, FileNotFoundError | NotADirectoryError):
        return InputError(f"{path}: no such file")
    reason = error.strerror or type(error).__name__
    return cannot_read(path, reason.lower())


def _files_named(paths: Sequence[str | Path], problems: list[str]) -> Iterator[Path]:
    """The files the arguments name; an argument that names none adds its problem instead."""
    if not paths:
        raise InputError("no config file given")
    for given in paths:
        path = Path(given)
        try:
            is_folder = stat.S_ISDIR(path.stat().st_mode)
            if is_folder:
                found = sorted(child for child in path.iterdir() if _is_config_file(child))
        except OSError as error:
            problems.append(str(_unreadable(path, error)))
            continue
        if not is_folder:
            yield path
        elif not found:
            problems.append(f"{path}: the folder has no .yaml or .yml files")
        else:
            yield from found


def _is_config_file(child: Path) -> bool:
    """A .yaml or .yml file of a folder; dot-files (.pre-commit-config.yaml, an editor's
    .personas.yaml.swp or .#personas.yaml) are someone else's, never config."""
    name = child.name
    return (
        not name.startswith(".") and child.suffix.lower() in (".yaml", ".yml") and child.is_file()
    )


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
