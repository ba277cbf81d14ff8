"""Verification after the writes: what is read back, what is fixed, and what is named as wrong."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from reconciler.apply import ApplyResult, Write, apply_plan
from reconciler.errors import ApiError, AuthError
from reconciler.model import ConfirmedOwners, PersonaRef, RoutingSettings, routing_settings
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

PW1 = routing_settings({"pathway_id": "pw_1"})
PW2 = routing_settings({"pathway_id": "pw_2"})


def apply(plan: Plan, account: FakeAccount) -> ApplyResult:
    return apply_plan(plan, account, report=lambda _line: None, parallelism=1)


def test_a_converged_account_reads_back_each_persona_it_touched_once() -> None:
    account = example_account()

    result = apply(EXAMPLE_PLAN, account)

    # The IVR is read back too: the move took a number from it.
    assert sorted(account.reads) == ["get p-ivr", "get p-sales", "get p-support"]
    assert result.verify_reads == 3
    assert result.mismatches == []
    assert result.notes == []
    assert result.converged


def test_one_listing_reads_back_when_it_takes_fewer_requests_than_a_get_each() -> None:
    account = example_account()

    result = apply(replace(EXAMPLE_PLAN, pages_read=1), account)

    assert account.reads == ["list"]
    assert result.verify_reads == 1
    assert result.converged


def test_numbers_still_missing_or_still_there_are_named() -> None:
    account = example_account()

    def acknowledge_but_ignore(action: str, persona_id: str) -> None:
        if (action, persona_id) == ("attach", SUPPORT):
            account.numbers[SUPPORT].discard(N101)
        if (action, persona_id) == ("detach", SUPPORT):
            account.numbers[SUPPORT].add(N103)

    account.after_write = acknowledge_but_ignore

    result = apply(EXAMPLE_PLAN, account)

    assert result.mismatches == [
        "Support: still lacks +14155550101",
        "Support: still has +14155550103",
    ]
    assert not result.converged


def test_a_persona_deleted_during_the_apply_is_named() -> None:
    account = example_account()

    def delete_support(action: str, persona_id: str) -> None:
        if (action, persona_id) == ("detach", SUPPORT):
            account.deleted.add(SUPPORT)

    account.after_write = delete_support

    result = apply(EXAMPLE_PLAN, account)

    assert result.mismatches == ["Support: was deleted during the apply"]
    assert not result.converged


def test_a_persona_gone_from_the_listing_is_named() -> None:
    account = example_account()

    def remove_sales(action: str, persona_id: str) -> None:
        if persona_id == SALES:
            del account.names[SALES]

    account.after_write = remove_sales

    result = apply(replace(EXAMPLE_PLAN, pages_read=1), account)

    assert result.mismatches == ["Sales: no longer in the list of personas"]


def test_a_number_the_api_left_on_its_old_persona_is_detached_there() -> None:
    account = example_account(reassigns=False)

    result = apply(EXAMPLE_PLAN, account)

    assert account.calls[-1] == ("detach", IVR, (N102,))
    assert result.writes[-1] == Write(IVR, "Legacy IVR", "detach", (N102,))
    assert result.notes == [
        "Legacy IVR: still had 1 number (+14155550102) after the move (the API did not "
        "reassign them); detached them there"
    ]
    assert account.reads.count("get p-ivr") == 2  # read again after the fix
    assert account.reads.count("get p-support") == 2  # and the persona it moved to
    assert result.verify_reads == 5
    assert result.converged


def test_a_left_behind_number_whose_attach_failed_stays_where_it_is() -> None:
    account = example_account(reassigns=False)
    account.fail("attach", SUPPORT, ApiError("server error", status=500))

    result = apply(MOVE_PLAN, account)

    assert account.calls == [("attach", SUPPORT, (N102,))]  # no detach from the IVR
    assert account.numbers[IVR] == {N102, N130}
    assert result.mismatches == [
        "Support: still lacks +14155550102",
        "Legacy IVR: still has +14155550102",
    ]


def test_a_left_behind_number_that_cannot_be_detached_is_named() -> None:
    account = example_account(reassigns=False)
    error = ApiError("server error", status=500)
    account.fail("detach", IVR, error)

    result = apply(MOVE_PLAN, account)

    assert result.writes[-1] == Write(IVR, "Legacy IVR", "detach", (N102,)).failed_with(error)
    assert result.mismatches == ["Legacy IVR: still has +14155550102"]


def test_a_source_no_listing_shows_is_not_read_back() -> None:
    account = example_account()

    result = apply(replace(MOVE_PLAN, unlisted=frozenset({IVR})), account)

    assert account.reads == ["get p-support"]
    assert result.notes == [
        "1 number (+14155550102) came from Legacy IVR, a persona the persona list does not "
        "show; it was not read back"
    ]
    assert result.converged


def test_a_persona_that_cannot_be_read_back_is_named() -> None:
    account = example_account()
    error = ApiError("server error", status=500)
    account.fail("get", SALES, error)

    result = apply(EXAMPLE_PLAN, account)

    assert result.mismatches == [f"Sales: cannot read back: {error}"]
    assert result.verify_reads == 3


def test_a_failed_listing_is_one_mismatch() -> None:
    account = example_account()
    error = ApiError("server error", status=500)
    account.fail("list", "", error)

    result = apply(replace(EXAMPLE_PLAN, pages_read=1), account)

    assert result.mismatches == [f"cannot read the account back: {error}"]
    assert not result.converged


def test_an_authorisation_error_while_reading_back_stops_the_run() -> None:
    account = example_account()
    error = AuthError("bad key", status=403)
    account.fail("get", SUPPORT, error)

    result = apply(EXAMPLE_PLAN, account)

    assert result.stopped_by is error
    assert result.mismatches == []
    assert not result.converged


def test_a_persona_outside_the_file_that_kept_a_detached_number_is_named() -> None:
    # 102 is on Support (managed) and on the IVR (not managed): the plan detaches it there.
    account = FakeAccount({SUPPORT: ("Support", [N100, N102]), IVR: ("Legacy IVR", [N102, N130])})
    plan = Plan(
        changes=(Change(Action.DETACH, IVR, "Legacy IVR", N102),),
        managed=(
            ManagedPersona(SUPPORT, "Support", frozenset({N100, N102}), frozenset({N100, N102})),
        ),
        owners={N100: (SUPPORT,), N102: (SUPPORT, IVR), N130: (IVR,)},
    )
    account.after_write = lambda _action, _persona: account.numbers[IVR].add(N102)

    result = apply(plan, account)

    assert account.calls == [("detach", IVR, (N102,))]
    assert result.mismatches == ["Legacy IVR: still has +14155550102"]


# A plan made on a wrong picture: the list showed 102 on Support and on the IVR, but it was on
# the IVR alone (moved there while the list was read). Support declares it; the plan detaches
# it from the IVR, the persona really holding it.
WRONG_PICTURE_PLAN = Plan(
    changes=(Change(Action.DETACH, IVR, "Legacy IVR", N102),),
    managed=(ManagedPersona(SUPPORT, "Support", frozenset({N100, N102}), frozenset({N100, N102})),),
    owners={N100: (SUPPORT,), N102: (SUPPORT, IVR), N130: (IVR,)},
)


def wrong_picture_account() -> FakeAccount:
    return FakeAccount({SUPPORT: ("Support", [N100]), IVR: ("Legacy IVR", [N102, N130])})


def test_a_declared_number_taken_off_its_only_holder_is_put_back_in_the_same_run() -> None:
    account = wrong_picture_account()

    result = apply(WRONG_PICTURE_PLAN, account)

    # Support declares a touched number and held it when planned: it is read back, found
    # lacking 102, and given it with one attach.
    assert account.calls == [("detach", IVR, (N102,)), ("attach", SUPPORT, (N102,))]
    assert account.numbers[SUPPORT] == {N100, N102}
    assert result.notes == [
        "Support: lacked 1 number (+14155550102) after the writes; attached them there"
    ]
    # Nobody read back holds it: the personas are listed once to be sure nobody else does.
    assert sorted(account.reads) == [
        "get p-ivr",
        "get p-support",
        "get p-support",
        "inbound",
        "list",
    ]
    assert result.verify_reads == 5
    assert result.converged


def test_a_number_put_back_gets_its_declared_settings_written_in_the_same_run() -> None:
    """The attach that puts 102 back leaves it with no settings (as the API does): the settings
    Support declares for it are written once, then read back."""
    account = wrong_picture_account()
    plan = replace(
        WRONG_PICTURE_PLAN,
        managed=(replace(WRONG_PICTURE_PLAN.managed[0], settings={N102: PW1, N100: PW2}),),
    )
    account.settings[SUPPORT][N100] = PW2
    lines: list[str] = []

    result = apply_plan(plan, account, report=lines.append, parallelism=1)

    assert account.calls == [("detach", IVR, (N102,)), ("attach", SUPPORT, (N102,))]
    assert account.number_calls == [("settings", SUPPORT, N102, PW1)]
    assert account.settings[SUPPORT][N102] == PW1
    # Written after the attach, read back after the write.
    assert account.timeline[-2:] == [("attach", SUPPORT), ("settings", N102)]
    assert account.reads[-1] == "get p-support"
    assert result.done[-1] == Write(
        SUPPORT, "Support", "settings", (N102,), value={"pathway_id": "pw_1"}
    )
    assert lines[-1] == 'Support: set the settings of +14155550102 to {"pathway_id": "pw_1"}'
    assert result.mismatches == []
    assert result.converged


@pytest.mark.parametrize("declared", [{}, {N102: None}])
def test_a_number_put_back_without_declared_settings_gets_no_settings_write(
    declared: dict[str, RoutingSettings | None],
) -> None:
    account = wrong_picture_account()
    plan = replace(
        WRONG_PICTURE_PLAN, managed=(replace(WRONG_PICTURE_PLAN.managed[0], settings=declared),)
    )

    result = apply(plan, account)

    assert account.calls[-1] == ("attach", SUPPORT, (N102,))
    assert account.number_calls == []
    assert result.converged


def test_a_number_whose_put_back_failed_gets_no_settings_write() -> None:
    account = wrong_picture_account()
    account.fail("attach", SUPPORT, ApiError("server error", status=500))
    plan = replace(
        WRONG_PICTURE_PLAN,
        managed=(replace(WRONG_PICTURE_PLAN.managed[0], settings={N102: PW1}),),
    )

    result = apply(plan, account)

    assert account.number_calls == []
    assert result.mismatches == ["Support: still lacks +14155550102"]
    assert not result.converged


def test_a_settings_write_after_a_put_back_that_fails_is_reported_and_fails_the_run() -> None:
    account = wrong_picture_account()
    error = ApiError("server error", status=500)
    account.fail("settings", SUPPORT, error)
    plan = replace(
        WRONG_PICTURE_PLAN,
        managed=(replace(WRONG_PICTURE_PLAN.managed[0], settings={N102: PW1}),),
    )

    result = apply(plan, account)

    assert account.numbers[SUPPORT] == {N100, N102}
    assert result.failed == [
        Write(SUPPORT, "Support", "settings", (N102,), value={"pathway_id": "pw_1"}).failed_with(
            error
        )
    ]
    assert result.mismatches == [
        'Support: +14155550102 has the settings none, not {"pathway_id": "pw_1"}'
    ]
    assert not result.converged


def test_an_authorisation_error_on_the_put_back_sends_no_settings_write() -> None:
    account = wrong_picture_account()
    account.fail("attach", SUPPORT, AuthError("unauthorised", status=401))
    plan = replace(
        WRONG_PICTURE_PLAN,
        managed=(replace(WRONG_PICTURE_PLAN.managed[0], settings={N102: PW1}),),
    )

    result = apply(plan, account)

    assert account.number_calls == []
    assert result.stopped_by is not None
    assert not result.converged


def test_an_interrupt_during_the_put_back_skips_its_settings_write() -> None:
    account = wrong_picture_account()
    stop = threading.Event()

    def interrupt_at_the_put_back(action: str, persona_id: str) -> None:
        if (action, persona_id) == ("attach", SUPPORT):
            stop.set()

    account.after_write = interrupt_at_the_put_back
    plan = replace(
        WRONG_PICTURE_PLAN,
        managed=(replace(WRONG_PICTURE_PLAN.managed[0], settings={N102: PW1}),),
    )

    result = apply_plan(plan, account, report=lambda _line: None, parallelism=1, stop=stop)

    assert account.number_calls == []
    assert [(w.action, w.outcome) for w in result.skipped] == [("settings", "skipped")]
    assert not result.converged


def test_a_declared_number_that_cannot_be_put_back_is_named() -> None:
    account = wrong_picture_account()
    error = ApiError("server error", status=500)
    account.fail("attach", SUPPORT, error)

    result = apply(WRONG_PICTURE_PLAN, account)

    assert result.failed == [Write(SUPPORT, "Support", "attach", (N102,)).failed_with(error)]
    assert result.mismatches == ["Support: still lacks +14155550102"]
    assert not result.converged


def test_a_declared_number_someone_moved_elsewhere_is_named_not_taken_back() -> None:
    account = example_account()
    account.inbound_gives_owners = True

    def dashboard_moves_it_to_sales(action: str, persona_id: str) -> None:
        if (action, persona_id) == ("attach", SUPPORT):
            account.numbers[SUPPORT].discard(N102)
            account.numbers[SALES].add(N102)

    account.after_write = dashboard_moves_it_to_sales

    result = apply(MOVE_PLAN, account)

    # Sales is in no part of the plan; GET /v1/inbound says where the number went (by id).
    assert account.calls == [("attach", SUPPORT, (N102,))]
    assert result.notes == [
        "Support: lacks +14155550102 after the writes, and it is on p-sales now, which the plan "
        "did not take it from: not taken back"
    ]
    assert result.mismatches == ["Support: still lacks +14155550102"]


def test_a_move_the_api_acknowledged_but_did_not_make_is_made_again() -> None:
    account = example_account()
    ignored: list[str] = []

    def ignore_the_first_attach(action: str, persona_id: str) -> None:
        if (action, persona_id) == ("attach", SUPPORT) and not ignored:
            ignored.append(persona_id)
            account.numbers[SUPPORT].discard(N102)
            account.numbers[IVR].add(N102)

    account.after_write = ignore_the_first_attach

    result = apply(MOVE_PLAN, account)

    # The IVR still holds it: the plan takes it from there, so attaching it again is the move.
    assert account.calls == [("attach", SUPPORT, (N102,)), ("attach", SUPPORT, (N102,))]
    assert account.numbers[SUPPORT] == {N100, N102, N103}
    assert account.numbers[IVR] == {N130}
    assert result.converged


def test_personas_seen_holding_a_touched_number_when_planned_are_read_back() -> None:
    account = example_account()
    listed_on_sales = ConfirmedOwners(N110, (PersonaRef(SALES, "Sales"),), ())
    plan = Plan(
        changes=(Change(Action.ATTACH, SUPPORT, "Support", N110),),
        managed=(
            ManagedPersona(
                SUPPORT, "Support", frozenset({N100, N103}), frozenset({N100, N103, N110})
            ),
        ),
        owners={N100: (SUPPORT,), N103: (SUPPORT,)},
        confirmed=(listed_on_sales,),
    )

    result = apply(plan, account)

    assert sorted(account.reads) == ["get p-sales", "get p-support"]
    assert result.converged


def test_a_number_nobody_holds_any_more_is_put_back_even_without_owners_from_the_api() -> None:
    account = example_account()

    def someone_detaches_it(action: str, persona_id: str) -> None:
        if (action, persona_id) == ("detach", SUPPORT):
            account.numbers[SUPPORT].discard(N101)

    account.after_write = someone_detaches_it

    result = apply(EXAMPLE_PLAN, account)

    assert account.calls[-1] == ("attach", SUPPORT, (N101,))
    assert account.numbers[SUPPORT] == {N100, N101, N102}
    assert result.converged


def test_a_protected_number_that_was_held_when_planned_is_not_put_back_blindly() -> None:
    account = wrong_picture_account()

    result = apply(replace(WRONG_PICTURE_PLAN, protected=(N102,)), account)

    # Nobody read back holds it, but nothing says nobody does: it is named, not attached.
    assert account.calls == [("detach", IVR, (N102,))]
    assert result.notes == [
        "Support: lacks +14155550102 after the writes; it is protected and was on a persona "
        "when planned, so it is not attached without knowing who holds it now"
    ]
    assert result.mismatches == ["Support: still lacks +14155550102"]


def test_a_protected_number_planned_as_free_is_put_back() -> None:
    account = example_account()

    def someone_detaches_it(action: str, persona_id: str) -> None:
        if (action, persona_id) == ("detach", SUPPORT):
            account.numbers[SUPPORT].discard(N101)

    account.after_write = someone_detaches_it

    result = apply(replace(EXAMPLE_PLAN, protected=(N101,)), account)

    assert account.calls[-1] == ("attach", SUPPORT, (N101,))
    assert result.converged


def test_a_protected_number_planned_as_free_that_someone_took_is_not_taken_back() -> None:
    """The plan attached protected 101 (free when planned); during the apply someone moved it to
    a persona the plan does not concern. Neither the reads back nor GET /v1/inbound show it
    there: attaching it again would take a protected number from its holder, unseen."""
    other = "p-other"
    account = FakeAccount(
        {
            SUPPORT: ("Support", [N100, N103]),
            IVR: ("Legacy IVR", [N102, N130]),
            SALES: ("Sales", []),
            other: ("Other", []),
        },
        free=[N101, N110],
    )

    def dashboard_moves_it_to_other(action: str, persona_id: str) -> None:
        if (action, persona_id) == ("detach", SUPPORT):
            account.numbers[SUPPORT].discard(N101)
            account.numbers[other].add(N101)

    account.after_write = dashboard_moves_it_to_other

    result = apply(replace(EXAMPLE_PLAN, protected=(N101,)), account)

    assert account.numbers[other] == {N101}
    assert ("attach", SUPPORT, (N101,)) not in account.calls[1:]
    assert "Support: still lacks +14155550101" in result.mismatches
    assert not result.converged


def test_a_missing_protected_number_is_not_put_back_when_no_listing_says_who_holds_it() -> None:
    account = example_account()

    def someone_detaches_it(action: str, persona_id: str) -> None:
        if (action, persona_id) == ("detach", SUPPORT):
            account.numbers[SUPPORT].discard(N101)

    account.after_write = someone_detaches_it
    account.fail("list", "", ApiError("server error", status=500))

    result = apply(replace(EXAMPLE_PLAN, protected=(N101,)), account)

    assert ("attach", SUPPORT, (N101,)) not in account.calls[1:]
    assert "Support: still lacks +14155550101" in result.mismatches
    assert not result.converged


def test_the_new_persona_of_a_move_finished_by_a_detach_is_read_back_after_it() -> None:
    """The API left 102 listed on the IVR after the move; the detach that finishes it also takes
    it off Support (one owner per number, a stale entry on the IVR: the worst reading). The run
    must not vouch for Support on a read made before that detach."""
    account = example_account(reassigns=False)

    def detach_unroutes_it_everywhere(action: str, persona_id: str) -> None:
        if (action, persona_id) == ("detach", IVR):
            account.numbers[SUPPORT].discard(N102)

    account.after_write = detach_unroutes_it_everywhere

    result = apply(MOVE_PLAN, account)

    assert account.calls == [
        ("attach", SUPPORT, (N102,)),
        ("detach", IVR, (N102,)),
        ("attach", SUPPORT, (N102,)),  # put back, as any declared number found missing
    ]
    assert account.numbers[SUPPORT] == {N100, N102, N103}
    assert account.numbers[IVR] == {N130}
    assert result.converged


def test_a_move_the_finishing_detach_undid_that_cannot_be_put_back_is_named() -> None:
    account = example_account(reassigns=False)

    def detach_unroutes_it_everywhere(action: str, persona_id: str) -> None:
        if (action, persona_id) == ("detach", IVR):
            account.numbers[SUPPORT].discard(N102)
            account.fail("attach", SUPPORT, ApiError("server error", status=500))

    account.after_write = detach_unroutes_it_everywhere

    result = apply(MOVE_PLAN, account)

    assert N102 not in account.numbers[SUPPORT]
    assert "Support: still lacks +14155550102" in result.mismatches
    assert not result.converged


def test_a_number_someone_moved_to_a_persona_no_read_covers_is_not_taken_back() -> None:
    """Without owners from GET /v1/inbound, only a listing shows where 101 went: taking it back
    from there would be a move no safety valve saw."""
    other = "p-other"
    account = FakeAccount(
        {SUPPORT: ("Support", [N100, N103]), IVR: ("Legacy IVR", [N102, N130]), other: ("O", [])},
        free=[N101],
    )

    def dashboard_moves_it_to_other(action: str, persona_id: str) -> None:
        if (action, persona_id) == ("detach", SUPPORT):
            account.numbers[SUPPORT].discard(N101)
            account.numbers[other].add(N101)

    account.after_write = dashboard_moves_it_to_other
    plan = replace(
        EXAMPLE_PLAN,
        changes=EXAMPLE_PLAN.changes[1:],
        managed=EXAMPLE_PLAN.managed[:1],
    )

    result = apply(plan, account)

    assert account.numbers[other] == {N101}
    assert result.notes == [
        "Support: lacks +14155550101 after the writes, and it is on p-other now, which the "
        "plan did not take it from: not taken back"
    ]
    assert result.mismatches == ["Support: still lacks +14155550101"]
