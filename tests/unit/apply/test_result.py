"""The result of an apply and the report line of each write."""

from __future__ import annotations

import pytest

from reconciler.apply.result import ApplyResult, Write, counted_numbers, describe
from reconciler.errors import ApiError

ATTACH = Write("p-support", "Support", "attach", ("+14155550102", "+14155550101"))
DETACH = Write("p-support", "Support", "detach", ("+14155550103",))
REFUSAL = ApiError("number in use", status=409, code="NUMBER_IN_USE", method="POST", path="/x")


def test_a_done_write_says_what_it_did_numbers_sorted() -> None:
    assert describe(ATTACH) == "Support: attached 2 numbers (+14155550101, +14155550102)"
    assert describe(DETACH) == "Support: detached 1 number (+14155550103)"


def test_a_refused_write_says_the_numbers_are_freed_first() -> None:
    assert describe(ATTACH.failed_with(REFUSAL, "refused")) == (
        "Support: attach of 2 numbers (+14155550101, +14155550102) refused: "
        "POST /x: HTTP 409 NUMBER_IN_USE: number in use; freeing the numbers held elsewhere first"
    )


def test_a_failed_write_says_why() -> None:
    error = ApiError("server error", status=500)
    assert describe(DETACH.failed_with(error)) == (
        "Support: detach of 1 number (+14155550103) failed: HTTP 500: server error"
    )


def test_a_skipped_write_says_why_it_was_not_sent() -> None:
    assert describe(DETACH.skipped_because("its attach did not succeed (make before break)")) == (
        "Support: detach of 1 number (+14155550103) skipped: "
        "its attach did not succeed (make before break)"
    )


def test_a_name_from_the_api_cannot_fake_a_report_line() -> None:
    write = Write("p-x", "Evil\nSupport: attached 9 numbers\x1b[0m", "detach", ("+14155550103",))
    assert describe(write) == (
        "Evil\\x0aSupport: attached 9 numbers\\x1b[0m: detached 1 number (+14155550103)"
    )


def test_past_five_numbers_the_rest_are_counted() -> None:
    numbers = [f"+1415555010{digit}" for digit in range(7, 0, -1)]
    assert counted_numbers(numbers) == (
        "7 numbers (+14155550101, +14155550102, +14155550103, +14155550104, +14155550105, "
        "and 2 more)"
    )


def test_an_ended_write_keeps_the_api_s_status_code_and_message() -> None:
    failed = ATTACH.failed_with(REFUSAL)
    refused = ATTACH.failed_with(REFUSAL, "refused")
    skipped = ATTACH.skipped_because("the run was interrupted before it was sent")

    assert (failed.outcome, failed.status, failed.code, failed.message, failed.error) == (
        "failed",
        409,
        "NUMBER_IN_USE",
        "number in use",
        "POST /x: HTTP 409 NUMBER_IN_USE: number in use",
    )
    assert refused == Write(
        ATTACH.persona_id,
        ATTACH.persona_name,
        "attach",
        ATTACH.numbers,
        outcome="refused",
        error=failed.error,
        status=409,
        code="NUMBER_IN_USE",
        message="number in use",
    )
    assert (skipped.outcome, skipped.error, skipped.status) == (
        "skipped",
        "the run was interrupted before it was sent",
        None,
    )
    assert ATTACH.ok
    assert not failed.ok
    assert not refused.ok
    assert not skipped.ok


def test_done_and_failed_pick_their_writes() -> None:
    failed = DETACH.failed_with(ApiError("server error", status=500))
    refused = ATTACH.failed_with(REFUSAL, "refused")
    result = ApplyResult(writes=[refused, ATTACH, failed])

    assert result.done == [ATTACH]
    assert result.failed == [failed]


@pytest.mark.parametrize(
    ("result", "converged"),
    [
        (ApplyResult(writes=[ATTACH.failed_with(REFUSAL, "refused"), ATTACH], settled=True), True),
        (ApplyResult(writes=[DETACH.failed_with(REFUSAL)], settled=True), True),
        (ApplyResult(mismatches=["Support: still lacks +14155550101"], settled=True), False),
        (ApplyResult(writes=[ATTACH]), False),
    ],
    ids=["refusal-resolved", "failed-then-settled", "mismatch", "not-planned-after"],
)
def test_converged_is_an_empty_plan_after_the_writes_and_nothing_left_wrong(
    result: ApplyResult, converged: bool
) -> None:
    assert result.converged is converged
