"""Settings and label writes against an in-memory account: when they go out, and how each ends.

Whether the values then read back as declared is the next plan's to say (tests/unit/test_core.py).
"""

from __future__ import annotations

import threading

from reconciler.apply.result import ApplyResult, Write, describe
from reconciler.apply.writes import PlanWriter
from reconciler.errors import ApiError, AuthError
from reconciler.model import UNREAD, routing_settings
from reconciler.plan import Action, Change, ManagedPersona, Plan
from tests.unit.apply.fakes import (
    IVR,
    MOVE_PLAN,
    N100,
    N101,
    N102,
    N103,
    N130,
    SALES,
    SUPPORT,
    FakeAccount,
    example_account,
)

PW1 = routing_settings({"pathway_id": "pw_1"})
PW2 = routing_settings({"pathway_id": "pw_2", "pathway_version": 2})


def apply(plan: Plan, account: FakeAccount, *, stop: threading.Event | None = None) -> ApplyResult:
    result = ApplyResult()
    PlanWriter(plan, account, result, 2, stop or threading.Event()).apply()
    return result


# Support gains 101 (free, with settings and a label), 102 (moved from the IVR, with settings),
# clears the settings of 100 and relabels 103.
PLAN = Plan(
    changes=(
        Change(Action.ATTACH, SUPPORT, "Support", N101),
        Change(Action.MOVE, SUPPORT, "Support", N102, IVR, "Legacy IVR"),
        Change(Action.SETTINGS, SUPPORT, "Support", N100, before=PW1, after=None),
        Change(Action.SETTINGS, SUPPORT, "Support", N101, before=None, after=PW1),
        Change(Action.SETTINGS, SUPPORT, "Support", N102, before=None, after=PW2),
        Change(Action.LABEL, SUPPORT, "Support", N101, before=UNREAD, after="Front desk"),
        Change(Action.LABEL, SUPPORT, "Support", N103, before="Old", after=""),
    ),
    managed=(
        ManagedPersona(
            SUPPORT,
            "Support",
            frozenset({N100, N103}),
            frozenset({N100, N101, N102, N103}),
        ),
    ),
    owners={N100: (SUPPORT,), N103: (SUPPORT,), N102: (IVR,), N130: (IVR,)},
)


def account_for_plan() -> FakeAccount:
    account = example_account()
    account.settings[SUPPORT][N100] = PW1
    account.settings[IVR][N102] = PW2
    account.labels[N103] = "Old"
    return account


def test_settings_and_labels_are_written_once_each_after_the_attach() -> None:
    account = account_for_plan()

    result = apply(PLAN, account)

    assert account.timeline[0] == ("attach", SUPPORT)
    assert sorted(account.timeline[1:4]) == [
        ("settings", N100),
        ("settings", N101),
        ("settings", N102),
    ]
    assert sorted(account.timeline[4:]) == [("label", N101), ("label", N103)]
    assert sorted(account.number_calls, key=str) == sorted(
        [
            ("settings", SUPPORT, N100, None),
            ("settings", SUPPORT, N101, PW1),
            ("settings", SUPPORT, N102, PW2),
            ("label", SUPPORT, N101, "Front desk"),
            ("label", SUPPORT, N103, ""),
        ],
        key=str,
    )
    assert account.settings[SUPPORT] == {N100: None, N101: PW1, N102: PW2, N103: None}
    assert account.labels == {N101: "Front desk", N103: None}
    assert result.failed == result.skipped == result.mismatches == []
    assert len(result.done) == 6 and result.mismatches == []


def test_the_settings_of_a_number_whose_attach_failed_are_not_sent() -> None:
    account = account_for_plan()
    account.fail("attach", SUPPORT, ApiError("server error", status=500))

    result = apply(PLAN, account)

    sent = {(kind, number) for kind, _, number, _ in account.number_calls}
    assert sent == {("settings", N100), ("label", N101), ("label", N103)}
    skipped = {(write.action, write.numbers, write.error) for write in result.skipped}
    assert skipped == {
        ("settings", (N101,), "its attach did not succeed"),
        ("settings", (N102,), "its attach did not succeed"),
    }


def test_a_failed_settings_write_is_reported_with_the_api_error() -> None:
    account = account_for_plan()
    account.fail("settings", SUPPORT, ApiError("bad", status=400, code="INVALID_BODY"))

    result = apply(PLAN, account)

    (failed,) = result.failed
    assert (failed.action, failed.code, failed.status) == ("settings", "INVALID_BODY", 400)
    assert failed.outcome == "failed"
    # The other writes still went: one failure stops nothing else.
    assert len(result.done) == 5


def test_an_authorisation_error_stops_the_writes_not_yet_sent() -> None:
    account = account_for_plan()
    account.fail("settings", SUPPORT, AuthError("no", status=401))

    result = ApplyResult()
    PlanWriter(PLAN, account, result, 1).apply()

    assert result.stopped_by is not None
    assert len(account.number_calls) == 1
    assert {write.action for write in result.skipped} == {"settings", "label"}


def test_a_stop_before_the_number_writes_skips_them() -> None:
    account = account_for_plan()
    stop = threading.Event()
    account.after_write = lambda action, pid: stop.set()

    result = apply(PLAN, account, stop=stop)

    assert account.number_calls == []
    assert len(result.skipped) == 5
    assert result.interrupted


def test_a_put_back_restores_the_settings_read_before_the_detach() -> None:
    account = example_account()
    account.settings[IVR][N102] = PW2
    account.fail("attach", SUPPORT, ApiError("held", status=409), ApiError("down", status=500))

    result = apply(MOVE_PLAN, account)

    assert account.numbers[IVR] == {N102, N130}
    assert account.settings[IVR][N102] == PW2
    assert account.number_calls == [("settings", IVR, N102, PW2)]
    value = {"pathway_id": "pw_2", "pathway_version": 2}
    assert Write(IVR, "Legacy IVR", "settings", (N102,), value=value) in result.writes
    # The settings write is part of the unit that must finish once a number is freed.
    assert account.timeline[1:] == [
        ("detach", IVR),
        ("attach", SUPPORT),
        ("attach", IVR),
        ("settings", N102),
    ]


def test_a_put_back_without_readable_settings_says_so() -> None:
    account = example_account()
    account.settings[IVR][N102] = PW2
    account.shows_extras = False
    account.fail("attach", SUPPORT, ApiError("held", status=409), ApiError("down", status=500))

    result = apply(MOVE_PLAN, account)

    assert account.number_calls == []
    assert (
        "+14155550102 went back to Legacy IVR without the settings they had there: they could "
        "not be read before the detach"
    ) in result.mismatches


def test_a_put_back_of_a_number_without_settings_writes_none() -> None:
    account = example_account()
    account.fail("attach", SUPPORT, ApiError("held", status=409), ApiError("down", status=500))

    result = apply(MOVE_PLAN, account)

    assert account.number_calls == []
    assert not any("without the settings" in m for m in result.mismatches)


def test_number_writes_read_as_one_line_each() -> None:
    write = Write(SALES, "Sales", "settings", (N100,), value={"pathway_id": "pw_1"})
    assert describe(write) == 'Sales: set the settings of +14155550100 to {"pathway_id": "pw_1"}'
    assert describe(Write(SALES, "Sales", "settings", (N100,))) == (
        "Sales: cleared the settings of +14155550100"
    )
    assert describe(Write(SALES, "Sales", "label", (N100,), value="")) == (
        "Sales: cleared the label of +14155550100"
    )
    failed = Write(SALES, "Sales", "label", (N100,), value="x").failed_with(
        ApiError("Phone number not found", status=404)
    )
    assert describe(failed) == (
        "Sales: writing the label of +14155550100 failed: HTTP 404: Phone number not found"
    )
