"""Read, check and merge config files: the steps of loading, in order."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from reconciler.config.document import Document, diagnostic_at, type_name
from reconciler.config.entries import check_number_entries
from reconciler.config.merge import merge
from reconciler.config.phone import check_document_numbers
from reconciler.config.schema import schema_diagnostics
from reconciler.config.sources import DEFAULT_MAX_FILE_BYTES, read_sources
from reconciler.config.yaml_reader import parse_yaml
from reconciler.errors import ConfigError, Diagnostic
from reconciler.model import Desired


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
    try:
        document, problems = parse_yaml(name, content)
    except ConfigError as error:
        diagnostics.extend(error.diagnostics)
        return None
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
