"""The scenarios every target is held to: the in-process simulator and a live account alike.

Each scenario first brings the scratch routing to where it starts (with the tool), then does
its own step; the `scratch` fixture restores the recorded routing after the last one.
"""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests.acceptance.harness import AGENTS_VAR, SAFETY_FLAGS, Scratch, terminate_as_interrupt


def _writes(scratch: Scratch) -> int | None:
    """Writes the in-process simulator has served so far (None for any other target)."""
    simulator = scratch.target.simulator
    return None if simulator is None else len(simulator.writes())


def test_attach(scratch: Scratch) -> None:
    number = scratch.numbers[0]
    scratch.converge()
    result = scratch.apply(scratch.config(a=[number]))
    assert result.code == 0, result.out + result.err
    assert f"  + {number}\n" in result.out
    assert "Plan: 1 to attach, 0 to move, 0 to detach." in result.out
    assert "Apply complete: " in result.out
    scratch.assert_routing([number], [])


def test_detach(scratch: Scratch) -> None:
    number = scratch.numbers[0]
    scratch.converge(a=[number])
    result = scratch.apply(scratch.config())
    assert result.code == 0, result.out + result.err
    assert f"  - {number}\n" in result.out
    assert "Plan: 0 to attach, 0 to move, 1 to detach." in result.out
    scratch.assert_routing([], [])


def test_move_between_the_scratch_personas(scratch: Scratch) -> None:
    number = scratch.numbers[0]
    scratch.converge(a=[number])
    result = scratch.apply(scratch.config(b=[number]))
    assert result.code == 0, result.out + result.err
    assert f"  ~ {number} (from " in result.out
    assert "Plan: 0 to attach, 1 to move, 0 to detach." in result.out
    scratch.assert_routing([], [number])


def test_a_second_apply_writes_nothing(scratch: Scratch) -> None:
    first, second = scratch.numbers[:2]
    scratch.converge(a=[first], b=[second])
    writes = _writes(scratch)
    config = scratch.config(a=[first], b=[second])
    result = scratch.apply(config)
    assert result.code == 0, result.out + result.err
    assert result.out.startswith("No changes.")
    assert scratch.tool("plan", "--detailed-exitcode", config).code == 0
    assert _writes(scratch) == writes
    scratch.assert_routing([first], [second])


def test_a_saved_plan_is_applied(scratch: Scratch) -> None:
    first, second = scratch.numbers[:2]
    scratch.converge(a=[second])
    saved = scratch.workdir / "saved.plan.json"
    planned = scratch.tool("plan", *SAFETY_FLAGS, "--out", saved, scratch.config([first], [second]))
    assert planned.code == 0, planned.out + planned.err
    assert "Plan: 1 to attach, 1 to move, 0 to detach." in planned.out
    result = scratch.tool("apply", saved)
    assert result.code == 0, result.out + result.err
    assert "Apply complete: " in result.out
    scratch.assert_routing([first], [second])
    again = scratch.tool("apply", saved)
    assert again.code == 0
    assert "has already been applied" in again.out


def test_a_saved_plan_made_stale_by_a_change_is_refused(scratch: Scratch) -> None:
    number = scratch.numbers[0]
    scratch.converge()
    saved = scratch.workdir / "stale.plan.json"
    planned = scratch.tool("plan", *SAFETY_FLAGS, "--out", saved, scratch.config(a=[number]))
    assert planned.code == 0, planned.out + planned.err
    with scratch.target.client() as client:  # a change made outside the tool, as a user would
        client.attach(scratch.b, [number])
    writes = _writes(scratch)
    result = scratch.tool("apply", saved)
    assert result.code == 3, result.out + result.err
    assert "nothing was written" in result.err
    assert _writes(scratch) == writes
    scratch.assert_routing([], [number])


def test_apply_verifies_and_an_independent_read_agrees(scratch: Scratch) -> None:
    first, second = scratch.numbers[:2]
    scratch.converge(a=[first], b=[second])
    config = scratch.config(a=[second], b=[first])  # two moves, crossing
    result = scratch.apply(config)
    assert result.code == 0, result.out + result.err
    assert "Plan: 0 to attach, 2 to move, 0 to detach." in result.out
    assert "; verified with " in result.out
    assert scratch.tool("plan", "--detailed-exitcode", config).code == 0
    scratch.assert_routing([second], [first])


def test_settings_and_a_label_are_set_and_cleared(scratch: Scratch) -> None:
    number = scratch.labelled_number()
    if number is None:
        pytest.skip(
            "no scratch number's label was shown on a scratch persona, so a label changed "
            "here could not be put back (see docs/acceptance.md)"
        )
    scratch.converge(a=[number])
    start = scratch.apply(scratch.config(a=[{"number": number, "label": "", "settings": None}]))
    assert start.code == 0, start.out + start.err
    label = "reconciler acceptance " + os.urandom(3).hex()
    settings = {"pathway_id": scratch.target.pathway}
    declared = {"number": number, "label": label, "settings": settings}
    config = scratch.config(a=[declared])
    result = scratch.apply(config)
    assert result.code == 0, result.out + result.err
    assert f"  * {number} label: " in result.out
    assert (
        "Plan: 0 to attach, 0 to move, 0 to detach, 1 settings to write, 1 label to write."
        in result.out
    )
    assert "; verified with " in result.out
    assert scratch.number_object(scratch.a, number) == {
        "label": label,
        "persona_settings": settings,
    }
    writes = _writes(scratch)
    again = scratch.apply(config)
    assert again.code == 0, again.out + again.err
    assert again.out.startswith("No changes.")
    assert _writes(scratch) == writes
    cleared = scratch.apply(scratch.config(a=[{"number": number, "label": "", "settings": None}]))
    assert cleared.code == 0, cleared.out + cleared.err
    assert (
        "Plan: 0 to attach, 0 to move, 0 to detach, 1 settings to write, 1 label to write."
        in cleared.out
    )
    assert scratch.number_object(scratch.a, number) == {"label": None, "persona_settings": None}
    scratch.assert_routing([number], [])


def test_move_to_a_scratch_agent_and_back(scratch: Scratch) -> None:
    if not scratch.target.agents:
        pytest.skip(
            f"no scratch agent: set {AGENTS_VAR}=id1[,id2] to move a scratch number to a v2 "
            "agent and back (see docs/acceptance.md)"
        )
    if not scratch.agents:
        pytest.skip(
            f"plan cannot be sure to see the numbers of scratch agent {scratch.target.agents[0]}:"
            " its twin persona is neither in GET /v1/personas nor readable by id and GET "
            "/v1/inbound names no owners, or it has never held a number (see agent_twins in "
            "`reconciler doctor`, and docs/acceptance.md)"
        )
    number, agent = scratch.numbers[0], scratch.agents[0]
    scratch.converge(a=[number])
    to_agent = scratch.apply(scratch.config(a=[], agents={agent: [number]}))
    assert to_agent.code == 0, to_agent.out + to_agent.err
    assert f"(agent {agent})\n  ~ {number} (from " in to_agent.out
    assert "Plan: 0 to attach, 1 to move, 0 to detach." in to_agent.out
    scratch.assert_routing([], [], {agent: [number]})
    if len(scratch.agents) > 1:  # a second scratch agent: a move between two agents too
        other = scratch.agents[1]
        across = scratch.apply(scratch.config(agents={agent: [], other: [number]}))
        assert across.code == 0, across.out + across.err
        assert f"(agent {other})\n  ~ {number} (from agent " in across.out
        scratch.assert_routing([], [], {other: [number]})
        agent = other
    back = scratch.apply(scratch.config(a=[number], agents={agent: []}))
    assert back.code == 0, back.out + back.err
    assert f"  ~ {number} (from agent " in back.out
    assert "Plan: 0 to attach, 1 to move, 0 to detach." in back.out
    scratch.assert_routing([number], [])  # the agent holds its own numbers again, no other
    assert scratch.tool("plan", "--detailed-exitcode", scratch.config(a=[number])).code == 0


def test_doctor_finds_nothing_wrong_and_only_reads(scratch: Scratch) -> None:
    writes = _writes(scratch)
    result = scratch.tool("doctor", "--format", "json")
    report = json.loads(result.out)
    failed = [check for check in report["checks"] if check["status"] == "fail"]
    assert (result.code, failed) == (0, [])
    assert report["persona_pages"] >= 2  # the listing ended at an empty page
    assert _writes(scratch) == writes


def test_a_terminated_run_is_interrupted_so_the_scratch_routing_is_restored() -> None:
    # Not a scenario: a cancelled CI job sends SIGTERM, which must reach the restore.
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), terminate_as_interrupt():
        signal.raise_signal(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is previous
