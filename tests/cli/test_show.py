"""`reconciler show PLANFILE`: a saved plan printed as plan printed it; no key, no request."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reconciler import __version__
from reconciler.simulator import Simulator
from tests.conftest import CONFIG, SALES, SUPPORT, RunCli, write_config


def save(run_cli: RunCli, config: Path, path: Path, *flags: str, code: int = 0) -> tuple[Path, str]:
    """Plan `config` with `flags`, saving it to `path`; the plan's own output (stdout).

    `code` 3: a plan apply would refuse, saved all the same (plan exits 3 after printing it).
    """
    result = run_cli("plan", config, "--out", path, *flags)
    assert result.code == code, result.err
    assert path.exists()
    return path, result.out


def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key and an API that cannot be reached: show needs neither."""
    monkeypatch.delenv("BLAND_API_KEY")
    monkeypatch.setenv("BLAND_API_URL", "https://unreachable.invalid")


def test_show_prints_the_saved_plan_as_plan_printed_it(
    sim: Simulator, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_file, printed = save(run_cli, CONFIG, tmp_path / "reviewed.plan.json")
    requests = len(sim.requests)
    offline(monkeypatch)
    result = run_cli("show", plan_file)
    assert result.code == 0, result.err
    head, _, rest = result.out.partition("\n\n")
    assert head == f"Plan saved in {plan_file} by reconciler {__version__}, for {sim.url}:"
    # The plan's lines, then how to apply it (plan's own note named the file the same way).
    plan_lines = printed.split("\nSaved the plan to ")[0]
    assert rest == (
        f"{plan_lines}\nApply checks the plan and its safety valves against the account "
        f"before writing:\n  reconciler apply {plan_file}\n"
    )
    assert "Safety valve" not in result.out  # as plan said: Legacy IVR keeps other numbers
    assert result.err == ""
    assert len(sim.requests) == requests
    assert sim.writes() == []


@pytest.mark.parametrize(
    "flags",
    [
        ("--format", "json"),
        ("--format", "markdown"),
        ("--format", "json", "--mask-numbers"),
        ("--format", "markdown", "--mask-numbers"),
    ],
)
def test_show_json_and_markdown_are_exactly_what_plan_printed(
    sim: Simulator,
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flags: tuple[str, ...],
) -> None:
    plan_file, printed = save(run_cli, CONFIG, tmp_path / "p.plan.json", *flags)
    offline(monkeypatch)
    result = run_cli("show", plan_file, *flags)
    assert result.code == 0, result.err
    assert result.out == printed
    if "--mask-numbers" in flags:
        assert "****0110" in result.out and "+1415" not in result.out


def test_show_masks_the_text_too(sim: Simulator, run_cli: RunCli, tmp_path: Path) -> None:
    plan_file, _ = save(run_cli, CONFIG, tmp_path / "p.plan.json")
    result = run_cli("show", plan_file, "--mask-numbers")
    assert "  ~ ****0102 (from 'Legacy IVR')" in result.out
    assert "+1415" not in result.out


def test_show_repeats_a_safety_valve_on_managed_personas(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.yaml", [{"id": SUPPORT, "numbers": []}])
    plan_file, printed = save(run_cli, config, tmp_path / "p.plan.json", code=3)
    valve = "Safety valve: the plan leaves 'Support Agent' with none of its 2 numbers"
    assert valve in printed
    shown = run_cli("show", plan_file)
    assert shown.code == 0, shown.err  # show applies nothing: nothing to refuse
    assert valve in shown.out
    as_json = run_cli("show", plan_file, "--format", "json")
    assert valve in as_json.err and valve not in as_json.out
    safety = json.loads(as_json.out)["safety"]
    assert safety["apply_refuses"] is True
    assert safety["valves"] == ["the plan leaves 'Support Agent' with none of its 2 numbers"]


def test_show_repeats_a_protected_number(sim: Simulator, run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.read_text() + 'protected:\n  - "+14155550102"\n')
    plan_file, printed = save(run_cli, config, tmp_path / "p.plan.json", code=3)
    line = "Protected: +14155550102 is protected and the plan moves it from 'Legacy IVR'"
    assert line in printed
    shown = run_cli("show", plan_file)
    assert shown.code == 0 and line in shown.out


def test_show_an_empty_plan(sim: Simulator, run_cli: RunCli, tmp_path: Path) -> None:
    assert run_cli("apply", CONFIG, "--auto-approve").code == 0
    plan_file, _ = save(run_cli, CONFIG, tmp_path / "p.plan.json")
    result = run_cli("show", plan_file)
    assert result.code == 0
    assert result.out.endswith(f"\n\nNo changes. The account matches {CONFIG}.\n")
    assert "reconciler apply" not in result.out


def test_show_refuses_what_is_not_a_good_plan_file(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    plan_file, _ = save(run_cli, CONFIG, tmp_path / "p.plan.json")
    truncated = tmp_path / "truncated.plan.json"
    truncated.write_bytes(plan_file.read_bytes()[:-200])
    newer = tmp_path / "newer.plan.json"
    newer.write_text(plan_file.read_text().replace('"format_version": 2', '"format_version": 9', 1))
    cases = {
        tmp_path / "missing.json": "no such file",
        CONFIG: f"not a plan file (plan --out PLANFILE saves one); to see what config files "
        f"would change: reconciler plan {CONFIG}",
        truncated: "not a complete plan file, it may be truncated",
        newer: "plan file format version 9 is not supported",
    }
    for path, message in cases.items():
        result = run_cli("show", path)
        assert result.code == 1, path
        assert result.err.startswith(f"error: {path}: ")
        assert message in result.err
        assert len(result.err.splitlines()) == 1
        assert result.out == ""
    folder = run_cli("show", tmp_path)
    assert folder.code == 1 and "is a directory" in folder.err
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # no writer: opening it to read would wait for ever
    for device in (fifo, Path("/dev/zero")):
        result = run_cli("show", device)
        assert result.code == 1
        assert result.err == f"error: {device}: not a regular file (plan --out saves a plan file)\n"


def test_show_has_no_key_to_check_the_signature_and_apply_does(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    plan_file, _ = save(run_cli, CONFIG, tmp_path / "p.plan.json")
    plan_file.write_text(plan_file.read_text().replace("+14155550110", "+14155550119"))
    shown = run_cli("show", plan_file)
    assert shown.code == 0, shown.err
    assert "+14155550119" in shown.out
    assert "Apply checks the plan and its safety valves against the account" in shown.out
    applied = run_cli("apply", plan_file)
    assert applied.code == 3
    assert "the plan file was altered after it was written" in applied.err
    assert sim.writes() == []


def test_show_takes_global_options_and_no_config(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("show", tmp_path / "missing.json", "-v", "--no-color")
    assert result.err == f"error: {tmp_path / 'missing.json'}: no such file\n"


def test_a_crafted_plan_file_cannot_fake_lines_of_output(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    plan_file, _ = save(run_cli, CONFIG, tmp_path / "p.plan.json")
    document = json.loads(plan_file.read_text())
    document["tool_version"] = "0.1.0\nPlan: 0 to attach, 0 to move, 0 to detach."
    document["api_base_url"] = "https://api.bland.ai\x1b[2K"
    document["config"][0]["path"] = "personas.yaml\x1b[31m"
    document["plan"]["changes"][0]["persona_name"] = "Sales\nSupport Agent (x)"
    document["persona_names"][SALES] = "Sales\x1b[2J"
    plan_file.write_text(json.dumps(document))  # show has no key: the signature is not checked
    for output_format in ("text", "markdown"):
        result = run_cli("show", plan_file, "--format", output_format)
        assert result.code == 0, result.err
        assert "\x1b" not in result.out
        assert "\nPlan: 0 to attach" not in result.out
        assert "\nSupport Agent (x)" not in result.out
