"""A number GET /v1/inbound shows in two entries (one spelling or two): held if either names
an owner, whichever comes first."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.api.wire import build_live, inbound_from_answer

N = "+14155550100"
FREE = {"persona_id": None, "pathway_id": None, "prompt": None}
ON_PERSONA = {"persona_id": "p-1", "pathway_id": None, "prompt": None}

TWO_ENTRIES = [
    pytest.param(ON_PERSONA, N, FREE, N, ("p-1",), id="persona-then-free"),
    pytest.param(ON_PERSONA, N, FREE, "1 415 555 0100", ("p-1",), id="persona-then-free-spelled"),
    pytest.param(FREE, N, ON_PERSONA, N, ("p-1",), id="free-then-persona"),
    pytest.param(FREE, N, FREE, N, (), id="free-twice"),
]  # fmt: skip


@pytest.mark.parametrize(("first", "as_first", "second", "as_second", "held_by"), TWO_ENTRIES)
def test_a_number_two_entries_show_is_held_if_either_names_an_owner(
    first: dict[str, Any],
    as_first: str,
    second: dict[str, Any],
    as_second: str,
    held_by: tuple[str, ...],
) -> None:
    entries = [{"phone_number": as_first, **first}, {"phone_number": as_second, **second}]
    live = build_live({}, 1, inbound_from_answer({"inbound_numbers": entries}))
    assert live.owners.get(N, ()) == held_by
