"""After the writes, apply plans the whole config again from a fresh read: a declared number found
off its persona is attached again in the same run (one repair plan, under the same safety checks),
or the run exits 4 naming it; never exit 0 without it.
"""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.simulator import RequestRecord, Simulator
from tests.conftest import CONFIG, SALES, SUPPORT, RunCli, writes
from tests.simulated import persona_of

SALES_EMEA = "+14155550110"


def dashboard_unroutes_sales_emea_at_the_detach(sim: Simulator, record: RequestRecord) -> None:
    """Someone detaches +…110 from Sales in the dashboard while apply is at its detaches."""
    if record.path.endswith("/detach") and SALES_EMEA in sim.persona_numbers(SALES):
        sim.set_owner(SALES_EMEA, None)


def test_a_declared_number_unrouted_during_the_apply_is_attached_again(
    sim: Simulator, run_cli: RunCli
) -> None:
    sim.on_write = dashboard_unroutes_sales_emea_at_the_detach

    result = run_cli("apply", CONFIG, "--auto-approve")

    assert result.code == 0, result.out + result.err
    assert SALES_EMEA in sim.persona_numbers(SALES)
    assert writes(sim)[-1] == (SALES, "attach", [SALES_EMEA])
    assert (
        "note: the account still differed after the writes (1 change): applying them again"
        in result.out
    )
    assert run_cli("plan", CONFIG, "--detailed-exitcode").code == 0


def test_a_declared_number_that_cannot_be_put_back_fails_the_run_naming_it(
    sim: Simulator, run_cli: RunCli
) -> None:
    def unroute_and_refuse_the_next_write(sim: Simulator, record: RequestRecord) -> None:
        dashboard_unroutes_sales_emea_at_the_detach(sim, record)
        if persona_of(record.path) == SUPPORT and record.path.endswith("/detach"):
            sim.faults.write_statuses = [400]  # the attach that would put it back

    sim.on_write = unroute_and_refuse_the_next_write

    result = run_cli("apply", CONFIG, "--auto-approve")

    assert result.code == 4, result.out + result.err
    assert SALES_EMEA not in sim.persona_numbers(SALES)
    assert f"not converged: still needed: attach {SALES_EMEA} ('Sales')" in result.out
    assert f"Sales: attach of 1 number ({SALES_EMEA}) failed" in result.out


def test_a_declared_number_moved_during_the_apply_to_a_persona_outside_the_plan_stays_there(
    sim: Simulator, run_cli: RunCli
) -> None:
    """Someone moves +…110 from Sales to a persona the plan does not concern while apply is at
    its detaches. Taking it back is a move like any other, and it would leave Night Desk with
    none of its numbers: the safety checks refuse that repair. The run names it and exits 4."""
    sim.add_persona("p-night", "Night Desk")

    def dashboard_moves_it(sim: Simulator, record: RequestRecord) -> None:
        if record.path.endswith("/detach") and SALES_EMEA in sim.persona_numbers(SALES):
            sim.set_owner(SALES_EMEA, "p-night")

    sim.on_write = dashboard_moves_it

    result = run_cli("apply", CONFIG, "--auto-approve")

    assert result.code == 4, result.out + result.err
    assert sim.persona_numbers("p-night") == [SALES_EMEA]
    assert (SALES, "attach", [SALES_EMEA]) not in writes(sim)[1:]
    assert (
        "not converged: not put right, the safety checks refuse it: the plan leaves 'Night Desk' "
        "with none of its 1 number" in result.out
    )
    assert f"not converged: still needed: move {SALES_EMEA} ('Sales') from 'Night Desk'" in (
        result.out
    )


def test_a_number_put_back_gets_the_settings_it_declares_and_the_run_converges(
    sim: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    """+…110 declares settings. Someone detaches it from Sales after its settings were written
    (at the label write, the last write of the apply): the attach that puts it back leaves it
    with none, so its settings are written once more, and the run exits 0."""
    settings = {"pathway_id": "pw_emea"}
    config = tmp_path / "personas.yaml"
    config.write_text(
        f"""\
version: 1
personas:
  - id: {SUPPORT}
    numbers: ["+14155550100", "+14155550101", "+14155550102"]
  - name: Sales
    numbers:
      - number: "{SALES_EMEA}"
        settings:
          pathway_id: pw_emea
      - number: "+14155550111"
        label: Sales US desk
  - name: After Hours
    numbers: []
"""
    )

    def dashboard_unroutes_it_at_the_label_write(sim: Simulator, record: RequestRecord) -> None:
        if record.path.endswith("/update_label") and SALES_EMEA in sim.persona_numbers(SALES):
            sim.set_owner(SALES_EMEA, None)

    sim.on_write = dashboard_unroutes_it_at_the_label_write
    log_file = tmp_path / "audit.jsonl"

    result = run_cli("apply", config, "--auto-approve", "--log-file", log_file)

    assert result.code == 0, result.out + result.err
    assert SALES_EMEA in sim.persona_numbers(SALES)
    assert sim.persona_settings(SALES, SALES_EMEA) == settings
    settings_writes = [r for r in sim.writes() if r.path.endswith("/settings")]
    assert [r.path.split("/")[3] for r in settings_writes] == [SALES, SALES]
    assert writes(sim)[-1] == (SALES, "attach", [SALES_EMEA])
    assert f'Sales: set the settings of {SALES_EMEA} to {{"pathway_id": "pw_emea"}}' in result.out
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    logged = [(e["action"], e["outcome"]) for e in lines if e["numbers"] == [SALES_EMEA]]
    assert logged[-4:] == [
        ("attach", "sent"),
        ("attach", "done"),
        ("settings", "sent"),
        ("settings", "done"),
    ]
    assert run_cli("plan", config, "--detailed-exitcode").code == 0
