"""`reconciler export`: the live account as a config that plans clean, against the simulator."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.config.schema import load_schema
from tests.conftest import CONFIG, IVR, SUPPORT, TEST_KEY, RunCli, point_cli_at
from tests.simulated import Simulator

DELETED_SALES = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b04"
SCHEMA_ID = load_schema()["$id"]


def test_export_of_the_example_account(sim: Simulator, run_cli: RunCli) -> None:
    result = run_cli("export")
    assert result.code == 0, result.err
    assert result.out == (
        f"# yaml-language-server: $schema={SCHEMA_ID}\n"
        "#\n"
        "# Exported from the live account by `reconciler export`. Every persona and agent listed\n"
        "# here is managed: after `reconciler apply` it has exactly the numbers listed under it.\n"
        "# Those with no numbers are not listed; add one to manage it.\n"
        "version: 1\n"
        "personas:\n"
        f'  - id: "{IVR}"\n'
        '    name: "Legacy IVR"\n'
        "    numbers:\n"
        '      - number: "+14155550102"\n'
        '        label: "Old IVR entry"\n'
        '      - number: "+14155550130"\n'
        '        label: "IVR main"\n'
        f'  - id: "{SUPPORT}"\n'
        '    name: "Support Agent"\n'
        "    numbers:\n"
        '      - number: "+14155550100"\n'
        '        label: "Support main line"\n'
        '      - number: "+14155550103"\n'
        '        label: "Retired support line"\n'
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

    sim.requests.clear()
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
    assert run_cli("export", "--out", out, "--force").code == 0
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


def test_personas_sharing_a_name_export_by_id_and_plan_clean(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    sim.add_persona("p-sales-eu", "Sales", ["+14155550140"])
    sim.add_persona("p-sales-us", "Sales", ["+14155550130"])
    out = tmp_path / "all.yaml"
    exported = run_cli("export", "--out", out)
    assert exported.code == 0, exported.err
    assert run_cli("plan", out, "--detailed-exitcode").code == 0


def test_a_label_too_long_for_a_config_is_left_out_with_a_warning(
    example_state: dict[str, Any], monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    held = example_state["personas"][0]["numbers"][0]
    entry = next(n for n in example_state["numbers"] if n["phone_number"] == held)
    entry["label"] = "\U0001f600" * 76  # 76 characters, 152 UTF-16 units
    with Simulator(example_state, api_key=TEST_KEY) as simulator:
        point_cli_at(simulator, monkeypatch)
        result = run_cli("export")
    assert result.code == 0, result.err
    assert "\U0001f600" not in result.out
    assert result.err == (
        "warning: 1 of these numbers have a label longer than a config may hold (150 "
        "characters, an emoji counting as two): they are exported without it, and the config "
        "leaves it as it is\n"
    )


def test_an_export_is_never_written_over_the_key_file(
    sim: Simulator, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(TEST_KEY)
    key_file.chmod(0o600)
    monkeypatch.setenv("BLAND_API_KEY_FILE", str(key_file))
    result = run_cli("export", "--out", tmp_path / "." / "key")
    assert result.code == 1
    assert "is the API key file" in result.err
    assert key_file.read_text() == TEST_KEY
    assert sim.requests == []


@pytest.mark.parametrize("command", [("export",), ("plan", CONFIG)])
def test_out_naming_a_link_to_a_pipe_is_refused_and_the_link_kept(
    command: tuple[str, ...], sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    """`--out /dev/stdout` as root replaced the /dev/stdout link with a regular file."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    stdout_link = tmp_path / "stdout"
    stdout_link.symlink_to(fifo)
    force = ("--force",) if command == ("export",) else ()  # export replaces only when forced
    result = run_cli(*command, "--out", str(stdout_link), *force)
    assert result.code == 1
    assert result.err.endswith(
        f"error: {stdout_link}: not a regular file: the "
        f"{'file' if command == ('export',) else 'plan file'} replaces the file it is written "
        "to (nothing was written)\n"
    )
    assert stdout_link.is_symlink() and fifo.is_fifo()


def test_an_existing_file_is_replaced_only_with_force(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    out = tmp_path / "personas.yaml"
    out.write_text("mine\n")
    result = run_cli("export", "--out", out)
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        f"error: --out {out} exists: refusing to replace it (nothing was written; "
        "pass --force to replace it)\n"
    )
    assert out.read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["personas.yaml"]
    assert sim.requests == []  # refused before the account is read
    help_text = run_cli("export", "--help").out
    assert "only with --force" in help_text and "Replace the --out file" in help_text


def test_a_new_export_file_is_for_its_owner_only(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    out = tmp_path / "personas.yaml"
    before = os.umask(0o022)
    try:
        assert run_cli("export", "--out", out).code == 0
    finally:
        os.umask(before)
    assert out.stat().st_mode & 0o777 == 0o600


def _leaky_state(state: dict[str, Any]) -> dict[str, Any]:
    """The example account whose text holds runs of the key: an id, a name, a label, a
    pathway_id."""
    held = "+14155550100"
    next(n for n in state["numbers"] if n["phone_number"] == held)["label"] = f"Desk {TEST_KEY}"
    support = state["personas"][0]
    support["id"] = f"p-{TEST_KEY[5:25]}"
    support["name"] = f"Team {TEST_KEY[:15]}"
    support["persona_settings"] = {held: {"pathway_id": TEST_KEY[2:22]}}
    return state


@pytest.mark.parametrize("to_file", [True, False], ids=["--out", "stdout"])
def test_the_export_never_holds_the_key_wherever_the_account_does(
    to_file: bool,
    example_state: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    run_cli: RunCli,
    tmp_path: Path,
) -> None:
    out = tmp_path / "personas.yaml"
    with Simulator(_leaky_state(example_state), api_key=TEST_KEY) as simulator:
        point_cli_at(simulator, monkeypatch)
        result = run_cli("export", *(("--out", out) if to_file else ()))
    assert result.code == 0, result.err
    exported = out.read_text() if to_file else result.out
    pieces = {TEST_KEY[at : at + 12] for at in range(len(TEST_KEY) - 11)}
    assert [piece for piece in pieces if piece in exported + result.err] == []
    assert exported.count("***") == 4  # the id, the name, the label, the pathway
    assert "warning: the account's text holds the API key" in result.err


def test_settings_a_config_cannot_hold_are_left_out_naming_each_number(
    example_state: dict[str, Any], monkeypatch: pytest.MonkeyPatch, run_cli: RunCli, tmp_path: Path
) -> None:
    example_state["personas"][0]["persona_settings"] = {
        "+14155550100": {"pathway_id": "pw", "voice": "x"},
        "+14155550103": {"pathway_id": "pw", "pathway_version": "2"},
    }
    example_state["personas"][1]["persona_settings"] = {
        "+14155550102": {"pathway_id": ""},
        "+14155550130": {"pathway_id": "pw_ok", "pathway_version": 3},
    }
    out = tmp_path / "personas.yaml"
    with Simulator(example_state, api_key=TEST_KEY) as simulator:
        point_cli_at(simulator, monkeypatch)
        result = run_cli("export", "--out", out)
        assert result.code == 0, result.err
        assert result.err == (
            "warning: +14155550100, +14155550102, +14155550103: settings a config cannot hold "
            "(a key other than pathway_id, pathway_version and start_node_id, a version that is "
            "not a whole number, or no pathway_id): exported without them, and the config "
            f"leaves them as they are\n{out}: exported 2 personas, 4 numbers\n"
        )
        document = yaml.safe_load(out.read_text())
        numbers = [entry for persona in document["personas"] for entry in persona["numbers"]]
        assert [n["number"] for n in numbers] == [
            "+14155550102", "+14155550130", "+14155550100", "+14155550103"
        ]  # fmt: skip
        assert [n.get("settings") for n in numbers] == [
            None, {"pathway_id": "pw_ok", "pathway_version": 3}, None, None
        ]  # fmt: skip
        assert run_cli("plan", out, "--detailed-exitcode").code == 0
