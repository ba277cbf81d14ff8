"""The planner's behaviours that mutation testing found no other test pinning down."""

from __future__ import annotations

import sys

import pytest

from reconciler.model import (
    Desired,
    DesiredPersona,
    Live,
    LiveAgent,
    LivePersona,
    RoutingSettings,
    SourceMark,
    owner_key,
    routing_settings,
)
from reconciler.plan import Action, Change, ManagedPersona
from reconciler.planner import build_plan

SUPPORT, IVR = "p-support", "p-ivr"
N100, N101, N102, N103 = "+14155550100", "+14155550101", "+14155550102", "+14155550103"
MARK = SourceMark("personas.yaml", 3, 5)
PW1 = routing_settings({"pathway_id": "pw_1"})


def support(
    *numbers: str,
    settings: dict[str, RoutingSettings | None] | None = None,
    labels: dict[str, str] | None = None,
    elsewhere: frozenset[str] = frozenset(),
) -> Desired:
    entry = DesiredPersona(SUPPORT, None, numbers, MARK, {}, settings or {}, labels or {})
    return Desired((entry,), elsewhere=elsewhere)


def account(
    *personas: LivePersona,
    free: tuple[str, ...] = (),
    agents: dict[str, LiveAgent] | None = None,
    pages_read: int = 0,
    reads: int = 0,
) -> Live:
    numbers = {n for p in personas for n in p.numbers} | set(free)
    return Live(
        {p.id: p for p in personas},
        frozenset(numbers),
        pages_read=pages_read,
        reads=reads,
        agents=agents or {},
    )


def on_support(
    *numbers: str,
    settings: dict[str, RoutingSettings | None] | None = None,
    labels: dict[str, str | None] | None = None,
) -> LivePersona:
    return LivePersona(
        SUPPORT, "Support", frozenset(numbers), settings=settings or {}, labels=labels or {}
    )


@pytest.mark.parametrize(
    ("desired", "live"),
    [
        (support(N100), account(on_support(N100))),
        (support(N100, settings={N100: PW1}), account(on_support(N100, settings={N100: PW1}))),
        (support(N100, labels={N100: "Front"}), account(on_support(N100, labels={N100: "Front"}))),
        # The other persona holds numbers too: only the managed one's numbers are compared.
        (support(N100), account(on_support(N100), LivePersona(IVR, "IVR", frozenset({N101})))),
    ],
    ids=["numbers", "settings", "label", "beside another persona"],
)
def test_a_converged_account_is_planned_without_deepdiff(
    desired: Desired, live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A persona found equal by the cheap check never reaches deepdiff: here it cannot be imported.
    monkeypatch.setitem(sys.modules, "deepdiff", None)
    assert build_plan(desired, live).changes == ()


@pytest.mark.parametrize("label", ["Front", "XXXX", "-"])
def test_any_label_differs_from_none(label: str) -> None:
    """Whatever its text, a declared label is written where the number shows none."""
    live = account(on_support(N100, labels={N100: None}))
    expected = Change(Action.LABEL, SUPPORT, "Support", N100, before=None, after=label)
    assert build_plan(support(N100, labels={N100: label}), live).changes == (expected,)


def test_a_label_shown_empty_is_before_none() -> None:
    """An empty label shown is no label: the change says `before: null`, as for none."""
    live = account(on_support(N100, labels={N100: ""}))
    (change,) = build_plan(support(N100, labels={N100: "Front"}), live).changes
    assert change == Change(Action.LABEL, SUPPORT, "Support", N100, before=None, after="Front")
    assert change.to_json()["before"] is None


def test_a_number_an_entry_left_out_by_target_takes_is_not_detached() -> None:
    live = account(on_support(N100, N101))
    assert build_plan(support(N100, elsewhere=frozenset({N101})), live).changes == ()
    (detach,) = build_plan(support(N100), live).changes
    assert (detach.action, detach.phone_number) == (Action.DETACH, N101)
    # The numbers after it are still detached: Sales' numbers come after Support's.
    sales_entry = DesiredPersona("p-sales", None, (N102,), MARK)
    sales = LivePersona("p-sales", "Sales", frozenset({N102, N103}))
    both = Desired((*support(N100).personas, sales_entry), elsewhere=frozenset({N101}))
    assert build_plan(both, account(on_support(N100, N101), sales)).changes == (
        Change(Action.DETACH, "p-sales", "Sales", N103),
    )


def test_the_plan_carries_the_managed_personas_and_the_reads() -> None:
    live = account(on_support(N100), free=(N101,), pages_read=3, reads=5)
    plan = build_plan(support(N101), live)
    assert plan.managed == (
        ManagedPersona(SUPPORT, "Support", frozenset({N100}), frozenset({N101})),
    )
    assert (plan.pages_read, plan.reads) == (3, 5)


def test_an_unpinned_agent_notice_says_what_its_calls_run() -> None:
    bot = owner_key("agent", "ag-bot")
    live = account(
        LivePersona(bot, "Bot", frozenset({N100})), agents={"ag-bot": LiveAgent("ag-bot", "Bot")}
    )
    entry = DesiredPersona("ag-bot", None, (N100,), MARK, kind="agent")
    assert build_plan(Desired((entry,)), live).notices == (
        "agent 'Bot' has no version pinned to production: its calls run the dev version saved "
        "when a number was attached, so attach again after saving a version, or promote one",
    )


def test_a_persona_sharing_an_unpinned_agents_id_gets_no_agent_notice() -> None:
    # Persona ids and agent ids are separate namespaces: only an agent entry is an agent.
    live = account(on_support(N100), agents={SUPPORT: LiveAgent(SUPPORT, "Bot")})
    assert build_plan(support(N100), live).notices == ()


def test_a_converged_entry_does_not_hide_the_changes_of_the_next() -> None:
    sales = DesiredPersona("p-sales", None, (N101,), MARK)
    desired = Desired((*support(N100).personas, sales))
    live = account(on_support(N100), LivePersona("p-sales", "Sales", frozenset()), free=(N101,))
    assert build_plan(desired, live).changes == (Change(Action.ATTACH, "p-sales", "Sales", N101),)


def test_a_label_reading_not_shown_is_written_where_the_label_is_unread() -> None:
    live = account(on_support(N100))
    (change,) = build_plan(support(N100, labels={N100: "(not shown)"}), live).changes
    assert (change.action, change.after) == (Action.LABEL, "(not shown)")


def test_each_moved_number_is_checked_for_settings_a_move_drops() -> None:
    # N100 declares its settings, so they are not dropped; N101, after it, does not.
    desired = support(N100, N101, settings={N100: PW1})
    ivr = LivePersona(IVR, "IVR", frozenset({N100, N101}), settings={N100: PW1, N101: PW1})
    live = account(on_support(), ivr)
    assert build_plan(desired, live).settings_dropped == {N101: PW1}


def test_a_number_get_v1_inbound_shows_is_sent_as_it_spells_it() -> None:
    """A persona entry's spelling is used only for a number GET /v1/inbound does not show."""
    spellings = {"(415) 555-0100": N100, "(415) 555-0101": N101}
    spelled = LivePersona(SUPPORT, "Support", frozenset({N100, N101}), spellings=spellings)
    live = Live({SUPPORT: spelled}, frozenset({N100}))
    assert build_plan(support(N100), live).spelled([N100, N101]) == [N100, "(415) 555-0101"]


@pytest.mark.parametrize(("pid", "holder"), [("null", None), ("[]", IVR)], ids=["attach", "move"])
def test_a_persona_id_is_opaque_text(pid: str, holder: str | None) -> None:
    """An id that reads as JSON is still only an id: the number goes to it."""
    entry = DesiredPersona(pid, None, (N100,), MARK)
    held = frozenset({N100}) if holder else frozenset()
    live = account(
        LivePersona(pid, "Odd", frozenset()), LivePersona(IVR, "IVR", held), free=(N100,)
    )
    (change,) = build_plan(Desired((entry,)), live).changes
    assert (change.action, change.persona_id) == (Action.MOVE if holder else Action.ATTACH, pid)


def test_a_free_number_is_attached_to_a_persona_whose_id_is_empty_brackets() -> None:
    entry = DesiredPersona("[]", None, (N100,), MARK)
    live = account(LivePersona("[]", "Odd", frozenset()), free=(N100,))
    assert build_plan(Desired((entry,)), live).changes != ()
