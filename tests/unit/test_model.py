"""The model: per-number settings as values, the live account's active personas and owners;
its two sources of owners, the persona list and GET /v1/inbound: the reading that makes a number
held wins, and every disagreement is found."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.model import (
    UNREAD,
    DesiredPersona,
    Live,
    LiveAgent,
    LivePersona,
    PersonaRef,
    RoutingSettings,
    SourceMark,
    SourcesDisagree,
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


N1, N2, N3 = "+14155550101", "+14155550102", "+14155550103"


def _persona(pid: str, *numbers: str, deleted: bool = False) -> LivePersona:
    return LivePersona(pid, pid.upper(), frozenset(numbers), deleted)


def _live(*personas: LivePersona, inbound_owners: dict[str, str] | None = None) -> Live:
    numbers = frozenset(n for p in personas for n in p.numbers) | {N3}
    return Live({p.id: p for p in personas}, numbers, inbound_owners=inbound_owners or {})


def test_active_personas_are_the_undeleted_ones_in_id_order() -> None:
    account = _live(_persona("b"), _persona("a"), _persona("c", deleted=True))
    assert [p.id for p in account.active] == ["a", "b"]


def test_each_number_has_its_one_owner() -> None:
    assert _live(_persona("a", N1), _persona("b", N2)).owners == {N1: ("a",), N2: ("b",)}


def test_a_number_on_two_personas_keeps_both_owners_in_id_order() -> None:
    owners = _live(_persona("b", N1, N2), _persona("a", N1)).owners
    assert owners == {N1: ("a", "b"), N2: ("b",)}


def test_a_deleted_persona_owns_nothing() -> None:
    assert _live(_persona("a", N1, deleted=True)).owners == {}


def test_an_owner_only_the_inbound_list_names_counts() -> None:
    account = _live(_persona("a", N1), inbound_owners={N3: "hidden", N1: "a"})
    assert account.owners == {N1: ("a",), N3: ("hidden",)}


def test_a_source_mark_prints_as_file_line_column() -> None:
    assert str(SourceMark("personas.yaml", 4, 9)) == "personas.yaml:4:9"


def test_an_entry_is_a_persona_unless_it_says_agent_and_the_kinds_differ() -> None:
    mark = SourceMark("p.yaml", 1, 1)
    persona = DesiredPersona("x-1", None, (), mark)
    assert persona.kind == "persona"
    assert persona != DesiredPersona("x-1", None, (), mark, kind="agent")


def sources(*personas: LivePersona, inbound_owners: dict[str, str]) -> Live:
    return Live({p.id: p for p in personas}, frozenset({N1, N2, N3}), inbound_owners=inbound_owners)


def test_a_number_the_list_shows_on_no_persona_counts_as_on_the_listed_persona_inbound_names() -> (
    None
):
    account = sources(_persona("a", N1), _persona("b"), inbound_owners={N2: "b"})
    assert account.owners == {N1: ("a",), N2: ("b",)}


def test_a_number_the_list_shows_elsewhere_stays_with_the_list() -> None:
    # Held either way: taking it is a move from the persona the list shows, never an attach.
    account = sources(_persona("a", N1), _persona("b"), inbound_owners={N1: "b"})
    assert account.owners == {N1: ("a",)}


def test_every_disagreement_is_found_in_number_order() -> None:
    account = sources(
        _persona("a", N1),
        _persona("b"),
        inbound_owners={N3: "hidden", N2: "b", N1: "b"},
    )
    assert account.disagreements() == [
        SourcesDisagree(N1, PersonaRef("b", "B"), (PersonaRef("a", "A"),)),
        SourcesDisagree(N2, PersonaRef("b", "B"), ()),
        SourcesDisagree(N3, PersonaRef("hidden", ""), ()),
    ]


def test_sources_that_agree_are_no_disagreement() -> None:
    assert sources(_persona("a", N1), inbound_owners={N1: "a"}).disagreements() == []
    assert sources(_persona("a", N1), inbound_owners={}).disagreements() == []


def test_a_config_can_name_active_personas_and_listed_agents_only() -> None:
    account = replace(
        _live(
            _persona("p"),
            _persona("agent:listed"),
            _persona("agent:gone"),
            _persona("d", deleted=True),
        ),
        agents={"listed": LiveAgent("listed", "Bot")},
    )
    assert [owner.id for owner in account.named] == ["agent:listed", "p"]
