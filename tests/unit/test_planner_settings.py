"""The planner's settings and label changes, as a pure function of desired and live."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.model import (
    UNREAD,
    Desired,
    DesiredPersona,
    Live,
    LivePersona,
    RoutingSettings,
    SourceMark,
    routing_settings,
)
from reconciler.plan import Action, Change
from reconciler.planner import build_plan

SUPPORT, IVR = "p-support", "p-ivr"
N100, N101, N102 = "+14155550100", "+14155550101", "+14155550102"
MARK = SourceMark("personas.yaml", 3, 5)
PW1 = routing_settings({"pathway_id": "pw_1"})
PW2 = routing_settings({"pathway_id": "pw_2", "pathway_version": 2})


def live_of(*personas: LivePersona, free: tuple[str, ...] = ()) -> Live:
    numbers = {n for p in personas for n in p.numbers} | set(free)
    return Live({p.id: p for p in personas}, frozenset(numbers), pages_read=1)


def support(
    numbers: tuple[str, ...],
    settings: dict[str, RoutingSettings | None] | None = None,
    labels: dict[str, str] | None = None,
) -> Desired:
    entry = DesiredPersona(SUPPORT, None, numbers, MARK, {}, settings or {}, labels or {})
    return Desired((entry,))


def shown(pid: str, name: str, extras: dict[str, tuple[Any, Any]]) -> LivePersona:
    """A persona whose listing shows each number's (settings, label)."""
    return LivePersona(
        pid,
        name,
        frozenset(extras),
        settings={n: s for n, (s, _) in extras.items()},
        labels={n: label for n, (_, label) in extras.items()},
    )


def number_changes(desired: Desired, live: Live) -> list[Change]:
    return [c for c in build_plan(desired, live).changes if c.action in {"settings", "label"}]


def settings_change(number: str, before: Any, after: RoutingSettings | None) -> Change:
    return Change(Action.SETTINGS, SUPPORT, "Support", number, before=before, after=after)


def label_change(number: str, before: Any, after: str) -> Change:
    return Change(Action.LABEL, SUPPORT, "Support", number, before=before, after=after)


CASES: dict[str, tuple[Desired, Live, list[Change]]] = {
    "a plain entry leaves settings and label as they are": (
        support((N100,)),
        live_of(shown(SUPPORT, "Support", {N100: (PW1, "Old")})),
        [],
    ),
    "declared and already so: nothing": (
        support((N100,), {N100: PW1}, {N100: "Old"}),
        live_of(shown(SUPPORT, "Support", {N100: (PW1, "Old")})),
        [],
    ),
    "settings compare whole objects": (
        support((N100,), {N100: PW2}),
        live_of(shown(SUPPORT, "Support", {N100: (PW1, None)})),
        [settings_change(N100, PW1, PW2)],
    ),
    "settings: null clears": (
        support((N100,), {N100: None}),
        live_of(shown(SUPPORT, "Support", {N100: (PW1, None)})),
        [settings_change(N100, PW1, None)],
    ),
    "an attached number starts with none": (
        support((N100,), {N100: PW1}),
        live_of(shown(SUPPORT, "Support", {}), free=(N100,)),
        [settings_change(N100, None, PW1)],
    ),
    "an attached number declaring null needs no write": (
        support((N100,), {N100: None}),
        live_of(shown(SUPPORT, "Support", {}), free=(N100,)),
        [],
    ),
    "a moved number loses its settings: before is none, even if they matched": (
        support((N100,), {N100: PW1}, {N100: "Old"}),
        live_of(shown(SUPPORT, "Support", {}), shown(IVR, "IVR", {N100: (PW1, "Old")})),
        [settings_change(N100, None, PW1)],
    ),
    "a listing of bare strings: declared values are written, before unknown": (
        support((N100,), {N100: PW1}, {N100: "Old"}),
        live_of(LivePersona(SUPPORT, "Support", frozenset({N100}))),
        [settings_change(N100, UNREAD, PW1), label_change(N100, UNREAD, "Old")],
    ),
    "no label and an empty one are the same": (
        support((N100, N101), labels={N100: "", N101: ""}),
        live_of(shown(SUPPORT, "Support", {N100: (None, None), N101: (None, "")})),
        [],
    ),
    "a label is cleared with an empty string": (
        support((N100,), labels={N100: ""}),
        live_of(shown(SUPPORT, "Support", {N100: (None, "Old")})),
        [label_change(N100, "Old", "")],
    ),
    "a free number's label is not shown anywhere": (
        support((N100,), labels={N100: "New"}),
        live_of(shown(SUPPORT, "Support", {}), free=(N100,)),
        [label_change(N100, UNREAD, "New")],
    ),
    "a moved number's label is read where it is now": (
        support((N100,), labels={N100: "Old"}),
        live_of(shown(SUPPORT, "Support", {}), shown(IVR, "IVR", {N100: (None, "Old")})),
        [],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_settings_and_label_changes(case: str) -> None:
    desired, live, expected = CASES[case]
    assert number_changes(desired, live) == expected


def test_number_writes_follow_the_routing_changes_of_their_persona() -> None:
    desired = support((N100, N101, N102), {N101: PW1, N102: PW2}, {N100: "Front"})
    live = live_of(
        shown(SUPPORT, "Support", {N100: (None, None)}),
        shown(IVR, "IVR", {N102: (PW2, None)}),
        free=(N101,),
    )
    plan = build_plan(desired, live)
    assert [(c.action.value, c.phone_number) for c in plan.changes] == [
        ("attach", N101),
        ("move", N102),
        ("settings", N101),
        ("settings", N102),
        ("label", N100),
    ]
    assert plan.gains() == {SUPPORT: [N101, N102]}  # settings and labels are not attaches
    assert plan.summary_line() == (
        "Plan: 1 to attach, 1 to move, 0 to detach, 2 settings to write, 1 label to write."
    )
    # What each write finds before it: N101 and N102 are not on Support yet, N100 has no label.
    assert [(c.phone_number, c.before, c.after) for c in plan.number_writes()] == [
        (N101, None, PW1),
        (N102, None, PW2),
        (N100, None, "Front"),
    ]


def test_settings_change_json_says_when_before_was_not_shown() -> None:
    shown_change = settings_change(N100, PW1, None).to_json()
    assert shown_change["before"] == {"pathway_id": "pw_1"}
    assert shown_change["before_known"] is True
    assert shown_change["after"] is None
    unread = label_change(N100, UNREAD, "Front").to_json()
    assert (unread["before"], unread["before_known"], unread["after"]) == (None, False, "Front")
    assert "before" not in Change(Action.ATTACH, SUPPORT, "Support", N100).to_json()


def test_a_move_that_clears_undeclared_settings_says_so() -> None:
    desired = support((N100, N101), {N101: PW2})
    live = live_of(
        shown(SUPPORT, "Support", {}),
        shown(IVR, "IVR", {N100: (PW1, None), N101: (PW1, None)}),
    )
    plan = build_plan(desired, live)
    # N101 declares its settings: the settings change shows what it gets instead.
    assert plan.settings_dropped == {N100: PW1}
    bare = live_of(shown(SUPPORT, "Support", {}), LivePersona(IVR, "IVR", frozenset({N100})))
    assert build_plan(support((N100,)), bare).settings_dropped == {}  # not shown: not claimed


def test_a_label_is_read_from_whichever_persona_shows_its_number() -> None:
    # Support's listing gives N100 as a bare string; IVR's shows its label, which is wanted.
    live = live_of(
        LivePersona(SUPPORT, "Support", frozenset({N100})),
        LivePersona("p-ivr", "IVR", frozenset({N100}), labels={N100: "Front"}),
    )
    changes = build_plan(support((N100,), labels={N100: "Front"}), live).changes
    assert changes == (Change(Action.DETACH, "p-ivr", "IVR", N100),)
    # On no persona, nothing shows it: the label written says it was not shown.
    bare = live_of(LivePersona(SUPPORT, "Support", frozenset()), free=(N101,))
    free = build_plan(support((N101,), labels={N101: "Front"}), bare)
    assert free.number_writes() == [label_change(N101, UNREAD, "Front")]
