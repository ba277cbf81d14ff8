"""The next plan is the check: after the writes, before them when the user says `yes`, and for a
saved plan, apply plans again from the same desired state and compares.

Against the simulator over HTTP; the dashboard edits are made while apply runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.simulator import RequestRecord, Simulator
from tests.conftest import IVR, SALES, SUPPORT, RunCli, write_config, writes

NIGHT = "p-night"
QUIET = "+14155550140"  # declared on Night Desk and already there: the plan never touches it
SALES_US = "+14155550111"
PATHWAY = {"pathway_id": "pw_ivr"}


def _config(tmp_path: Path, **extra: object) -> Path:
    """Sales gains a number (the plan's one change); Night Desk already holds what it declares."""
    return write_config(
        tmp_path / "routing.yaml",
        [
            {"id": SALES, "numbers": [SALES_US]},
            {
                "id": NIGHT,
                "numbers": [{"number": QUIET, "settings": PATHWAY}],
            },
            {"id": IVR, "numbers": ["+14155550130", "+14155550102"]},
        ],
        **extra,
    )


@pytest.fixture
def night(sim: Simulator) -> Simulator:
    sim.add_persona(NIGHT, "Night Desk")
    sim.set_owner(QUIET, NIGHT)
    sim.set_persona_settings(NIGHT, QUIET, PATHWAY)
    sim.add_persona("p-other", "Other Desk")
    sim.set_owner("+14155550103", "p-other")  # so that taking one back does not empty it
    return sim


Edit = Callable[[Simulator], None]
EDITS: dict[str, Edit] = {
    "moved to a persona the file does not name": lambda s: s.set_owner(QUIET, "p-other"),
    "moved to a managed persona": lambda s: s.set_owner(QUIET, SUPPORT),
    "detached": lambda s: s.set_owner(QUIET, None),
    "given other settings": lambda s: s.set_persona_settings(NIGHT, QUIET, {"pathway_id": "x"}),
}


def _once(edit: Edit) -> Callable[[Simulator, RequestRecord], None]:
    done: list[bool] = []

    def on_write(sim: Simulator, record: RequestRecord) -> None:
        if not done:
            done.append(True)
            edit(sim)

    return on_write


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_a_dashboard_edit_of_an_untouched_persona_during_the_run_is_put_right(
    night: Simulator, run_cli: RunCli, tmp_path: Path, edit: Edit
) -> None:
    config = _config(tmp_path)
    night.on_write = _once(edit)

    result = run_cli("apply", config, "--auto-approve")

    assert result.code == 0, result.out + result.err
    assert "note: the account still differed after the writes" in result.out
    assert night.persona_numbers(NIGHT) == [QUIET]
    assert night.persona_settings(NIGHT, QUIET) == PATHWAY
    assert run_cli("plan", config, "--detailed-exitcode").code == 0


ROUTING_EDITS = {name: edit for name, edit in EDITS.items() if "settings" not in name}


@pytest.mark.parametrize("edit", ROUTING_EDITS.values(), ids=ROUTING_EDITS.keys())
def test_a_dashboard_edit_that_keeps_coming_back_ends_the_run_naming_the_number(
    night: Simulator, run_cli: RunCli, tmp_path: Path, edit: Edit
) -> None:
    night.on_write = lambda sim, record: edit(sim)

    result = run_cli("apply", _config(tmp_path), "--auto-approve")

    assert result.code == 4, result.out + result.err
    assert "Apply incomplete" in result.out
    assert "not converged: still needed: " in result.out
    assert QUIET in result.out.split("Apply incomplete", 1)[1]


def test_a_protected_number_taken_during_the_run_is_not_taken_back(
    night: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    """The repair is a plan like any other: a protected number is never moved away."""
    night.on_write = _once(EDITS["moved to a persona the file does not name"])

    result = run_cli("apply", _config(tmp_path, protected=[QUIET]), "--auto-approve")

    assert result.code == 4, result.out + result.err
    assert QUIET in night.persona_numbers("p-other")
    assert "not converged: not put right, the safety checks refuse it" in result.out
    assert f"still needed: move {QUIET} ('Night Desk') from 'Other Desk'" in result.out


def _dashboard_sets_a_pathway(sim: Simulator) -> None:
    """Someone gives +…102, which the plan moves from Legacy IVR to Support, a pathway there."""
    sim.set_persona_settings(IVR, "+14155550102", PATHWAY)


def test_a_saved_plan_is_refused_when_a_move_would_now_clear_settings(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    from tests.conftest import CONFIG

    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", CONFIG, "--out", plan_file).code == 0
    _dashboard_sets_a_pathway(sim)

    result = run_cli("apply", plan_file)

    assert result.code == 3, result.out + result.err
    assert "the account changed since the plan was made, nothing was written" in result.err
    assert "clearing its settings" in result.err
    assert writes(sim) == []
    assert sim.persona_settings(IVR, "+14155550102") == PATHWAY


def test_the_wait_for_yes_is_refused_when_a_move_would_now_clear_settings(
    sim: Simulator, run_cli: RunCli, seams: object
) -> None:
    from tests.conftest import CONFIG

    seams.confirm = lambda: _dashboard_sets_a_pathway(sim)  # type: ignore[attr-defined]

    result = run_cli("apply", CONFIG)

    assert result.code == 3, result.out + result.err
    assert "the account changed while the plan waited for confirmation" in result.err
    assert "clearing its settings" in result.err
    assert writes(sim) == []
    assert sim.persona_settings(IVR, "+14155550102") == PATHWAY
