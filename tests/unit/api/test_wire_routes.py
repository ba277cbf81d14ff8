"""What answers a number, as GET /v1/inbound entries show it: one number shown by two entries
(one spelling or two) is held if either entry shows it held."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.api.wire import build_live, inbound_from_answer

N = "+14155550100"
FREE = {"persona_id": None, "pathway_id": None, "prompt": None}
ON_PATHWAY = {"persona_id": None, "pathway_id": "pw-1", "prompt": None}
ON_PERSONA = {"persona_id": "p-1", "pathway_id": None, "prompt": None}


def owners(entries: list[dict[str, Any]]) -> tuple[str, ...]:
    numbers, routes = inbound_from_answer({"inbound_numbers": entries})
    return build_live({}, 1, numbers, routes).owners.get(N, ())


def _later_wins(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=reason)


SAME = _later_wins("routes are keyed by spelling: the later entry of one spelling replaces it")
SPELLED = _later_wins("routes of two spellings of a number become one: the later one is kept")
OWNER = _later_wins(
    "the later entry of one spelling replaces the owner the earlier names, and its route says free"
)
TWO_ENTRIES = [
    pytest.param(ON_PATHWAY, N, FREE, N, ("pathway:pw-1",), id="pathway-then-free", marks=SAME),
    pytest.param(FREE, N, ON_PATHWAY, N, ("pathway:pw-1",), id="free-then-pathway"),
    pytest.param(ON_PATHWAY, N, FREE, "1 415 555 0100", ("pathway:pw-1",),
                 id="pathway-then-free-spelled", marks=SPELLED),
    pytest.param(ON_PERSONA, N, FREE, N, ("p-1",), id="persona-then-free", marks=OWNER),
    pytest.param(ON_PERSONA, N, FREE, "1 415 555 0100", ("p-1",), id="persona-then-free-spelled"),
    pytest.param(FREE, N, ON_PERSONA, N, ("p-1",), id="free-then-persona"),
]  # fmt: skip


@pytest.mark.parametrize(("first", "as_first", "second", "as_second", "held_by"), TWO_ENTRIES)
def test_a_number_either_of_two_entries_shows_held_is_held(
    first: dict[str, Any],
    as_first: str,
    second: dict[str, Any],
    as_second: str,
    held_by: tuple[str, ...],
) -> None:
    entries = [{"phone_number": as_first, **first}, {"phone_number": as_second, **second}]
    assert owners(entries) == held_by
