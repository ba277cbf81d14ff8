"""Attacks on how the account is read, fifth round: GET /v1/inbound naming owners for some
numbers only, with an agent no read lists; the export's comparison of its two listings where
twins are tagged; and the reads by number sent at once when one of them fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.simulator.api import Reply
from tests.conftest import CONFIG, RunCli, write_config
from tests.scenarios import agent_account
from tests.scenarios.agent_account import BOT, N101, N102, SUPPORT, TWIN, writes
from tests.scenarios.conftest import StartSim
from tests.scenarios.test_attack_reads import FREE as EXAMPLE_FREE
from tests.scenarios.test_attack_reads import rewrite_inbound, set_pathway
from tests.scenarios.test_attack_reads_two import no_crash

OWNERS = {"legacy_inbound_includes_persona": True}  # GET /v1/inbound names owners
BOTH = {**OWNERS, "inbound_shows_routing": True}  # ... and shows pathway_id and prompt
CHANGED = "changed while it was read"


def twin_owner_hidden(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """GET /v1/inbound names the owners of numbers on v1 personas, `null` for a twin's."""
    return [{**e, "persona_id": None} if e.get("persona_id") == TWIN else e for e in entries]


# -- an agent past the 500 GET /v2/agents lists, its numbers shown free by GET /v1/inbound ------


def deleted_agent_hidden_twin(start_sim: StartSim) -> Any:
    """The agent account where Bot was deleted after its twin took its numbers: no agent list
    shows Bot, and its twin is neither listed nor readable (New has a twin too, which the
    simulator takes as a sign that twins are not listed)."""
    state = agent_account.state()
    state["personas"].append(
        {"id": "p-twin-new", "name": "New", "numbers": [], "tags": ["v2-agent:ag-new"]}
    )
    sim = start_sim(state, **BOTH)
    with sim.lock:
        del sim.account.agents[BOT]
    return sim


PROTECTED = pytest.mark.parametrize("protected", [False, True], ids=["unprotected", "protected"])


def apply_support_claiming_n101(run_cli: RunCli, tmp_path: Path, protected: bool) -> Any:
    support = [N101, agent_account.N100, agent_account.N106]
    extra = {"protected": [N101]} if protected else {}
    routing = agent_account.config(tmp_path, [{"id": SUPPORT, "numbers": support}], [], **extra)
    return run_cli("apply", routing, "--auto-approve")


@PROTECTED
def test_a_number_an_agent_past_the_agent_list_holds_is_not_taken_as_free(
    start_sim_past_the_agent_list: StartSim, run_cli: RunCli, tmp_path: Path, protected: bool
) -> None:
    """Bot is past the full GET /v2/agents list; its twin is neither listed nor readable. GET
    /v1/inbound names the owners of persona numbers but shows N101 (on Bot's twin) with
    persona_id null, pathway_id and prompt. Its own record (GET /v1/inbound/{number}) names the
    twin, but is no longer read: N101, declared on Support, is attached as a free number."""
    sim = start_sim_past_the_agent_list(**BOTH)
    rewrite_inbound(sim, twin_owner_hidden)

    result = apply_support_claiming_n101(run_cli, tmp_path, protected)

    no_crash(result)
    assert N101 in sim.persona_numbers(TWIN), result.out + result.err
    assert writes(sim) == []


@PROTECTED
def test_a_number_the_twin_of_a_deleted_agent_holds_is_not_taken_as_free(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, protected: bool
) -> None:
    """As above, Bot deleted after its twin took N101 and N105: no agent list shows Bot, and
    its twin is not listed (New's twin, read by id, holds nothing). No read shows N101 held
    but its own record, which is no longer read."""
    state = agent_account.state()
    state["personas"].append(
        {"id": "p-twin-new", "name": "New", "numbers": [], "tags": ["v2-agent:ag-new"]}
    )
    sim = start_sim(state, **BOTH, twins_readable=True)
    with sim.lock:
        del sim.account.agents[BOT]  # its twin kept, and still not listed
    rewrite_inbound(sim, twin_owner_hidden)

    result = apply_support_claiming_n101(run_cli, tmp_path, protected)

    no_crash(result)
    assert N101 in sim.persona_numbers(TWIN), result.out + result.err
    assert writes(sim) == []


# -- an export of a steady account with twins tagged for an agent no list shows ----------------

SECOND_TWIN = "p-twin-bot-2"


def tagged_twins(twins: int) -> dict[str, Any]:
    """The agent account without Bot in GET /v2/agents (deleted, or past the list), `twins`
    listed personas tagged as its twin: the first holding N101 and N105, a second N102."""
    state = agent_account.state()
    state["agents"] = [a for a in state["agents"] if a["id"] != BOT]
    if twins == 2:
        state["personas"].append(
            {"id": SECOND_TWIN, "name": "Bot", "numbers": [N102], "tags": [f"v2-agent:{BOT}"]}
        )
    return state


@pytest.mark.parametrize(
    "twins",
    [
        pytest.param(1, id="one-tagged-twin"),
        pytest.param(2, id="two-tagged-twins"),
    ],
)
def test_an_export_of_twins_tagged_for_an_unlisted_agent_is_not_refused_as_changed(
    start_sim: StartSim, run_cli: RunCli, twins: int
) -> None:
    """Nothing changes while the export reads; Bot is in no GET /v2/agents list, and the
    listing shows `twins` personas tagged `v2-agent:ag-bot`. Both listings show the same
    personas with the same numbers: the export must not be refused as changed."""
    start_sim(tagged_twins(twins), twins_listed=True, twins_readable=True)

    result = run_cli("export")

    no_crash(result)
    assert CHANGED not in result.err, result.err
    assert result.code == 0, result.out + result.err


# -- reads by number sent at once: one fails ----------------------------------------------------

FREE = [f"+1415556{i:04}" for i in range(120)]  # free numbers, each read by number


def test_a_read_by_number_that_fails_stops_the_reads_not_yet_started(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    """120 declared numbers look free and GET /v1/inbound shows no owners, so each is read by
    number, 16 at once. The first one's record is malformed: the plan stops there, and the
    reads not yet started are not sent (as the persona listing does after an error)."""
    state = {"numbers": FREE, "personas": [{"id": "p-one", "name": "One", "numbers": []}]}
    sim = start_sim(state)
    before = sim.intercept

    def intercept(record: Any, serve: Any) -> Reply:
        if record.method == "GET" and record.path.endswith(FREE[0][1:]):
            body = {"phone_number": 12}  # a number that is not a string
            return Reply(200, json.dumps(body).encode())
        return serve(record) if before is None else before(record, serve)

    sim.intercept = intercept
    routing = agent_account.config(tmp_path, [{"id": "p-one", "numbers": FREE}], [])

    result = run_cli("plan", routing)

    no_crash(result)
    assert result.code != 0, result.out + result.err
    sent = [r for r in sim.reads() if r.path.startswith("/v1/inbound/")]
    assert 0 < len(sent) < len(FREE), len(sent)


# -- an agent's numbers where GET /v1/inbound names the owners of persona numbers only ----------


@pytest.mark.parametrize(
    ("numbers", "attached"),
    [
        pytest.param([N101, agent_account.N105], [], id="steady"),
        pytest.param([N101, N102, agent_account.N105], [N102], id="attach-one"),
    ],
)
def test_an_agent_whose_twin_get_inbound_shows_free_is_applied_and_checked(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path, numbers: list[str], attached: list[str]
) -> None:
    """Bot's twin is neither listed nor readable; GET /v1/inbound names the owners of persona
    numbers but shows the twin's with persona_id null. Bot's numbers rest on the records read
    by number: a steady file plans nothing, and an attach to Bot is checked as done."""
    sim = start_sim(agent_account.state(), **BOTH)
    rewrite_inbound(sim, twin_owner_hidden)
    routing = agent_account.config(tmp_path, [], [{"id": BOT, "numbers": numbers}])

    result = run_cli("apply", routing, "--auto-approve")

    no_crash(result)
    assert result.code == 0, result.out + result.err
    assert sorted(sim.persona_numbers(TWIN)) == sorted(numbers)
    assert [n for _, ns in writes(sim) for n in ns] == attached


# -- a pathway only the number's own record shows ---------------------------------------------


def test_a_protected_number_on_a_pathway_only_its_record_shows_is_not_taken(
    start_sim: StartSim, run_cli: RunCli, tmp_path: Path
) -> None:
    """GET /v1/inbound names owners and shows pathway_id and prompt, but shows the example's
    free number with `pathway_id: null` (a field undocumented there: the server leaves it
    empty, or it was bound since); its own record shows it bound to pw-1. The reading that
    makes it held wins (open question 16): it is protected, and must not be taken."""
    sim = start_sim(**BOTH)
    set_pathway(sim, EXAMPLE_FREE, "pw-1")
    rewrite_inbound(sim, lambda entries: [
        {**e, "pathway_id": None} if e["phone_number"] == EXAMPLE_FREE else e for e in entries
    ])  # fmt: skip
    document = yaml.safe_load(CONFIG.read_text())
    config = write_config(tmp_path / "p.yaml", document["personas"], protected=[EXAMPLE_FREE])

    result = run_cli("apply", config, "--auto-approve", "--force")

    no_crash(result)
    assert result.code != 0, result.out + result.err
    assert not [w for w in sim.writes() if EXAMPLE_FREE in json.dumps(w.body)], result.out
