"""`reconciler export`: the live account as a config that plans clean, against the simulator."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from reconciler.config import load_config, load_schema
from reconciler.errors import InputError, ReconcilerError
from reconciler.export import check_plans_clean, render_export
from reconciler.files import write_atomic
from reconciler.model import Live, LivePersona
from reconciler.simulator import Simulator
from tests.conftest import EXAMPLES, TEST_KEY, RunCli

SUPPORT = "7b0c4a9e-1d2f-4c3b-9a8e-5f6d7c8b9a01"
IVR = "0e4f8a2b-6c1d-4e5f-8a9b-0c1d2e3f4a02"
SALES = "5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e03"
DELETED_SALES = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b04"
SCHEMA_ID = load_schema()["$id"]


def test_export_of_the_example_account(sim: Simulator, run_cli: RunCli) -> None:
    result = run_cli("export")
    assert result.code == 0, result.err
    assert result.out == (
        f"# yaml-language-server: $schema={SCHEMA_ID}\n"
        "#\n"
        "# Exported from the live account by `reconciler export`. Every persona listed here is\n"
        "# managed: after `reconciler apply` it has exactly the numbers listed under it.\n"
        "# Personas with no numbers are not listed; add one to manage it.\n"
        "version: 1\n"
        "personas:\n"
        f'  - id: "{IVR}"\n'
        '    name: "Legacy IVR"\n'
        "    numbers:\n"
        '      - "+14155550102"\n'
        '      - "+14155550130"\n'
        f'  - id: "{SUPPORT}"\n'
        '    name: "Support Agent"\n'
        "    numbers:\n"
        '      - "+14155550100"\n'
        '      - "+14155550103"\n'
    )
    assert sim.writes() == []


def test_round_trip_export_then_plan_shows_no_changes(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    # An account with what makes adoption hard: a soft-deleted persona still holding a number,
    # two active personas sharing a name, names YAML would misread, numbers out of order.
    sim.add_number("+14155550150")
    sim.add_number("+14155550151")
    sim.add_number("+442071838750")
    sim.add_persona("p-twin-1", "Sales", ["+14155550151", "+14155550150"])
    sim.add_persona("p-yes", "yes", ["+442071838750"])
    sim.add_persona("p-odd", 'Ops: "night" #2 | @team', ["+14155550140"])
    sim.set_owner("+14155550111", DELETED_SALES)
    out = tmp_path / "personas.yaml"

    exported = run_cli("export", "--out", out)
    assert exported.code == 0, exported.err
    assert exported.err == f"{out}: exported 5 personas, 8 numbers\n"
    assert exported.out == ""
    document = yaml.safe_load(out.read_text())
    assert [entry["id"] for entry in document["personas"]] == [
        IVR,
        "p-odd",
        "p-twin-1",
        SUPPORT,
        "p-yes",
    ]
    assert document["personas"][1]["name"] == 'Ops: "night" #2 | @team'
    assert document["personas"][2]["numbers"] == ["+14155550150", "+14155550151"]
    assert DELETED_SALES not in out.read_text()
    assert "+14155550111" not in out.read_text()
    assert run_cli("validate", out).code == 0

    sim.clear_log()
    plan = run_cli("plan", out, "--detailed-exitcode")
    assert plan.code == 0, plan.out + plan.err
    assert plan.out == f"No changes. The account matches {out}.\n"
    assert sim.writes() == []


def test_export_then_apply_makes_no_writes(sim: Simulator, run_cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "personas.yaml"
    assert run_cli("export", "--out", out).code == 0
    assert run_cli("apply", out, "--auto-approve").code == 0
    assert sim.writes() == []


def test_export_replaces_an_existing_file_atomically(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    out = tmp_path / "personas.yaml"
    out.write_text("old content\n")
    out.chmod(0o640)
    assert run_cli("export", "--out", out).code == 0
    assert out.read_text().startswith("# yaml-language-server:")
    assert out.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["personas.yaml"]


def test_export_into_a_missing_folder_is_one_line(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    result = run_cli("export", "--out", tmp_path / "no" / "personas.yaml")
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert "cannot write the file" in result.err
    assert "Traceback" not in result.err


def test_export_never_shows_the_key(sim: Simulator, run_cli: RunCli) -> None:
    result = run_cli("-vv", "export")
    assert result.code == 0
    assert TEST_KEY not in result.out + result.err


def test_export_needs_the_key(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BLAND_API_KEY", raising=False)
    monkeypatch.delenv("BLAND_API_KEY_FILE", raising=False)
    result = run_cli("export")
    assert result.code == 1
    assert "BLAND_API_KEY is not set" in result.err


def live(*personas: LivePersona) -> Live:
    numbers = frozenset(n for p in personas for n in p.numbers)
    return Live({p.id: p for p in personas}, numbers)


def test_render_export_of_an_empty_account_is_a_valid_config(tmp_path: Path) -> None:
    text = render_export(live(LivePersona("p1", "Idle", frozenset())), SCHEMA_ID)
    assert text.endswith("version: 1\npersonas: []\n")
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    assert load_config([path]).personas == ()


def test_render_export_quotes_what_yaml_would_misread(tmp_path: Path) -> None:
    odd = LivePersona("12345", "null", frozenset({"+14155550100"}))
    nameless = LivePersona("p-nameless", "", frozenset({"+14155550101"}))
    text = render_export(live(odd, nameless), SCHEMA_ID)
    assert '  - id: "12345"\n    name: "null"\n' in text
    assert '  - id: "p-nameless"\n    numbers:\n' in text
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    desired = load_config([path])
    assert [(p.id, p.name) for p in desired.personas] == [("p-nameless", None), ("12345", "null")]


def test_a_number_on_two_personas_cannot_be_exported() -> None:
    shared = frozenset({"+14155550100"})
    with pytest.raises(InputError, match=r"\+14155550100 is attached to several personas"):
        render_export(live(LivePersona("a", "A", shared), LivePersona("b", "B", shared)), "x")


def test_the_self_check_refuses_an_export_that_would_not_plan_clean() -> None:
    account = live(LivePersona("p1", "Support", frozenset({"+14155550100", "+14155550101"})))
    text = render_export(account, SCHEMA_ID)
    check_plans_clean(text, account)
    missing_one = text.replace('      - "+14155550101"\n', "")
    with pytest.raises(
        ReconcilerError, match=r"would not plan clean: Plan: 0 to attach, 0 to move, 1 to detach"
    ):
        check_plans_clean(missing_one, account)
    with pytest.raises(
        ReconcilerError, match=r"the export is not a valid config: the export:\d+:\d+: "
    ):
        check_plans_clean(text.replace("version: 1", "version: 2"), account)


def test_personas_sharing_a_name_export_by_id_and_plan_clean(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    sim.add_persona("p-sales-eu", "Sales", ["+14155550140"])
    sim.add_persona("p-sales-us", "Sales", ["+14155550130"])
    out = tmp_path / "all.yaml"
    exported = run_cli("export", "--out", out)
    assert exported.code == 0, exported.err
    assert run_cli("plan", out, "--detailed-exitcode").code == 0


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
