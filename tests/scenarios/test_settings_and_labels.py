"""Per-number settings and labels end to end: the CLI against the simulator over loopback.

The account: Support holds 100 (its pathway and label are the dashboard's business: a plain
entry), 103 (settings to clear) and 104 (label already right); the IVR holds 102, with its own
pathway, and 130; 101 is on no persona.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, TEST_KEY, RunCli, point_cli_at
from tests.simulated import Simulator, persona_of
from tests.simulator_faults import with_test_faults

SUPPORT, IVR = "p-support", "p-ivr"
N100, N101, N102, N103, N104, N130 = (
    "+14155550100",
    "+14155550101",
    "+14155550102",
    "+14155550103",
    "+14155550104",
    "+14155550130",
)
KEEP = {"pathway_id": "pw_keep", "start_node_id": "node_9"}
NEW = {"pathway_id": "pw_new", "pathway_version": 2, "start_node_id": "node_1"}
MOVED = {"pathway_id": "pw_moved"}
STATE: dict[str, Any] = {
    "numbers": [
        {"phone_number": N100, "label": "Main"},
        {"phone_number": N101, "label": None},
        {"phone_number": N102, "label": "IVR entry"},
        {"phone_number": N103, "label": None},
        {"phone_number": N104, "label": "Back office"},
        {"phone_number": N130, "label": None},
    ],
    "personas": [
        {
            "id": SUPPORT,
            "name": "Support",
            "numbers": [N100, N103, N104],
            "persona_settings": {N100: KEEP, N103: {"pathway_id": "pw_old"}},
        },
        {
            "id": IVR,
            "name": "Legacy IVR",
            "numbers": [N102, N130],
            "persona_settings": {N102: {"pathway_id": "pw_ivr"}},
        },
    ],
}
CONFIG = f"""\
version: 1
personas:
  - name: Support
    numbers:
      - "{N100}"
      - number: "{N101}"
        label: Front desk
        settings:
          pathway_id: pw_new
          pathway_version: 2
          start_node_id: node_1
      - number: "{N102}"
        settings:
          pathway_id: pw_moved
      - number: "{N103}"
        settings: null
      - number: "{N104}"
        label: Back office
"""
BAD = ROOT / "tests" / "data" / "bad"


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Any:
    with with_test_faults(Simulator(STATE, api_key=TEST_KEY)) as simulator:
        yield point_cli_at(simulator, monkeypatch)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "personas.yaml"
    path.write_text(CONFIG)
    return path


def endpoint_counts(sim: Simulator) -> Counter[str]:
    """Writes the simulator applied, per endpoint (and per number for settings and labels)."""
    counts: Counter[str] = Counter()
    for request in sim.writes():
        if request.status != 200:
            continue
        if request.path.endswith("/settings"):
            counts[f"settings {request.path.split('/')[5].replace('%2B', '+')}"] += 1
        elif request.path == "/inbound/update_label":
            counts[f"label {request.body['phoneNumber']}"] += 1
        else:
            counts[f"{request.path.rsplit('/', 1)[-1]} {persona_of(request.path)}"] += 1
    return counts


def test_one_apply_attaches_moves_sets_and_clears_then_plans_clean(
    account: Simulator, config: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    planned = run_cli("plan", config)
    assert planned.code == 0, planned.err
    assert planned.out == (
        "Support (p-support)\n"
        f"  + {N101}\n"
        f"  ~ {N102} (from 'Legacy IVR')\n"
        f'  * {N101} settings: none (after the attach) -> {{"pathway_id": "pw_new", '
        '"pathway_version": 2, "start_node_id": "node_1"}\n'
        f'  * {N102} settings: none (after the move) -> {{"pathway_id": "pw_moved"}}\n'
        f'  * {N103} settings: {{"pathway_id": "pw_old"}} -> none\n'
        f'  * {N101} label: (not shown by the API) -> "Front desk"\n'
        "\n"
        "Plan: 1 to attach, 1 to move, 0 to detach, 3 settings to write, 1 label to write.\n"
    )
    account.requests.clear()

    applied = run_cli("apply", config, "--auto-approve")

    assert applied.code == 0, applied.out + applied.err
    last_write = max(i for i, r in enumerate(account.requests) if r.kind == "write")
    reads_after = len(account.requests) - last_write - 1
    assert reads_after == 4
    assert (
        "Apply complete: 1 attached, 1 moved, 0 detached, 3 with new settings, 1 label set; "
        f"5 API writes; verified with {reads_after} reads."
    ) in applied.out
    assert endpoint_counts(account) == Counter(
        {
            f"attach {SUPPORT}": 1,
            f"settings {N101}": 1,
            f"settings {N102}": 1,
            f"settings {N103}": 1,
            f"label {N101}": 1,
        }
    )
    assert account.persona_numbers(SUPPORT) == [N100, N101, N102, N103, N104]
    assert account.persona_numbers(IVR) == [N130]
    assert account.persona_settings(SUPPORT, N101) == NEW
    assert account.persona_settings(SUPPORT, N102) == MOVED
    assert account.persona_settings(SUPPORT, N103) is None
    assert account.label(N101) == "Front desk"
    # The plain entry: its settings and label are as the dashboard left them.
    assert account.persona_settings(SUPPORT, N100) == KEEP
    assert account.label(N100) == "Main"
    assert account.label(N102) == "IVR entry"

    account.requests.clear()
    again = run_cli("plan", config, "--detailed-exitcode")
    assert (again.code, again.out) == (0, f"No changes. The account matches {config}.\n")

    exported = tmp_path / "exported.yaml"
    assert run_cli("export", "--out", exported).code == 0
    text = exported.read_text()
    assert (
        f'      - number: "{N100}"\n'
        '        label: "Main"\n'
        "        settings:\n"
        '          pathway_id: "pw_keep"\n'
        '          start_node_id: "node_9"\n'
    ) in text
    assert f'      - number: "{N103}"\n' not in text  # no settings and no label: a string
    assert f'      - "{N103}"\n' in text
    round_trip = run_cli("plan", exported, "--detailed-exitcode")
    assert (round_trip.code, round_trip.out) == (
        0,
        f"No changes. The account matches {exported}.\n",
    )
    assert account.writes() == []


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("settings-unknown-key.yaml", '8:11: unknown key "start_node" (did you mean'),
        ("label-too-long.yaml", '6:16: "label" is 151 characters long'),
        ("number-mapping-without-number.yaml", "5:9: a number given as a mapping is missing"),
    ],
)
def test_bad_entries_exit_1_at_their_place_and_send_nothing(
    account: Simulator, run_cli: RunCli, name: str, where: str
) -> None:
    for command in (("validate",), ("plan",), ("apply", "--auto-approve")):
        result = run_cli(command[0], BAD / name, *command[1:])
        assert result.code == 1
        assert result.err.startswith(f"{BAD / name}:{where}")
    assert account.requests == []


def test_a_listing_without_settings_writes_them_and_says_it_cannot_verify(
    account: Simulator, config: Path, run_cli: RunCli
) -> None:
    account.faults.inbound_numbers_as_strings = True

    applied = run_cli("apply", config, "--auto-approve")

    assert applied.code == 4, applied.out
    # Declared values that cannot be read are written; the plan after the writes still cannot
    # see them, so its one repair writes them once more, and the last plan still needs them.
    assert endpoint_counts(account) == Counter(
        {
            f"attach {SUPPORT}": 1,
            f"settings {N101}": 2,
            f"settings {N102}": 2,
            f"settings {N103}": 2,
            f"label {N101}": 2,
            f"label {N104}": 2,
        }
    )
    assert (
        "note: the account still differed after the writes (5 changes): applying them again"
    ) in applied.out
    assert (
        f"not converged: still needed: settings {N101} ('Support') from (not shown) to "
        '{"pathway_id": "pw_new", "pathway_version": 2, "start_node_id": "node_1"}'
    ) in applied.out
    assert f"not converged: still needed: label {N104} ('Support') from (not shown) to" in (
        applied.out
    )
    # The plain entry was left alone even though nothing about it could be read.
    assert account.persona_settings(SUPPORT, N100) == KEEP
    assert account.label(N100) == "Main"

    again = run_cli("plan", config)
    assert "No changes" not in again.out
    assert f"  * {N103} settings: (not shown by the API) -> none\n" in again.out


def test_a_dashboard_settings_change_makes_a_saved_plan_stale(
    account: Simulator, config: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    saved = tmp_path / "plan.json"
    assert run_cli("plan", config, "--out", saved).code == 0
    account.set_persona_settings(SUPPORT, N103, {"pathway_id": "pw_dashboard"})
    account.requests.clear()

    applied = run_cli("apply", saved)

    assert applied.code == 3
    assert "the account changed since the plan was made, nothing was written" in applied.err
    assert account.writes() == []
    # The refusal must say what changed: the settings +103 has now. Both changes it names clear
    # +103's settings; only what they find before differs, and the message has to show that.
    assert "pw_dashboard" in applied.err, applied.err


def test_a_saved_plan_applies_its_settings_and_labels(
    account: Simulator, config: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    saved = tmp_path / "plan.json"
    assert run_cli("plan", config, "--out", saved).code == 0

    applied = run_cli("apply", saved)

    assert applied.code == 0, applied.out + applied.err
    assert account.persona_settings(SUPPORT, N101) == NEW
    assert account.label(N101) == "Front desk"
    assert run_cli("apply", saved).code == 0  # applied already: nothing more is written
    assert sum(endpoint_counts(account).values()) == 5


def test_a_refused_move_put_back_gets_its_settings_back(
    account: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    config = tmp_path / "move.yaml"
    config.write_text(
        "version: 1\npersonas:\n  - name: Support\n    numbers:\n"
        f'      - "{N100}"\n      - "{N103}"\n      - "{N104}"\n'
        f'      - number: "{N102}"\n        settings: {{pathway_id: pw_moved}}\n'
    )
    account.faults.attach_mode = "refuse"
    # The attach after the number is freed fails every attempt; the put-back then succeeds.
    account.faults.write_statuses = [0, 0] + [500] * 6

    applied = run_cli("apply", config, "--auto-approve")

    # The put-back gave +102 back to Legacy IVR with the settings it had there...
    assert f'Legacy IVR: set the settings of {N102} to {{"pathway_id": "pw_ivr"}}' in applied.out
    assert f"Support: writing the settings of {N102} skipped: its attach did not succeed" in (
        applied.out
    )
    # ...then the plan after the writes still wanted it on Support: one repair moved it there.
    assert (
        "note: the account still differed after the writes (2 changes): applying them again"
        in applied.out
    )
    assert account.persona_numbers(IVR) == [N130]
    assert account.persona_settings(SUPPORT, N102) == {"pathway_id": "pw_moved"}
    assert run_cli("plan", config, "--detailed-exitcode").code == 0
    # The plan after the repair is empty: the run is done (exit 0), its failed write reported.
    assert applied.code == 0, applied.out


def test_moving_a_plain_entry_says_its_settings_are_cleared(
    account: Simulator, run_cli: RunCli, tmp_path: Path
) -> None:
    config = tmp_path / "plain.yaml"
    config.write_text(
        "version: 1\npersonas:\n  - name: Support\n    numbers:\n"
        f'      - "{N100}"\n      - "{N102}"\n      - "{N103}"\n      - "{N104}"\n'
    )
    planned = run_cli("plan", config)
    assert (
        f"  ~ {N102} (from 'Legacy IVR')\n"
        '    its settings there, {"pathway_id": "pw_ivr"}, are cleared by the move (declare '
        "them under the number to keep them)\n"
    ) in planned.out
    assert "settings:" not in planned.out  # a plain entry gets no settings write


def test_a_label_cut_mid_emoji_by_the_api_is_planned_saved_and_exported(
    monkeypatch: pytest.MonkeyPatch, config: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    # A server counting UTF-16 units may cut a label between the halves of an emoji: its JSON
    # then holds a lone surrogate, which no UTF-8 output can hold.
    state = copy.deepcopy(STATE)
    state["numbers"][4]["label"] = "Back office \ud83d"
    state["personas"][0]["persona_settings"][N103] = {"pathway_id": "pw_old\udfff"}
    with Simulator(state, api_key=TEST_KEY) as simulator:
        point_cli_at(simulator, monkeypatch)
        planned = run_cli("plan", config, "--out", tmp_path / "saved.plan")
        assert planned.code == 0, planned.err
        assert f'  * {N104} label: "Back office \ufffd" -> "Back office"\n' in planned.out
        assert f'  * {N103} settings: {{"pathway_id": "pw_old\ufffd"}} -> none\n' in planned.out
        assert run_cli("plan", config, "--format", "markdown").code == 0
        exported = run_cli("export", "--out", tmp_path / "exported.yaml")
        assert exported.code == 0, exported.err
        assert run_cli("plan", tmp_path / "exported.yaml", "--detailed-exitcode").code == 0
