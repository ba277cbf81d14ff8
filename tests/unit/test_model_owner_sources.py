"""Two sources of owners, the persona list and GET /v1/inbound: the reading that makes a number
held wins, and every disagreement is found."""

from __future__ import annotations

from reconciler.model import Live, LivePersona, PersonaRef, SourcesDisagree

N1, N2, N3 = "+14155550101", "+14155550102", "+14155550103"


def persona(pid: str, *numbers: str) -> LivePersona:
    return LivePersona(pid, pid.upper(), frozenset(numbers))


def live(*personas: LivePersona, inbound_owners: dict[str, str]) -> Live:
    return Live({p.id: p for p in personas}, frozenset({N1, N2, N3}), inbound_owners=inbound_owners)


def test_a_number_the_list_shows_on_no_persona_counts_as_on_the_listed_persona_inbound_names() -> (
    None
):
    account = live(persona("a", N1), persona("b"), inbound_owners={N2: "b"})
    assert account.owners == {N1: ("a",), N2: ("b",)}


def test_a_number_the_list_shows_elsewhere_stays_with_the_list() -> None:
    # Held either way: taking it is a move from the persona the list shows, never an attach.
    account = live(persona("a", N1), persona("b"), inbound_owners={N1: "b"})
    assert account.owners == {N1: ("a",)}


def test_every_disagreement_is_found_in_number_order() -> None:
    account = live(
        persona("a", N1),
        persona("b"),
        inbound_owners={N3: "hidden", N2: "b", N1: "b"},
    )
    assert account.disagreements() == [
        SourcesDisagree(N1, PersonaRef("b", "B"), (PersonaRef("a", "A"),)),
        SourcesDisagree(N2, PersonaRef("b", "B"), ()),
        SourcesDisagree(N3, PersonaRef("hidden", ""), ()),
    ]


def test_sources_that_agree_are_no_disagreement() -> None:
    assert live(persona("a", N1), inbound_owners={N1: "a"}).disagreements() == []
    assert live(persona("a", N1), inbound_owners={}).disagreements() == []
