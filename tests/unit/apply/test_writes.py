"""The write phases against an in-memory account: which calls go out, in which order, and why."""

from __future__ import annotations

import threading
from dataclasses import replace

import httpx
import pytest

from reconciler.api import BlandClient
from reconciler.apply.result import ApplyResult, Write, describe
from reconciler.apply.writes import PlanWriter
from reconciler.errors import AUTH_STOPPED, INTERRUPTED, ApiError, AuthError, NotSent
from reconciler.model import routing_settings
from reconciler.plan import Action, Change, ManagedPersona, Plan
from tests.unit.apply.fakes import (
    EXAMPLE_PLAN,
    IVR,
    MOVE_PLAN,
    N100,
    N101,
    N102,
    N103,
    N110,
    N130,
    SALES,
    SUPPORT,
    FakeAccount,
    example_account,
)


def apply(
    plan: Plan, account: FakeAccount, *, parallelism: int = 1, stop: threading.Event | None = None
) -> ApplyResult:
    result = ApplyResult()
    PlanWriter(plan, account, result, parallelism, stop or threading.Event()).apply()
    return result


def test_one_call_per_persona_carries_its_numbers_attaches_first() -> None:
    account = example_account()

    result = apply(EXAMPLE_PLAN, account)

    assert account.calls == [
        ("attach", SALES, (N110,)),
        ("attach", SUPPORT, (N101, N102)),
        ("detach", SUPPORT, (N103,)),
    ]
    assert result.writes == [
        Write(SALES, "Sales", "attach", (N110,)),
        Write(SUPPORT, "Support", "attach", (N101, N102), moved=(N102,)),
        Write(SUPPORT, "Support", "detach", (N103,)),
    ]
    assert result.skipped == []
    assert result.failed == result.skipped == result.mismatches == []


def test_with_parallel_workers_every_attach_ends_before_the_first_detach() -> None:
    account = example_account()

    apply(EXAMPLE_PLAN, account, parallelism=4)

    assert sorted(account.calls[:2]) == [
        ("attach", SALES, (N110,)),
        ("attach", SUPPORT, (N101, N102)),
    ]
    assert account.calls[2:] == [("detach", SUPPORT, (N103,))]


def test_a_move_is_made_before_its_source_loses_anything() -> None:
    # In plan order the IVR's detach comes first ("Legacy IVR" sorts before "Support").
    plan = Plan(
        changes=(
            Change(Action.DETACH, IVR, "Legacy IVR", N130),
            Change(Action.MOVE, SUPPORT, "Support", N102, IVR, "Legacy IVR"),
        ),
        managed=(
            ManagedPersona(IVR, "Legacy IVR", frozenset({N102, N130}), frozenset()),
            ManagedPersona(
                SUPPORT, "Support", frozenset({N100, N103}), frozenset({N100, N102, N103})
            ),
        ),
        owners={N102: (IVR,), N130: (IVR,), N100: (SUPPORT,), N103: (SUPPORT,)},
    )
    account = example_account()

    result = apply(plan, account, parallelism=4)

    # The moved number leaves the IVR with Support's attach, never with a detach.
    assert account.calls == [("attach", SUPPORT, (N102,)), ("detach", IVR, (N130,))]
    assert result.failed == result.skipped == result.mismatches == []


def test_make_before_break_a_failed_attach_keeps_the_persona_s_old_numbers() -> None:
    account = example_account()
    error = ApiError("server error", status=500)
    account.fail("attach", SUPPORT, error)

    result = apply(EXAMPLE_PLAN, account)

    assert account.calls == [("attach", SALES, (N110,)), ("attach", SUPPORT, (N101, N102))]
    assert result.writes == [
        Write(SALES, "Sales", "attach", (N110,)),
        Write(SUPPORT, "Support", "attach", (N101, N102), moved=(N102,)).failed_with(error),
    ]
    assert result.skipped == [
        Write(SUPPORT, "Support", "detach", (N103,)).skipped_because(
            "its attach did not succeed (make before break)"
        )
    ]
    assert account.numbers[SUPPORT] == {N100, N103}


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (409, None),
        (400, "NUMBER_ALREADY_ATTACHED"),
        (422, "number_in_use"),
        (400, "PHONE_ASSIGNED_ELSEWHERE"),
        (400, "INVALID_INBOUND_NUMBERS"),  # counts while the number is still on the account
    ],
)
def test_a_refusal_frees_the_number_then_attaches(status: int, code: str | None) -> None:
    account = example_account()
    refusal = ApiError("held elsewhere", status=status, code=code)
    account.fail("attach", SUPPORT, refusal)

    result = apply(MOVE_PLAN, account)

    attach = Write(SUPPORT, "Support", "attach", (N102,), moved=(N102,))
    assert account.calls == [
        ("attach", SUPPORT, (N102,)),
        ("detach", IVR, (N102,)),
        ("attach", SUPPORT, (N102,)),
    ]
    # Once the number is freed, the rest is one unit that a stop does not cut short.
    assert account.calls_in_unit == account.calls[1:]
    assert result.writes == [
        attach.failed_with(refusal, "refused"),
        Write(IVR, "Legacy IVR", "detach", (N102,)),
        attach,
    ]
    assert result.notes == [
        "Support: the API refused to attach numbers held by another persona "
        f"({code or status}); detached them there first, then attached"
    ]
    assert result.failed == result.skipped == result.mismatches == []


@pytest.mark.parametrize(
    "error",
    [
        ApiError("slow down", status=429, code="RATE_LIMITED"),
        ApiError("server error", status=500),
        ApiError("unavailable", status=503),
        ApiError("persona not found", status=404, code="NOT_FOUND"),
        ApiError("bad request", status=400, code="INVALID_REQUEST"),
        ApiError("timed out"),  # no answer at all
    ],
    ids=["429", "500", "503", "404", "400", "no-status"],
)
def test_an_error_that_says_nothing_about_owners_is_not_a_refusal(error: ApiError) -> None:
    account = example_account()
    account.fail("attach", SUPPORT, error)

    result = apply(MOVE_PLAN, account)

    assert account.calls == [("attach", SUPPORT, (N102,))]
    assert result.writes == [
        Write(SUPPORT, "Support", "attach", (N102,), moved=(N102,)).failed_with(error)
    ]
    assert result.notes == []
    assert account.numbers[IVR] == {N102, N130}


def test_invalid_inbound_numbers_for_a_number_gone_from_the_account_is_not_a_refusal() -> None:
    account = example_account()
    account.account_numbers.discard(N102)
    error = ApiError("not found or not yours", status=400, code="INVALID_INBOUND_NUMBERS")
    account.fail("attach", SUPPORT, error)

    result = apply(MOVE_PLAN, account)

    assert account.calls == [("attach", SUPPORT, (N102,))]
    assert result.writes == [
        Write(SUPPORT, "Support", "attach", (N102,), moved=(N102,)).failed_with(error)
    ]


def test_a_409_on_an_attach_that_moves_nothing_is_not_a_refusal() -> None:
    account = example_account()
    error = ApiError("conflict", status=409)
    account.fail("attach", SALES, error)

    result = apply(EXAMPLE_PLAN, account)

    assert account.calls == [
        ("attach", SALES, (N110,)),
        ("attach", SUPPORT, (N101, N102)),
        ("detach", SUPPORT, (N103,)),
    ]
    assert result.writes[0] == Write(SALES, "Sales", "attach", (N110,)).failed_with(error)


def test_a_second_failure_puts_the_freed_number_back() -> None:
    account = example_account()
    refusal = ApiError("held elsewhere", status=409)
    second = ApiError("server error", status=500)
    account.fail("attach", SUPPORT, refusal, second)

    result = apply(MOVE_PLAN, account)

    attach = Write(SUPPORT, "Support", "attach", (N102,), moved=(N102,))
    assert account.calls == [
        ("attach", SUPPORT, (N102,)),
        ("detach", IVR, (N102,)),
        ("attach", SUPPORT, (N102,)),
        ("attach", IVR, (N102,)),
    ]
    assert account.calls_in_unit == account.calls[1:]
    assert result.writes == [
        attach.failed_with(refusal, "refused"),
        Write(IVR, "Legacy IVR", "detach", (N102,)),
        Write(IVR, "Legacy IVR", "attach", (N102,)),
        attach.failed_with(second),
    ]
    assert result.notes == [
        "Support: the attach failed after the numbers were freed, so they were attached back "
        "where they were"
    ]
    assert account.numbers[IVR] == {N102, N130}
    # Where the number ended is the next plan's to say (core.converge): no check here.
    assert result.mismatches == []
    assert account.reads == ["get p-ivr"]  # the settings read before the detach, nothing after


def test_a_number_that_cannot_be_put_back_is_named_and_left_to_the_plan_after() -> None:
    account = example_account()
    refusal = ApiError("held elsewhere", status=409)
    second = ApiError("server error", status=500)
    put_back = ApiError("server error", status=502)
    account.fail("attach", SUPPORT, refusal, second)
    account.fail("attach", IVR, put_back)

    result = apply(MOVE_PLAN, account)

    assert result.writes[2:] == [
        Write(IVR, "Legacy IVR", "attach", (N102,)).failed_with(put_back),
        Write(SUPPORT, "Support", "attach", (N102,), moved=(N102,)).failed_with(second),
    ]
    assert result.mismatches == [
        "+14155550102 freed for Support, whose attach then failed, could not be attached back "
        "where they were (another change may hold them now): the plan after the writes says "
        "where they are",
    ]
    assert result.notes == []


def test_when_nothing_could_be_freed_there_is_nothing_to_put_back() -> None:
    account = example_account()
    refusal = ApiError("held elsewhere", status=409)
    detach_error = ApiError("server error", status=500)
    again = ApiError("held elsewhere", status=409)
    account.fail("attach", SUPPORT, refusal, again)
    account.fail("detach", IVR, detach_error)

    result = apply(MOVE_PLAN, account)

    assert account.calls == [
        ("attach", SUPPORT, (N102,)),
        ("detach", IVR, (N102,)),
        ("attach", SUPPORT, (N102,)),
    ]
    attach = Write(SUPPORT, "Support", "attach", (N102,), moved=(N102,))
    assert result.writes == [
        attach.failed_with(refusal, "refused"),
        Write(IVR, "Legacy IVR", "detach", (N102,)).failed_with(detach_error),
        attach.failed_with(again),
    ]
    assert result.notes == []


def test_a_stop_after_the_number_is_freed_still_finishes_the_attach() -> None:
    account = example_account()
    stop = threading.Event()
    account.fail("attach", SUPPORT, ApiError("held elsewhere", status=409))

    def stop_after_freeing(action: str, persona_id: str) -> None:
        if (action, persona_id) == ("detach", IVR):
            stop.set()

    account.after_write = stop_after_freeing

    result = apply(MOVE_PLAN, account, stop=stop)

    assert account.calls[-1] == ("attach", SUPPORT, (N102,))
    assert account.numbers[SUPPORT] == {N100, N102, N103}
    assert result.writes[-1] == Write(SUPPORT, "Support", "attach", (N102,), moved=(N102,))
    assert result.interrupted
    # Only the read of the settings before the detach: verification is left to the next plan.
    assert account.reads == [f"get {IVR}"]


def test_a_stop_after_the_number_is_freed_still_puts_it_back_when_the_attach_fails() -> None:
    account = example_account()
    stop = threading.Event()
    second = ApiError("server error", status=500)
    account.fail("attach", SUPPORT, ApiError("held elsewhere", status=409), second)

    def stop_after_freeing(action: str, persona_id: str) -> None:
        if (action, persona_id) == ("detach", IVR):
            stop.set()

    account.after_write = stop_after_freeing

    result = apply(MOVE_PLAN, account, stop=stop)

    assert account.calls[-1] == ("attach", IVR, (N102,))
    assert account.numbers[IVR] == {N102, N130}
    assert result.writes[-2:] == [
        Write(IVR, "Legacy IVR", "attach", (N102,)),
        Write(SUPPORT, "Support", "attach", (N102,), moved=(N102,)).failed_with(second),
    ]
    assert result.skipped == []


def test_an_authorisation_error_skips_every_write_not_yet_sent() -> None:
    account = example_account()
    error = AuthError("bad key", status=401)
    account.fail("attach", SALES, error)

    result = apply(EXAMPLE_PLAN, account)

    assert account.calls == [("attach", SALES, (N110,))]
    assert result.writes == [Write(SALES, "Sales", "attach", (N110,)).failed_with(error)]
    assert result.skipped == [
        Write(SUPPORT, "Support", "attach", (N101, N102), moved=(N102,)).skipped_because(
            AUTH_STOPPED
        ),
        Write(SUPPORT, "Support", "detach", (N103,)).skipped_because(AUTH_STOPPED),
    ]
    assert result.stopped_by is error
    assert account.reads == []


def test_a_stop_lets_the_write_on_the_wire_finish_and_sends_nothing_more() -> None:
    account = example_account()
    stop = threading.Event()
    account.after_write = lambda _action, _persona: stop.set()

    result = apply(EXAMPLE_PLAN, account, stop=stop)

    assert account.calls == [("attach", SALES, (N110,))]
    assert result.writes == [Write(SALES, "Sales", "attach", (N110,))]
    assert result.skipped == [
        Write(SUPPORT, "Support", "attach", (N101, N102), moved=(N102,)).skipped_because(
            INTERRUPTED
        ),
        Write(SUPPORT, "Support", "detach", (N103,)).skipped_because(INTERRUPTED),
    ]
    assert result.interrupted
    assert account.reads == []


def test_a_write_the_client_did_not_send_is_skipped_with_its_reason() -> None:
    account = example_account()
    account.fail("attach", SALES, NotSent(INTERRUPTED))

    result = apply(EXAMPLE_PLAN, account)

    assert result.skipped == [Write(SALES, "Sales", "attach", (N110,)).skipped_because(INTERRUPTED)]
    assert [write.persona_id for write in result.writes] == [SUPPORT, SUPPORT]


def test_each_write_is_reported_and_handed_on_as_it_ends() -> None:
    account = example_account()
    handed: list[Write] = []
    sent: list[tuple[Write, int]] = []

    def on_write(write: Write) -> None:
        if write.outcome == "sent":
            sent.append((write, len(account.calls)))  # the calls made before this one goes
        else:
            handed.append(write)

    result = ApplyResult()
    PlanWriter(EXAMPLE_PLAN, account, result, 1, on_write=on_write).apply()

    assert handed == result.writes
    assert [describe(write) for write in handed] == [
        "Sales: attached 1 number (+14155550110)",
        "Support: attached 1 number (+14155550101), moved 1 number (+14155550102) here",
        "Support: detached 1 number (+14155550103)",
    ]
    # Each write is announced just before its call goes, never after it.
    assert sent == [
        (replace(write, outcome="sent"), index) for index, write in enumerate(result.writes)
    ]


def test_an_empty_plan_writes_and_reads_nothing() -> None:
    account = example_account()

    result = apply(Plan(()), account)

    assert result == ApplyResult(plans=[Plan(())])
    assert account.calls == []
    assert account.reads == []


def test_every_write_sends_each_number_as_the_account_spells_it() -> None:
    account = example_account()
    spelled = {N101: "+1 415 555 0101", N103: "14155550103", N100: "+1 415 5550100"}
    writes = (
        Change(Action.SETTINGS, SUPPORT, "Support", N100, after=routing_settings({"a": "b"})),
        Change(Action.LABEL, SUPPORT, "Support", N100, after="Main"),
    )
    plan = replace(EXAMPLE_PLAN, changes=EXAMPLE_PLAN.changes + writes, spellings=spelled)

    apply(plan, account)

    assert account.calls == [
        ("attach", SALES, (N110,)),
        ("attach", SUPPORT, ("+1 415 555 0101", N102)),
        ("detach", SUPPORT, ("14155550103",)),
    ]
    assert [(kind, number) for kind, _, number, _ in account.number_calls] == [
        ("settings", "+1 415 5550100"),
        ("label", "+1 415 5550100"),
    ]


def test_a_write_stopped_while_it_waits_its_turn_gets_no_sent_line() -> None:
    """A signal that comes after the write was handed to the client but before the client sends
    it: the client refuses it unsent, and it is never handed on as `sent` (the audit log's line)."""
    requests: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(f"{request.method} {request.url.path}")
        return httpx.Response(200, json={"data": [], "errors": None})

    def cancel_while_waiting(_seconds: float) -> None:
        client.cancel()  # the signal's handler, while the write waits for its paced turn

    # One request per 100 s: the write after the first request waits, and the wait cancels.
    client = BlandClient(
        "https://api.example.test",
        "secret-key",
        transport=httpx.MockTransport(answer),
        sleep=cancel_while_waiting,
        max_rps=0.01,
    )
    client.list_account_numbers()
    plan = Plan(changes=(Change(Action.ATTACH, SUPPORT, "Support", N101),))
    sent: list[Write] = []

    result = ApplyResult()
    PlanWriter(plan, client, result, on_write=sent.append).apply()

    assert [write.outcome for write in sent] == ["skipped"]
    assert requests == ["GET /v1/inbound"]
    assert [write.outcome for write in result.skipped] == ["skipped"]
