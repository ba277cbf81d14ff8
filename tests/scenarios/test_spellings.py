"""One number spelled two ways by the account: the CLI against the simulator over loopback.

GET /v1/inbound and the persona objects may spell a number differently (`+1 415 5550100`,
`14155550100`). It is one number: the plan compares canonical E.164, and a write sends the
spelling GET /v1/inbound uses. A spelling that is no phone number is named, never acted on.

The account: Support holds 100 (with a pathway and a label the config leaves alone) and 104;
the IVR holds 101 and 102.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.simulator import Simulator
from tests.conftest import RunCli
from tests.scenarios.conftest import StartSim

SUPPORT, IVR = "p-support", "p-ivr"
N100, N101, N102, N104 = "+14155550100", "+14155550101", "+14155550102", "+14155550104"
KEEP = {"pathway_id": "pw_keep", "start_node_id": "node_9"}
STATE: dict[str, Any] = {
    "numbers": [
        {"phone_number": N100, "label": "Main"},
        {"phone_number": N101, "label": None},
        {"phone_number": N102, "label": None},
        {"phone_number": N104, "label": None},
    ],
    "personas": [
        {
            "id": SUPPORT,
            "name": "Support",
            "numbers": [N100, N104],
            "persona_settings": {N100: KEEP},
        },
        {"id": IVR, "name": "Legacy IVR", "numbers": [N101, N102]},
    ],
}
# How the account may spell 100 besides +14155550100.
ODD_SPELLINGS = ["+1 415 5550100", "14155550100"]


def config(tmp_path: Path, *support: str) -> Path:
    path = tmp_path / "personas.yaml"
    numbers = "".join(f'      - "{number}"\n' for number in support)
    path.write_text(f"version: 1\npersonas:\n  - name: Support\n    numbers:\n{numbers}")
    return path


def sent(sim: Simulator) -> list[tuple[str, Any]]:
    """(path, body) of every write the simulator answered 200."""
    return [(r.path, r.body) for r in sim.writes() if r.status == 200]


@pytest.mark.parametrize("spelled", ODD_SPELLINGS)
@pytest.mark.parametrize("where", ["listing_spellings", "inbound_spellings"])
def test_a_number_spelled_two_ways_plans_clean_and_apply_writes_nothing(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, where: str, spelled: str
) -> None:
    sim = start_sim(STATE, **{where: {N100: spelled}})
    path = config(tmp_path, N100, N104)

    planned = run_cli("plan", path, "--detailed-exitcode")
    assert (planned.code, planned.err) == (0, "")
    assert planned.out == f"No changes. The account matches {path}.\n"
    applied = run_cli("apply", path, "--auto-approve")

    assert applied.code == 0, applied.out + applied.err
    assert sent(sim) == []
    assert sim.owners()[N100] == [SUPPORT]
    assert sim.persona_settings(SUPPORT, N100) == KEEP


def test_a_number_that_must_move_is_sent_as_the_account_spells_it(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    # GET /v1/inbound spells 101 one way and the IVR's entry another: the account's way is sent.
    sim = start_sim(
        STATE,
        inbound_spellings={N101: "+1 415 555 0101", N104: "14155550104"},
        listing_spellings={N101: "14155550101", N104: "+1 415 555 0104"},
    )
    path = config(tmp_path, N100, N101)

    planned = run_cli("plan", path)
    assert planned.code == 0, planned.err
    assert f"~ {N101} (from 'Legacy IVR')" in planned.out
    assert f"- {N104}" in planned.out
    applied = run_cli("apply", path, "--auto-approve")

    assert applied.code == 0, applied.out + applied.err
    assert sent(sim) == [
        (f"/v1/personas/{SUPPORT}/inbound/attach", {"inbound_numbers": ["+1 415 555 0101"]}),
        (f"/v1/personas/{SUPPORT}/inbound/detach", {"inbound_numbers": ["14155550104"]}),
    ]
    assert (sim.owners()[N101], sim.owners()[N104]) == ([SUPPORT], [])


def test_settings_and_a_label_are_written_for_the_number_as_the_account_spells_it(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    sim = start_sim(STATE, inbound_spellings={N100: "+1 415 5550100"})
    path = tmp_path / "personas.yaml"
    path.write_text(
        "version: 1\npersonas:\n  - name: Support\n    numbers:\n"
        f'      - number: "{N100}"\n        label: Front desk\n'
        "        settings:\n          pathway_id: pw_new\n"
        f'      - "{N104}"\n'
    )

    applied = run_cli("apply", path, "--auto-approve")

    assert applied.code == 0, applied.out + applied.err
    assert sent(sim) == [
        (
            f"/v1/personas/{SUPPORT}/inbound/%2B1%20415%205550100/settings",
            {"persona_settings": {"pathway_id": "pw_new"}},
        ),
        ("/inbound/update_label", {"phoneNumber": "+1 415 5550100", "newLabel": "Front desk"}),
    ]
    assert sim.persona_settings(SUPPORT, N100) == {"pathway_id": "pw_new"}
    assert sim.label(N100) == "Front desk"


def test_a_spelling_that_is_no_phone_number_is_named_and_left_alone(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    # Support's entry shows 104 as text no one can read as a number: were it taken as an
    # undeclared number, apply would detach it.
    sim = start_sim(STATE, listing_spellings={N104: "call me"})
    path = config(tmp_path, N100)

    planned = run_cli("plan", path, "--detailed-exitcode")
    assert (planned.code, planned.err) == (0, "")
    assert planned.out == (
        f"Warning: persona 'Support' ({SUPPORT}) shows the number \"call me\", which cannot be "
        "read as a phone number: nothing is planned for it (correct it in the dashboard)\n"
        f"No changes. The account matches {path}.\n"
    )
    as_json = run_cli("plan", path, "--format", "json")
    assert '"changes": []' in as_json.out and 'number \\"call me\\", which' in as_json.out
    applied = run_cli("apply", path, "--auto-approve")

    assert applied.code == 0, applied.out + applied.err
    assert sent(sim) == []
    assert sim.owners()[N104] == [SUPPORT]
