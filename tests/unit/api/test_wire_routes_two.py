"""What answers a number, as GET /v1/inbound entries show it, second round: an entry that is a
bare number, or spelled with spaces around it, is an entry all the same, so a number it shows
has no route from another entry."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.api.wire import build_live, inbound_from_answer

N = "+14155550100"
FREE = {"persona_id": None, "pathway_id": None, "prompt": None}
NAMED = {"phone_number": "+14155550199", "persona_id": "p-1", "pathway_id": None, "prompt": None}

TWO_ENTRIES = {
    "bare-then-object": [N, {"phone_number": N, **FREE}],
    "object-then-bare": [{"phone_number": N, **FREE}, N],
    "bare-spelled-then-object": [" 1 415 555 0100 ", {"phone_number": N, **FREE}],
    "object-then-padded-without-route": [
        {"phone_number": N, **FREE},
        {"phone_number": f" {N} ", "persona_id": None},
    ],
}


@pytest.mark.parametrize("entries", TWO_ENTRIES.values(), ids=TWO_ENTRIES)
def test_a_number_shown_again_by_a_bare_or_padded_entry_has_no_route(entries: list[Any]) -> None:
    numbers, routes = inbound_from_answer({"inbound_numbers": [*entries, NAMED]})
    live = build_live({}, 1, numbers, routes)
    assert N in live.account_numbers
    assert N not in live.inbound_routes
