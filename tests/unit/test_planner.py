"""The planner as a pure function: desired + live in, ordered changes out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.errors import ConfigError
from reconciler.model import Desired, DesiredPersona, Live, LivePersona, SourceMark
from reconciler.plan import Action, Change
from reconciler.planner import build_plan, diff, resolve

MARK = SourceMark("personas.yaml", 3, 5)

SUPPORT = "p-support"
SALES = "p-sales"
IVR = "p-ivr"  # unmanaged in every case below


def live(*personas: LivePersona, extra_numbers: tuple[str, ...] = ()) -> Live:
    numbers = {n for p in personas for n in p.numbers} | set(extra_numbers)
    return Live({p.id: p for p in personas}, frozenset(numbers), pages_read=1)


def persona(pid: str, name: str, *numbers: str, deleted: bool = False) -> LivePersona:
    return LivePersona(pid, name, frozenset(numbers), deleted)


def want(*entries: tuple[str | None, str | None, tuple[str, ...]]) -> Desired:
    personas = tuple(
        DesiredPersona(pid, name, numbers, SourceMark("personas.yaml", 3 + i * 4, 5))
        for i, (pid, name, numbers) in enumerate(entries)
    )
    return Desired(personas)


CASES = {
    "attach a free number": (
        want((SUPPORT, None, ("+14155550100", "+14155550101"))),
        live(persona(SUPPORT, "Support", "+14155550100"), extra_numbers=("+14155550101",)),
        [Change(Action.ATTACH, SUPPORT, "Support", "+14155550101")],
    ),
    "move from an unmanaged persona": (
        want((None, "Support", ("+14155550100",))),
        live(persona(SUPPORT, "Support"), persona(IVR, "Legacy IVR", "+14155550100")),
        [Change(Action.MOVE, SUPPORT, "Support", "+14155550100", IVR, "Legacy IVR")],
    ),
    "move between two managed personas is one move, no detach": (
        want((SUPPORT, None, ()), (SALES, None, ("+14155550100",))),
        live(persona(SUPPORT, "Support", "+14155550100"), persona(SALES, "Sales")),
        [Change(Action.MOVE, SALES, "Sales", "+14155550100", SUPPORT, "Support")],
    ),
    "detach an undeclared number": (
        want((SUPPORT, None, ("+14155550100",))),
        live(persona(SUPPORT, "Support", "+14155550100", "+14155550101")),
        [Change(Action.DETACH, SUPPORT, "Support", "+14155550101")],
    ),
    "numbers: [] detaches everything": (
        want((None, "Sales", ())),
        live(persona(SALES, "Sales", "+14155550100", "+14155550101")),
        [
            Change(Action.DETACH, SALES, "Sales", "+14155550100"),
            Change(Action.DETACH, SALES, "Sales", "+14155550101"),
        ],
    ),
    "converged gives an empty plan": (
        want((SUPPORT, "Support", ("+14155550100",)), (None, "Sales", ())),
        live(persona(SUPPORT, "Support", "+14155550100"), persona(SALES, "Sales")),
        [],
    ),
    "a deleted persona sharing the name is not a candidate": (
        want((None, "Sales", ("+14155550100",))),
        live(
            persona(SALES, "Sales"),
            persona("p-old-sales", "Sales", deleted=True),
            extra_numbers=("+14155550100",),
        ),
        [Change(Action.ATTACH, SALES, "Sales", "+14155550100")],
    ),
    "unmanaged personas are left alone": (
        want((SUPPORT, None, ("+14155550100",))),
        live(persona(SUPPORT, "Support", "+14155550100"), persona(IVR, "IVR", "+14155550130")),
        [],
    ),
    "a number held here and elsewhere is detached there, not attached again": (
        want((SUPPORT, None, ("+14155550100",))),
        live(persona(SUPPORT, "Support", "+14155550100"), persona(IVR, "IVR", "+14155550100")),
        [Change(Action.DETACH, IVR, "IVR", "+14155550100")],
    ),
    "a number held by two other personas moves from one and is detached from the other": (
        want((SUPPORT, None, ("+14155550100",))),
        live(
            persona(SUPPORT, "Support"),
            persona(IVR, "IVR", "+14155550100"),
            persona("p-old", "Old", "+14155550100"),
        ),
        [
            Change(Action.DETACH, "p-old", "Old", "+14155550100"),
            Change(Action.MOVE, SUPPORT, "Support", "+14155550100", IVR, "IVR"),
        ],
    ),
}


@pytest.mark.parametrize("desired, account, expected", CASES.values(), ids=CASES.keys())
def test_plan(desired: Desired, account: Live, expected: list[Change]) -> None:
    assert list(build_plan(desired, account).changes) == expected


def test_changes_are_sorted_by_persona_then_action() -> None:
    desired = want(
        (SUPPORT, None, ("+14155550102", "+14155550101")),
        (SALES, None, ("+14155550110",)),
    )
    account = live(
        persona(SUPPORT, "Support", "+14155550109"),
        persona(SALES, "Sales"),
        persona(IVR, "IVR", "+14155550102"),
        extra_numbers=("+14155550101", "+14155550110"),
    )
    plan = build_plan(desired, account)
    assert [(c.persona_name, c.action, c.phone_number) for c in plan.changes] == [
        ("Sales", Action.ATTACH, "+14155550110"),
        ("Support", Action.ATTACH, "+14155550101"),
        ("Support", Action.MOVE, "+14155550102"),
        ("Support", Action.DETACH, "+14155550109"),
    ]
    assert plan.summary() == {"attach": 2, "move": 1, "detach": 1, "settings": 0, "label": 0}
    assert plan.summary_line() == "Plan: 2 to attach, 1 to move, 1 to detach."


ERRORS = {
    "ambiguous name names the candidates": (
        want((None, "Sales", ())),
        live(persona("p-a", "Sales"), persona("p-b", "Sales")),
        "personas.yaml:3:5: 2 active personas are named 'Sales' (p-a, p-b): "
        "add the id of the one you mean",
    ),
    "no persona by that name suggests a close one": (
        want((None, "Slaes", ())),
        live(persona(SALES, "Sales")),
        "no active persona named 'Slaes' (did you mean 'Sales'?)",
    ),
    "only a deleted persona has the name": (
        want((None, "Sales", ())),
        live(persona(SALES, "Sales", deleted=True)),
        "no active persona named 'Sales'",
    ),
    "unknown id": (
        want(("p-missing", None, ())),
        live(persona(SALES, "Sales")),
        "no persona with id p-missing on the account",
    ),
    "deleted id": (
        want((SALES, None, ())),
        live(persona(SALES, "Sales", deleted=True)),
        "persona id p-sales ('Sales') is deleted",
    ),
    "id and name disagree": (
        want((SALES, "Support", ())),
        live(persona(SALES, "Sales")),
        "persona id p-sales is named 'Sales', not 'Support'",
    ),
    "a number not on the account": (
        want((SALES, None, ("+14155550199",))),
        live(persona(SALES, "Sales")),
        "+14155550199 is not an inbound number of this account",
    ),
    "one persona listed by id and by name": (
        want((SALES, None, ()), (None, "Sales", ())),
        live(persona(SALES, "Sales")),
        "persona 'Sales' is listed twice (also at personas.yaml:3:5)",
    ),
}


@pytest.mark.parametrize("desired, account, message", ERRORS.values(), ids=ERRORS.keys())
def test_resolution_errors(desired: Desired, account: Live, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        build_plan(desired, account)
    assert message in str(raised.value)


def test_every_resolution_error_is_reported_at_once() -> None:
    desired = want((None, "Nope", ()), (SALES, None, ("+14155550199",)))
    with pytest.raises(ConfigError) as raised:
        build_plan(desired, live(persona(SALES, "Sales")))
    assert len(raised.value.diagnostics) == 2


def test_owners_keeps_every_holder_of_a_shared_number_and_skips_deleted_personas() -> None:
    live = Live(
        personas={
            "b": LivePersona("b", "B", frozenset({"+14155550100", "+14155550101"})),
            "a": LivePersona("a", "A", frozenset({"+14155550100"})),
            "d": LivePersona("d", "D", frozenset({"+14155550102"}), deleted=True),
        },
        account_numbers=frozenset({"+14155550100", "+14155550101", "+14155550102"}),
    )
    assert live.owners == {"+14155550100": ("a", "b"), "+14155550101": ("b",)}
    alone = Live(personas={"a": live.personas["a"]}, account_numbers=live.account_numbers)
    assert alone.owners == {"+14155550100": ("a",)}


def test_an_owner_only_the_inbound_list_names_makes_a_move_not_an_attach() -> None:
    account = Live(
        {SUPPORT: persona(SUPPORT, "Support")},
        frozenset({"+14155550100"}),
        inbound_owners={"+14155550100": "p-hidden-agent"},
    )
    plan = build_plan(want((SUPPORT, None, ("+14155550100",))), account)
    assert plan.changes == (
        Change(Action.MOVE, SUPPORT, "Support", "+14155550100", "p-hidden-agent", ""),
    )
    assert plan.owners["+14155550100"] == ("p-hidden-agent",)


def test_a_move_between_managed_personas_keeps_the_sources_other_detaches() -> None:
    """Sales takes +100 from Support, which keeps nothing: +101 and +102 must still be detached
    (the lines the user removed must stop ringing), after the move is skipped as a detach."""
    desired = want((SUPPORT, None, ()), (SALES, None, ("+14155550100",)))
    account = live(
        persona(SUPPORT, "Support", "+14155550100", "+14155550101", "+14155550102"),
        persona(SALES, "Sales"),
    )
    assert list(build_plan(desired, account).changes) == [
        Change(Action.MOVE, SALES, "Sales", "+14155550100", SUPPORT, "Support"),
        Change(Action.DETACH, SUPPORT, "Support", "+14155550101"),
        Change(Action.DETACH, SUPPORT, "Support", "+14155550102"),
    ]


def test_detaches_from_extra_holders_are_sorted_by_persona() -> None:
    """Numbers already in place but also on another persona: only detaches, sorted by name."""
    desired = want((SUPPORT, None, ("+14155550100",)), (SALES, None, ("+14155550110",)))
    account = live(
        persona(SUPPORT, "Support", "+14155550100"),
        persona(SALES, "Sales", "+14155550110"),
        persona("p-zed", "Zed", "+14155550100"),
        persona("p-amy", "Amy", "+14155550110"),
    )
    assert list(build_plan(desired, account).changes) == [
        Change(Action.DETACH, "p-amy", "Amy", "+14155550110"),
        Change(Action.DETACH, "p-zed", "Zed", "+14155550100"),
    ]


def test_a_deleted_persona_does_not_hide_a_number_held_twice() -> None:
    desired = want((SUPPORT, None, ("+14155550100",)))
    account = live(
        persona(SUPPORT, "Support", "+14155550100"),
        persona(IVR, "IVR", "+14155550100"),
        persona("p-old", "Old", "+14155550109", deleted=True),
    )
    assert list(build_plan(desired, account).changes) == [
        Change(Action.DETACH, IVR, "IVR", "+14155550100")
    ]


def test_diff_works_out_the_owners_itself_when_not_given_them() -> None:
    account = live(persona(SUPPORT, "Support"), persona(IVR, "IVR", "+14155550100"))
    desired = want((SUPPORT, None, ("+14155550100",)))
    assert diff(resolve(desired, account), account) == [
        Change(Action.MOVE, SUPPORT, "Support", "+14155550100", IVR, "IVR")
    ]


def test_an_owner_the_persona_list_does_not_show_is_named_without_a_name() -> None:
    account = replace(
        live(persona(SUPPORT, "Support", "+14155550100"), extra_numbers=("+14155550101",)),
        inbound_owners={"+14155550101": "p-unlisted"},
    )
    desired = want((SUPPORT, None, ("+14155550100", "+14155550101")))
    assert diff(resolve(desired, account), account) == [
        Change(Action.MOVE, SUPPORT, "Support", "+14155550101", "p-unlisted", "")
    ]


def test_a_protected_number_not_on_the_account_is_an_error_at_its_line() -> None:
    desired = Desired(
        (DesiredPersona(SALES, None, (), MARK),),
        protected=("+14155550100", "+14155550199"),
        protected_marks={
            "+14155550100": SourceMark("personas.yaml", 9, 5),
            "+14155550199": SourceMark("personas.yaml", 10, 5),
        },
    )
    with pytest.raises(ConfigError) as raised:
        build_plan(desired, live(persona(SALES, "Sales", "+14155550100")))
    assert str(raised.value) == (
        "personas.yaml:10:5: +14155550199 is not an inbound number of this account"
    )


def test_every_problem_is_reported_even_after_a_persona_listed_twice() -> None:
    desired = want(
        (SALES, None, ()),
        (None, "Sales", ()),
        (None, "Nope", ()),
        (SALES, "Sales", ()),
        (SUPPORT, None, ("+14155550199",)),
    )
    with pytest.raises(ConfigError) as raised:
        build_plan(desired, live(persona(SALES, "Sales"), persona(SUPPORT, "Support")))
    assert [str(d) for d in raised.value.diagnostics] == [
        "personas.yaml:7:5: persona 'Sales' is listed twice (also at personas.yaml:3:5)",
        "personas.yaml:11:5: no active persona named 'Nope'",
        "personas.yaml:15:5: persona 'Sales' is listed twice (also at personas.yaml:3:5)",
        "personas.yaml:19:5: +14155550199 is not an inbound number of this account",
    ]


@pytest.mark.parametrize("desired, account, message", ERRORS.values(), ids=ERRORS.keys())
def test_each_resolution_error_is_the_whole_message_at_its_entry(
    desired: Desired, account: Live, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        build_plan(desired, account)
    (only,) = raised.value.diagnostics
    where = str(desired.personas[-1].mark)
    assert str(only) == (message if message.startswith(where) else f"{where}: {message}")


def test_an_unknown_name_suggests_the_three_closest() -> None:
    account = live(*(persona(f"p-{n}", f"Sales {n}") for n in "ABCD"))
    with pytest.raises(ConfigError) as raised:
        build_plan(want((None, "Sales", ())), account)
    assert str(raised.value) == (
        "personas.yaml:3:5: no active persona named 'Sales' "
        "(did you mean 'Sales D', 'Sales C', 'Sales B'?)"
    )


def test_a_number_not_on_the_account_is_reported_at_its_own_line() -> None:
    entry = DesiredPersona(
        SALES, None, ("+14155550199",), MARK, {"+14155550199": SourceMark("personas.yaml", 8, 9)}
    )
    with pytest.raises(ConfigError) as raised:
        build_plan(Desired((entry,)), live(persona(SALES, "Sales")))
    assert str(raised.value) == (
        "personas.yaml:8:9: +14155550199 is not an inbound number of this account"
    )


def test_each_number_is_sent_as_get_v1_inbound_spells_it_else_as_an_entry_does() -> None:
    support = LivePersona(
        SUPPORT,
        "Support",
        frozenset({"+14155550100", "+14155550101", "+14155550102"}),
        spellings={"14155550100": "+14155550100", "14155550101": "+14155550101"},
    )
    account = Live(
        {SUPPORT: support},
        frozenset({"+14155550100", "+14155550102"}),
        spellings={"+1 415 5550100": "+14155550100"},
    )
    plan = build_plan(want((SUPPORT, None, ("+14155550100", "+14155550102"))), account)

    assert plan.changes == (Change(Action.DETACH, SUPPORT, "Support", "+14155550101"),)
    # 100: GET /v1/inbound's spelling wins; 101: GET /v1/inbound does not show it; 102: canonical.
    assert plan.spellings == {"+14155550100": "+1 415 5550100", "+14155550101": "14155550101"}
    assert plan.spelled(["+14155550101", "+14155550102"]) == ["14155550101", "+14155550102"]


@pytest.mark.parametrize(
    ("inbound_spellings", "changes"),
    [
        ({}, (Change(Action.DETACH, SUPPORT, "Support", "+14155550101"),)),
        ({"call me": ""}, ()),
    ],
    ids=["every spelling read", "one spelling no phone number"],
)
def test_a_number_get_v1_inbound_may_spell_unreadably_is_never_detached(
    inbound_spellings: dict[str, str], changes: tuple[Change, ...]
) -> None:
    # 101 is on Support but not on GET /v1/inbound, which may show it as "call me".
    support = LivePersona(SUPPORT, "Support", frozenset({"+14155550100", "+14155550101"}))
    account = Live({SUPPORT: support}, frozenset({"+14155550100"}), spellings=inbound_spellings)
    plan = build_plan(want((SUPPORT, None, ("+14155550100",))), account)

    assert plan.changes == changes
    assert plan.spellings == {}


def test_a_spelling_that_is_no_phone_number_is_a_warning_naming_where_it_was_seen() -> None:
    support = LivePersona(
        SUPPORT, "Support", frozenset({"+14155550100"}), spellings={"call\nme": ""}
    )
    gone = LivePersona(IVR, "Old", frozenset(), deleted=True, spellings={"x": ""})
    account = Live(
        {SUPPORT: support, IVR: gone},
        frozenset({"+14155550100"}),
        spellings={"+1 415 555 01OO": ""},
    )
    plan = build_plan(want((SUPPORT, None, ("+14155550100",))), account)

    assert plan.is_empty
    assert plan.warnings() == [
        'Warning: GET /v1/inbound shows the number "+1 415 555 01OO", which cannot be read as a '
        "phone number: nothing is planned for it (correct it in the dashboard)",
        f"Warning: persona 'Support' ({SUPPORT}) shows the number \"call\\x0ame\", which cannot be "
        "read as a phone number: nothing is planned for it (correct it in the dashboard)",
    ]
