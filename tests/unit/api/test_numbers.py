"""Numbers as the API spells them read as canonical E.164, and the live account built from them."""

from __future__ import annotations

import pytest

from reconciler.api.wire import build_live, canonical_number
from reconciler.model import LivePersona


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("+14155550100", "+14155550100"),
        ("+1 415 5550100", "+14155550100"),
        ("+1 415 555 0100", "+14155550100"),
        ("14155550100", "+14155550100"),
        (" +1 (415) 555-0100 ", "+14155550100"),
        ("+1.415.555.0100", "+14155550100"),
        ("+44 (0)20 7946 0958", "+442079460958"),
        ("442079460958", "+442079460958"),
        # What cannot be read: guessing could name another number.
        ("call me", None),
        ("", None),
        ("+1", "+1"),  # E.164's shape is taken as it is, as before spellings were read
        ("+0 415 555 0100", None),
        ("+1 415", None),
        ("+1 415 555 01OO", None),  # letters O for zeros
        ("1-800-FLOWERS", None),  # letters are not dialled digits here
        ("+1 415 555 0100 x12", None),  # an extension
        ("+1 415 555 0100 999999", None),  # too long to exist
        ("\uff0b\uff11\uff14\uff11\uff15\uff15\uff15\uff15\uff10\uff11\uff10\uff10", None),
    ],
)
def test_a_spelling_reads_as_canonical_e164_or_as_none(
    spelling: str, canonical: str | None
) -> None:
    assert canonical_number(spelling) == canonical


def test_the_live_account_reads_each_inbound_spelling_as_its_number() -> None:
    persona = LivePersona("p1", "One", frozenset({"+14155550100"}))
    inbound: dict[str, str | None] = {
        "+1 415 5550100": "p1",
        "14155550101": None,
        "+14155550102": "p2",
        "call me": "p3",
    }
    live = build_live({"p1": persona}, 1, inbound)

    assert live.account_numbers == {"+14155550100", "+14155550101", "+14155550102"}
    assert live.inbound_owners == {"+14155550100": "p1", "+14155550102": "p2"}
    # Only the spellings that are not canonical: a large account spells nearly every number so.
    assert live.spellings == {
        "+1 415 5550100": "+14155550100",
        "14155550101": "+14155550101",
        "call me": "",
    }


def test_two_inbound_spellings_of_one_number_are_one_number() -> None:
    live = build_live({}, 1, {"+14155550100": None, "+1 415 5550100": "p1"})
    assert live.account_numbers == {"+14155550100"}
    assert live.inbound_owners == {"+14155550100": "p1"}
