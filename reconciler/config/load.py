"""Read, check and merge config files: from command-line arguments to one Desired state, with
what two places both claim reported."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from reconciler.config.phone import CANONICAL_E164, check_phone_number
from reconciler.config.schema import OWNER_LISTS, number_mapping_problems, schema_diagnostics
from reconciler.config.yaml_reader import Document, YamlPath, parse_yaml
from reconciler.errors import ConfigError, Diagnostic, InputError, cannot_read
from reconciler.files import read_regular
from reconciler.model import (
    Desired,
    DesiredPersona,
    OwnerKind,
    RoutingSettings,
    SourceMark,
    routing_settings,
)
from reconciler.text import shown, type_name

DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024


def load_config(paths: Sequence[str | Path], *, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Desired:
    """Read, check and merge config files, or folders of them (their .yaml and .yml files but
    their dot-files, an editor's or pre-commit's), into one Desired state. Nothing is parsed
    until every file can be read: InputError names each that cannot, in argument order; a file
    over max_bytes is a problem of its own. Raises ConfigError with every problem."""
    if not paths:
        raise InputError("no config file given")
    sources: list[tuple[str, bytes]] = []
    diagnostics: list[Diagnostic] = []
    problems: list[str] = []
    seen: set[Path] = set()  # a file named twice (or its problem) counts once
    for argument in map(Path, paths):
        named = [argument]
        try:
            if argument.is_dir():
                named = sorted(
                    child
                    for child in argument.iterdir()
                    if not child.name.startswith(".")
                    and child.suffix.lower() in (".yaml", ".yml")
                    and child.is_file()
                )
        except OSError as error:
            problems.append(str(cannot_read(argument, error)))
            continue
        if not named:
            problems.append(f"{argument}: the folder has no .yaml or .yml files")
        for path in [path for path in named if path not in seen]:
            seen.add(path)
            try:
                size, content = read_regular(path, max_bytes)
            except InputError as error:
                problems.append(str(error))
                continue
            if max(size, len(content)) <= max_bytes:
                sources.append((str(path), content))
                continue
            grown = f"over {max_bytes:,}" if size <= max_bytes else f"{size:,}"
            message = f"the file is {grown} bytes, over the limit of {max_bytes:,} bytes"
            message += " (--max-file-size): it is not read"
            diagnostics.append(Diagnostic(str(path), 1, 1, message))
    if problems:
        raise InputError("\n".join(dict.fromkeys(problems)))
    return load_config_sources(sources, diagnostics)


def load_config_sources(
    sources: Sequence[tuple[str, bytes]], diagnostics: list[Diagnostic] | None = None
) -> Desired:
    """Check and merge config texts already in memory, each named as its file would be: their
    owner entries (agents' as kind "agent", in file order), protected numbers and safety block.
    What is given twice is reported at its second place, with the first; values of the wrong
    type, which the schema reported, are skipped. Raises ConfigError with every problem."""
    diagnostics = [] if diagnostics is None else diagnostics
    # Numbers, and per kind (a persona and an agent are named apart) ids and lone names.
    first_marks: dict[Any, SourceMark] = {}

    def listed_twice(claim: Any, mark: SourceMark, what: str) -> bool:
        """True, reporting it at mark, when claim was made before; else claim is made at mark."""
        first = first_marks.get(claim)
        if first is None:
            first_marks[claim] = mark
            return False
        diagnostics.append(Diagnostic(*mark, f"{what} is listed twice (also at {first})"))
        return True

    personas: list[DesiredPersona] = []
    protected: dict[str, SourceMark] = {}
    safety, safety_mark = dict[str, Any](), None
    for name, content in sources:
        document, problems = parse_yaml(name, content)
        diagnostics.extend(problems)
        if document is None:
            continue
        value = document.value
        if not isinstance(value, dict):
            message = "the top level must be a mapping with 'version' and 'personas', not "
            diagnostics.append(Diagnostic(*document.mark(()), message + type_name(value)))
            continue
        diagnostics.extend(schema_diagnostics(document))
        for key in [key for key in value if key in OWNER_LISTS]:  # in the file's order
            entries = value[key]
            for index, entry in enumerate(entries if isinstance(entries, list) else []):
                if isinstance(entry, dict):
                    owner = _owner(document, (key, index), entry, listed_twice, diagnostics)
                    personas.append(owner)
        listed = value.get("protected")
        for position, number in enumerate(listed if isinstance(listed, list) else []):
            path: YamlPath = ("protected", position)
            mark, what = document.mark(path), f"protected number {number}"
            is_e164 = _is_e164(document, path, number, diagnostics)
            if is_e164 and not listed_twice(("protected", number), mark, what):
                protected[number] = mark
        block = value.get("safety")
        if isinstance(block, dict):
            mark = document.mark(("safety",))
            if safety_mark is not None:
                message = f"'safety' may be set in one file only (also at {safety_mark})"
                diagnostics.append(Diagnostic(*mark, message))
            safety_mark = mark
            safety = dict(block)  # the schema checks its keys and values
            if isinstance(safety.get("min_numbers"), float):  # 8.0: the schema's whole number
                safety["min_numbers"] = int(safety["min_numbers"])
    if diagnostics:
        raise ConfigError(diagnostics)
    return Desired(
        personas=tuple(personas),
        files=tuple(name for name, _ in sources),
        protected=tuple(protected),
        protected_marks=protected,
        safety=safety,
        digests={name: hashlib.sha256(content).hexdigest() for name, content in sources},
    )


def _is_e164(document: Document, path: YamlPath, number: Any, problems: list[Diagnostic]) -> bool:
    """True for a number in canonical form; one not canonical, or not possible, is reported."""
    wrong = check_phone_number(number, document.raw.get(path))
    if wrong is not None and not document.is_refused(path):
        problems.append(Diagnostic(*document.mark(path), wrong))
    return isinstance(number, str) and CANONICAL_E164.fullmatch(number) is not None


def _owner(
    document: Document,
    path: YamlPath,
    entry: dict[str, Any],
    listed_twice: Callable[[Any, SourceMark, str], bool],
    diagnostics: list[Diagnostic],
) -> DesiredPersona:
    """One owner entry, its numbers checked and claimed (those claimed before are skipped)."""
    kind: OwnerKind = "agent" if path[0] == "agents" else "persona"
    mark = document.mark(path)
    owner_id, name = entry.get("id"), entry.get("name")
    owner_id = owner_id if isinstance(owner_id, str) and owner_id else None
    name = name if isinstance(name, str) and name else None
    if owner_id is not None:
        listed_twice((kind, "id", owner_id), mark, f"{kind} id {shown(owner_id)}")
    elif name is not None:
        # Only a name alone names a persona twice: two entries with ids may share a name
        # (Bland allows it), and the name then only checks each id.
        listed_twice((kind, "name", name), mark, f"{kind} {shown(repr(name))}")
    number_marks: dict[str, SourceMark] = {}
    settings: dict[str, RoutingSettings | None] = {}
    labels: dict[str, str] = {}
    numbers = entry.get("numbers")
    for position, item in enumerate(numbers if isinstance(numbers, list) else []):
        number, number_path = item, (*path, "numbers", position)
        if isinstance(item, dict):
            diagnostics.extend(number_mapping_problems(document, number_path, item))
            if "number" not in item:
                continue  # the schema reports it
            number, number_path = item["number"], (*number_path, "number")
        number_mark = document.mark(number_path)
        is_e164 = _is_e164(document, number_path, number, diagnostics)
        if not is_e164 or listed_twice(number, number_mark, number):
            continue
        number_marks[number] = number_mark
        if not isinstance(item, dict):
            continue
        # What a mapping entry declares besides its number; an agent's has no settings.
        declared = item.get("settings", False)
        if kind == "persona" and (declared is None or isinstance(declared, dict)):
            settings[number] = routing_settings(declared)
        if isinstance(item.get("label"), str):
            labels[number] = item["label"]
    return DesiredPersona(
        owner_id, name, tuple(number_marks), mark, number_marks, settings, labels, kind
    )
