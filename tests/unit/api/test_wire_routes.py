"""What answers a number, as GET /v1/inbound entries show it: a number two entries show (one
spelling or two) has no route from either, so it is read by number; an owner either names
holds it."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.api.wire import build_live, inbound_from_answer
from reconciler.model import InboundRoute, Live

N = "+14155550100"
FREE = {"persona_id": None, "pathway_id": None, "prompt": None}
ON_PATHWAY = {"persona_id": None, "pathway_id": "pw-1", "prompt": None}
ON_PERSONA = {"persona_id": "p-1", "pathway_id": None, "prompt": None}
NAMED = {"phone_number": "+14155550199", **ON_PERSONA}  # GET /v1/inbound names owners


def live_from(entries: list[dict[str, Any]]) -> Live:
    numbers, routes = inbound_from_answer({"inbound_numbers": [*entries, NAMED]})
    return build_live({}, 1, numbers, routes)


TWO_ENTRIES = [
    pytest.param(ON_PATHWAY, N, FREE, N, (), id="pathway-then-free"),
    pytest.param(FREE, N, ON_PATHWAY, N, (), id="free-then-pathway"),
    pytest.param(ON_PATHWAY, N, FREE, "1 415 555 0100", (), id="pathway-then-free-spelled"),
    pytest.param(FREE, N, FREE, N, (), id="free-twice"),
    pytest.param(ON_PERSONA, N, FREE, N, ("p-1",), id="persona-then-free"),
    pytest.param(ON_PERSONA, N, FREE, "1 415 555 0100", ("p-1",), id="persona-then-free-spelled"),
    pytest.param(FREE, N, ON_PERSONA, N, ("p-1",), id="free-then-persona"),
]  # fmt: skip


@pytest.mark.parametrize(("first", "as_first", "second", "as_second", "held_by"), TWO_ENTRIES)
def test_a_number_two_entries_show_has_no_route_from_either_and_is_held_if_either_says(
    first: dict[str, Any],
    as_first: str,
    second: dict[str, Any],
    as_second: str,
    held_by: tuple[str, ...],
) -> None:
    live = live_from([{"phone_number": as_first, **first}, {"phone_number": as_second, **second}])
    assert N not in live.inbound_routes
    assert live.owners.get(N, ()) == held_by


def test_a_number_one_entry_shows_free_has_that_route() -> None:
    live = live_from([{"phone_number": N, **ON_PATHWAY}])
    assert live.inbound_routes == {N: InboundRoute(N, "pw-1", None, persona_id=None)}
    assert N not in live.owners  # taken only where a declared number looks free


def test_no_route_counts_where_the_answer_names_no_owner() -> None:
    numbers, routes = inbound_from_answer({"inbound_numbers": [{"phone_number": N, **FREE}]})
    assert routes
    assert build_live({}, 1, numbers, routes).inbound_routes == {}
