"""Per-number settings as values: compared whole, hashed, and read the same however written."""

from __future__ import annotations

import pytest

from reconciler.model import (
    UNREAD,
    Live,
    LivePersona,
    RoutingSettings,
    label_seen,
    routing_settings,
    same_label,
)

N100, N101 = "+14155550100", "+14155550101"


def test_settings_compare_whole_objects_whatever_the_key_order() -> None:
    first = routing_settings({"start_node_id": "n", "pathway_id": "p"})
    assert first == routing_settings({"pathway_id": "p", "start_node_id": "n"})
    assert first != routing_settings({"pathway_id": "p"})
    assert hash(first) == hash(routing_settings({"pathway_id": "p", "start_node_id": "n"}))


@pytest.mark.parametrize(
    ("value", "same_as"),
    [
        ({"pathway_id": "p", "pathway_version": 2.0}, {"pathway_id": "p", "pathway_version": 2}),
        ({"pathway_id": "p", "start_node_id": None}, {"pathway_id": "p"}),
        ({}, None),
        ({"pathway_id": None}, None),
        (None, None),
    ],
    ids=repr,
)
def test_settings_read_the_same_however_they_are_written(
    value: dict[str, object] | None, same_as: dict[str, object] | None
) -> None:
    assert routing_settings(value) == routing_settings(same_as)


def test_a_version_of_true_is_not_version_one() -> None:
    assert routing_settings({"pathway_id": "p", "pathway_version": True}) != routing_settings(
        {"pathway_id": "p", "pathway_version": 1}
    )


def test_settings_show_known_keys_first() -> None:
    settings = routing_settings({"zeta": 1, "start_node_id": "n", "pathway_id": "p"})
    assert isinstance(settings, RoutingSettings)
    assert str(settings) == '{"pathway_id": "p", "start_node_id": "n", "zeta": 1}'
    assert settings.as_dict() == {"pathway_id": "p", "start_node_id": "n", "zeta": 1}


@pytest.mark.parametrize(
    ("seen", "wanted", "same"),
    [
        (None, "", True),
        ("", "", True),
        ("Front", "Front", True),
        ("Front", "front", False),
        (None, "Front", False),
        (UNREAD, "", False),  # not shown: cannot be known to match
    ],
)
def test_same_label(seen: str | None, wanted: str, same: bool) -> None:
    assert same_label(seen, wanted) is same


def test_a_label_is_read_from_whichever_persona_shows_its_number() -> None:
    live = Live(
        personas={
            "a": LivePersona("a", "A", frozenset({N100})),  # a listing of bare strings
            "b": LivePersona("b", "B", frozenset({N100}), labels={N100: "Front"}),
        },
        account_numbers=frozenset({N100, N101}),
    )
    owners = live.owners()
    assert label_seen(live, owners, N100) == "Front"
    assert label_seen(live, owners, N101) is UNREAD  # on no persona: nothing shows it
