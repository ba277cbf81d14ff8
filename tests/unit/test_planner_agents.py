"""The planner with v2 agents beside personas, as a pure function of desired and live.

An agent's numbers are held under its owner key (`agent:ID`), read from its hidden twin persona;
the twin itself is never a persona. A number answered by a pathway or a prompt is held too.
"""

from __future__ import annotations

import pytest

from reconciler.errors import ConfigError
from reconciler.model import (
    Desired,
    DesiredPersona,
    InboundRoute,
    Live,
    LiveAgent,
    LivePersona,
    SourceMark,
    owner_key,
)
from reconciler.plan import Action, Change
from reconciler.planner import build_plan
from reconciler.render import plan_document, render_text
from reconciler.safety import Thresholds, assess

SALES, BOT, TWIN = "p-sales", "ag-bot", "p-twin"
BOT_KEY = owner_key("agent", BOT)
N100, N101, N102 = "+14155550100", "+14155550101", "+14155550102"
MARK = SourceMark("routing.yaml", 4, 5)


def account(
    sales: tuple[str, ...] = (),
    bot: tuple[str, ...] = (),
    *,
    pinned: bool = True,
    routes: dict[str, InboundRoute] | None = None,
    unverifiable: bool = False,
) -> Live:
    personas = {
        SALES: LivePersona(SALES, "Sales", frozenset(sales)),
        BOT_KEY: LivePersona(BOT_KEY, "Bot", frozenset(bot)),
    }
    agent = LiveAgent(BOT, "Bot", "v1" if pinned else None)
    return Live(
        personas,
        frozenset({N100, N101, N102}),
        agents={BOT: agent},
        twins={TWIN: ("twin of Bot", BOT)},
        unverifiable=frozenset({BOT}) if unverifiable else frozenset(),
        routes=routes or {},
    )


def entry(kind: str, ref: str, *numbers: str, by_name: bool = False) -> DesiredPersona:
    return DesiredPersona(
        None if by_name else ref,
        ref if by_name else None,
        numbers,
        MARK,
        kind="agent" if kind == "agent" else "persona",
    )


CASES = {
    "agent to persona is a move": (
        [entry("persona", SALES, N100), entry("agent", BOT)],
        account(bot=(N100,)),
        [Change(Action.MOVE, SALES, "Sales", N100, BOT_KEY, "Bot")],
    ),
    "persona to agent is a move": (
        [entry("persona", SALES), entry("agent", BOT, N100)],
        account(sales=(N100,)),
        [Change(Action.MOVE, BOT_KEY, "Bot", N100, SALES, "Sales")],
    ),
    "a free number to an agent named by name": (
        [entry("agent", "Bot", N101, by_name=True)],
        account(),
        [Change(Action.ATTACH, BOT_KEY, "Bot", N101)],
    ),
    "an agent emptied in the file": (
        [entry("agent", BOT)],
        account(bot=(N100, N101)),
        [
            Change(Action.DETACH, BOT_KEY, "Bot", N100),
            Change(Action.DETACH, BOT_KEY, "Bot", N101),
        ],
    ),
    "a number bound to a pathway is taken from it": (
        [entry("persona", SALES, N102)],
        account(routes={N102: InboundRoute(N102, "pw_ivr", None, None)}),
        [Change(Action.MOVE, SALES, "Sales", N102, "pathway:pw_ivr", "")],
    ),
    "a number answered by its own prompt is taken from it": (
        [entry("persona", SALES, N102)],
        account(routes={N102: InboundRoute(N102, None, "Hello", None)}),
        [Change(Action.MOVE, SALES, "Sales", N102, f"prompt:{N102}", "")],
    ),
}


@pytest.mark.parametrize(("entries", "live", "expected"), CASES.values(), ids=CASES.keys())
def test_changes_between_kinds(
    entries: list[DesiredPersona], live: Live, expected: list[Change]
) -> None:
    assert list(build_plan(Desired(tuple(entries)), live).changes) == expected


def test_the_json_and_text_name_the_kind_of_both_sides() -> None:
    plan = build_plan(
        Desired((entry("persona", SALES, N100), entry("agent", BOT))), account(bot=(N100,))
    )
    (change,) = plan_document(plan)["changes"]
    assert change["kind"] == "persona"
    assert change["from_kind"] == "agent"
    assert change["from_persona_id"] == BOT
    assert f"~ {N100} (from agent 'Bot')" in render_text(plan, "routing.yaml")
    to_agent = build_plan(
        Desired((entry("persona", SALES), entry("agent", BOT, N100))), account(sales=(N100,))
    )
    assert "Bot (agent ag-bot)" in render_text(to_agent, "routing.yaml")
    assert plan_document(to_agent)["changes"][0]["persona_id"] == BOT


def test_moves_between_kinds_count_for_the_valves_and_protected_numbers() -> None:
    desired = Desired((entry("persona", SALES, N100), entry("agent", BOT)), protected=(N100,))
    plan = assess(build_plan(desired, account(bot=(N100,))), Thresholds())
    assert plan.refusals == (
        f"{N100} is protected and the plan moves it from agent 'Bot' to 'Sales'",
    )
    assert plan.valves == ("the plan leaves agent 'Bot' with none of its 1 number",)


def test_a_protected_number_on_a_pathway_is_never_moved_away() -> None:
    desired = Desired((entry("persona", SALES, N102),), protected=(N102,))
    live = account(routes={N102: InboundRoute(N102, "pw_ivr", None, None)})
    plan = assess(build_plan(desired, live), Thresholds())
    assert plan.refused
    assert plan.refusals == (
        f"{N102} is protected and the plan moves it from pathway pw_ivr to 'Sales'",
    )
    assert plan.valves == ()  # a pathway is no owner to leave empty


REFUSED = {
    "a persona entry naming a twin by id": (
        entry("persona", TWIN),
        "is the hidden persona of agent 'Bot' (ag-bot)",
    ),
    "a persona entry naming a twin by name": (
        entry("persona", "twin of Bot", by_name=True),
        "is the hidden persona of agent 'Bot' (ag-bot)",
    ),
    "an unknown agent id": (entry("agent", "ag-nope"), "no agent with id ag-nope"),
    "a misspelt agent name": (
        entry("agent", "Bott", by_name=True),
        "no active agent named 'Bott' (did you mean 'Bot'?)",
    ),
    "a persona id that is an agent's key": (entry("persona", BOT_KEY), "no persona with id"),
}


@pytest.mark.parametrize(("bad", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_entries_that_name_no_owner_of_their_kind_are_refused_at_their_line(
    bad: DesiredPersona, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        build_plan(Desired((bad,)), account())
    assert str(raised.value).startswith("routing.yaml:4:5: ")
    assert message in str(raised.value)


def test_an_agent_whose_numbers_no_read_shows_is_refused_not_guessed() -> None:
    with pytest.raises(ConfigError, match="cannot tell which numbers agent 'Bot' holds"):
        build_plan(Desired((entry("agent", BOT, N100),)), account(unverifiable=True))


def test_an_agent_named_by_name_in_a_full_agent_list_needs_its_id() -> None:
    live = account()
    from dataclasses import replace

    with pytest.raises(ConfigError, match="give its id"):
        build_plan(
            Desired((entry("agent", "Bot", by_name=True),)), replace(live, agents_incomplete=True)
        )


def test_an_agent_with_no_production_pin_gets_a_warning() -> None:
    plan = build_plan(Desired((entry("agent", BOT, N100),)), account(pinned=False))
    (notice,) = plan.notices
    assert notice.startswith("agent 'Bot' has no version pinned to production")
    assert f"Warning: {notice}" in render_text(plan, "routing.yaml")
    assert plan_document(plan)["warnings"] == [notice]
    pinned = build_plan(Desired((entry("agent", BOT, N100),)), account())
    assert pinned.notices == ()
