"""A saved plan with settings and label changes: kept whole, and stale when they change live."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import StalePlan
from reconciler.model import (
    UNREAD,
    Desired,
    DesiredPersona,
    Live,
    LivePersona,
    SourceMark,
    routing_settings,
)
from reconciler.planfile import integrity_hash, read_plan_file, render_plan_file
from reconciler.planner import build_plan
from reconciler.safety import Thresholds
from reconciler.staleness import already_applied, differences, plan_to_apply

SUPPORT, IVR = "p-support", "p-ivr"
N100, N101, N102 = "+14155550100", "+14155550101", "+14155550102"
PW1 = routing_settings({"pathway_id": "pw_1"})
PW2 = routing_settings({"pathway_id": "pw_2", "pathway_version": 2})
DESIRED = Desired(
    (
        DesiredPersona(
            SUPPORT,
            None,
            (N100, N101, N102),
            SourceMark("personas.yaml", 3, 5),
            {},
            {N100: PW2, N101: None},
            {N100: "Front", N102: "Moved"},
        ),
    )
)


def support(settings: dict[str, Any], labels: dict[str, Any], *numbers: str) -> LivePersona:
    return LivePersona(
        SUPPORT, "Support", frozenset(numbers or (N100, N101)), settings=settings, labels=labels
    )


def live_of(*personas: LivePersona) -> Live:
    return Live(
        {p.id: p for p in personas},
        frozenset({N100, N101, N102}),
        pages_read=1,
    )


IVR_NOW = LivePersona(IVR, "IVR", frozenset({N102}), settings={N102: PW1}, labels={N102: "Old"})
BEFORE = live_of(support({N100: PW1, N101: None}, {N100: None, N101: None}), IVR_NOW)


def saved_round_trip(tmp_path: Path, live: Live = BEFORE) -> Any:
    plan = build_plan(DESIRED, live)
    text = render_plan_file(
        plan, thresholds=Thresholds(), api_base_url="https://api.bland.ai", config=()
    )
    path = tmp_path / "plan.json"
    path.write_text(text)
    return plan, read_plan_file(str(path))


def test_a_saved_plan_keeps_its_settings_and_label_changes_whole(tmp_path: Path) -> None:
    plan, saved = saved_round_trip(tmp_path)
    assert saved.plan.changes == plan.changes
    assert [c.action.value for c in plan.changes] == ["move", "settings", "label", "label"]
    assert saved.plan.managed == plan.managed
    assert saved.plan.managed[0].settings == {N100: PW2, N101: None}
    assert saved.plan.settings_seen == {N100: PW1, N101: None}
    assert saved.plan.labels_seen == {N100: None, N102: "Old"}
    assert differences(saved, BEFORE) == []


def test_values_not_shown_are_kept_as_not_shown(tmp_path: Path) -> None:
    blind = live_of(support({}, {}), LivePersona(IVR, "IVR", frozenset({N102})))
    plan, saved = saved_round_trip(tmp_path, blind)
    assert saved.plan.changes == plan.changes
    assert saved.plan.settings_seen == {N100: UNREAD, N101: UNREAD}
    assert saved.plan.labels_seen == {N100: UNREAD, N102: UNREAD}
    assert differences(saved, blind) == []
    assert differences(saved, BEFORE) == [
        'the settings of +14155550100 are now {"pathway_id": "pw_1"} (they were not shown when '
        "planned)",
        "the settings of +14155550101 are now none (they were not shown when planned)",
        "the label of +14155550100 is now none (it was not shown when planned)",
        "the label of +14155550102 is now 'Old' (it was not shown when planned)",
    ]


@pytest.mark.parametrize(
    ("now", "difference"),
    [
        (
            live_of(support({N100: PW2, N101: None}, {N100: None, N101: None}), IVR_NOW),
            'the settings of +14155550100 are now {"pathway_id": "pw_2", "pathway_version": 2} '
            '(they were {"pathway_id": "pw_1"} when planned)',
        ),
        (
            live_of(support({N100: PW1, N101: PW1}, {N100: None, N101: None}), IVR_NOW),
            'the settings of +14155550101 are now {"pathway_id": "pw_1"} (they were none when '
            "planned)",
        ),
        (
            live_of(support({N100: PW1, N101: None}, {N100: "Desk", N101: None}), IVR_NOW),
            "the label of +14155550100 is now 'Desk' (it was none when planned)",
        ),
    ],
)
def test_a_dashboard_change_of_a_declared_value_makes_the_plan_stale(
    tmp_path: Path, now: Live, difference: str
) -> None:
    _, saved = saved_round_trip(tmp_path)
    assert differences(saved, now) == [difference]
    with pytest.raises(StalePlan, match="the account changed since the plan was made"):
        plan_to_apply(saved, now)


def test_an_empty_label_and_none_are_no_difference(tmp_path: Path) -> None:
    _, saved = saved_round_trip(tmp_path)
    now = live_of(support({N100: PW1, N101: None}, {N100: "", N101: None}), IVR_NOW)
    assert differences(saved, now) == []


def test_a_plan_whose_number_writes_are_done_applies_as_nothing(tmp_path: Path) -> None:
    _, saved = saved_round_trip(tmp_path)
    done = live_of(
        support(
            {N100: PW2, N101: None, N102: None},
            {N100: "Front", N101: None, N102: "Moved"},
            N100,
            N101,
            N102,
        ),
        LivePersona(IVR, "IVR", frozenset()),
    )
    assert already_applied(saved, done)
    assert plan_to_apply(saved, done).changes == ()
    half = live_of(
        support({N100: PW1, N101: None, N102: None}, {}, N100, N101, N102),
        LivePersona(IVR, "IVR", frozenset()),
    )
    assert not already_applied(saved, half)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("changes", 1, "after"), "pw_2"),  # settings must be an object or null
        (("changes", 1, "before_known"), "yes"),
        (("changes", 2, "after"), None),  # a label change writes a string
        (("managed", 0, "labels"), {N100: 3}),
        (("fingerprint", "settings"), {N100: []}),
    ],
)
def test_a_plan_file_with_malformed_values_is_refused(
    tmp_path: Path, path: tuple[Any, ...], value: Any
) -> None:
    saved_round_trip(tmp_path)
    file = tmp_path / "plan.json"
    document = json.loads(file.read_text())
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    document["integrity"] = integrity_hash(document)
    file.write_text(json.dumps(document))
    with pytest.raises(StalePlan, match="not a valid plan file"):
        read_plan_file(str(file))
