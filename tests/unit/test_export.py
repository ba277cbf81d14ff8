"""Rendering the live account as a config that plans clean, and the schema it points at."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.config.load import load_config, load_config_sources
from reconciler.config.schema import load_schema
from reconciler.errors import InputError, ReconcilerError
from reconciler.export import export_config
from reconciler.files import write_atomic
from reconciler.model import Live, LivePersona
from tests.conftest import EXAMPLES


def live(*personas: LivePersona) -> Live:
    numbers = frozenset(n for p in personas for n in p.numbers)
    return Live({p.id: p for p in personas}, numbers)


def test_export_of_an_empty_account_is_a_valid_config(tmp_path: Path) -> None:
    text = export_config(live(LivePersona("p1", "Idle", frozenset())))[0]
    assert text.endswith("version: 1\npersonas: []\n")
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    assert load_config([path]).personas == ()


def test_export_quotes_what_yaml_would_misread(tmp_path: Path) -> None:
    odd = LivePersona("12345", "null", frozenset({"+14155550100"}))
    nameless = LivePersona("p-nameless", "", frozenset({"+14155550101"}))
    text = export_config(live(odd, nameless))[0]
    assert '  - id: "12345"\n    name: "null"\n' in text
    assert '  - id: "p-nameless"\n    numbers:\n' in text
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    desired = load_config([path])
    assert [(p.id, p.name) for p in desired.personas] == [("p-nameless", None), ("12345", "null")]


def test_a_number_on_two_personas_cannot_be_exported() -> None:
    shared = frozenset({"+14155550100"})
    with pytest.raises(InputError, match=r"\+14155550100 is attached to several personas"):
        export_config(live(LivePersona("a", "A", shared), LivePersona("b", "B", shared)))[0]


LEFT_OUT = {
    "all shown": ({}, False, []),
    "one spelled as no number": (
        {"call me": ""},
        False,
        ["+14155550104 (on 'Sales') is left out: GET /v1/inbound does not show it"],
    ),
    "agent list full": ({}, True, ["GET /v2/agents came back full (500 agents"]),
}


@pytest.mark.parametrize(("spellings", "full", "starts"), LEFT_OUT.values(), ids=LEFT_OUT)
def test_export_leaves_out_what_a_config_cannot_name_and_says_so(
    spellings: dict[str, str], full: bool, starts: list[str]
) -> None:
    sales = LivePersona("p-sales", "Sales", frozenset({"+14155550100", "+14155550104"}))
    shown = frozenset({"+14155550100"} if spellings else sales.numbers)
    account = replace(
        live(sales), account_numbers=shown, spellings=spellings, agents_incomplete=full
    )
    text = export_config(account)[0]  # it plans clean, or export_config refuses it
    assert ("+14155550104" in text) is not spellings
    warnings = [w for w in export_config(account)[1] if "numbers without" not in w]
    assert len(warnings) == len(starts)
    assert all(w.startswith(f"warning: {s}") for w, s in zip(warnings, starts, strict=True))


def test_the_self_check_refuses_an_export_that_would_not_plan_clean(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = live(LivePersona("p1", "Support", frozenset({"+14155550100", "+14155550101"})))
    export_config(account)

    def read_back_as(old: bytes, new: bytes) -> None:
        """The export read back with `old` in its text replaced by `new`."""
        monkeypatch.setattr(
            "reconciler.export.load_config_sources",
            lambda sources: load_config_sources([(n, t.replace(old, new)) for n, t in sources]),
        )

    read_back_as(b'      - "+14155550101"\n', b"")
    with pytest.raises(
        ReconcilerError, match=r"would not plan clean: Plan: 0 to attach, 0 to move, 1 to detach"
    ):
        export_config(account)
    read_back_as(b"version: 1", b"version: 2")
    with pytest.raises(
        ReconcilerError, match=r"the export is not a valid config: the export:\d+:\d+: "
    ):
        export_config(account)


def test_write_atomic_leaves_no_temporary_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.yaml"
    target.write_text("kept\n")

    def refuse(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(InputError, match="No space left on device"):
        write_atomic(target, "new\n")
    assert target.read_text() == "kept\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.yaml"]


def test_the_example_config_carries_the_schema_modeline() -> None:
    first = (EXAMPLES / "personas.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/personas.schema.json"


def test_the_schema_documents_every_field() -> None:
    schema = load_schema()
    assert schema["$id"].startswith("https://") and schema["title"]

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                assert sub.get("description"), f"{where}.{name} has no description"
                assert sub.get("examples"), f"{where}.{name} has no examples"
            for key, sub in node.items():
                walk(sub, f"{where}.{key}")

    walk(schema, "$")
    for name, definition in schema["$defs"].items():
        assert definition.get("description"), name
    assert json.dumps(schema)  # plain JSON, loadable by any editor
