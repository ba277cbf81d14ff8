"""The live account's derived views: active personas, owners, owners only GET /v1/inbound names."""

from __future__ import annotations

from reconciler.model import DesiredPersona, Live, LivePersona, SourceMark

N1, N2, N3 = "+14155550101", "+14155550102", "+14155550103"


def persona(pid: str, *numbers: str, deleted: bool = False) -> LivePersona:
    return LivePersona(pid, pid.upper(), frozenset(numbers), deleted)


def live(*personas: LivePersona, inbound_owners: dict[str, str] | None = None) -> Live:
    numbers = frozenset(n for p in personas for n in p.numbers) | {N3}
    return Live({p.id: p for p in personas}, numbers, inbound_owners=inbound_owners or {})


def test_active_personas_are_the_undeleted_ones_in_id_order() -> None:
    account = live(persona("b"), persona("a"), persona("c", deleted=True))
    assert [p.id for p in account.active()] == ["a", "b"]


def test_each_number_has_its_one_owner() -> None:
    assert live(persona("a", N1), persona("b", N2)).owners() == {N1: ("a",), N2: ("b",)}


def test_a_number_on_two_personas_keeps_both_owners_in_id_order() -> None:
    owners = live(persona("b", N1, N2), persona("a", N1)).owners()
    assert owners == {N1: ("a", "b"), N2: ("b",)}


def test_a_deleted_persona_owns_nothing() -> None:
    assert live(persona("a", N1, deleted=True)).owners() == {}


def test_an_owner_only_the_inbound_list_names_counts_and_is_unlisted() -> None:
    account = live(persona("a", N1), inbound_owners={N3: "hidden", N1: "a"})
    assert account.owners() == {N1: ("a",), N3: ("hidden",)}
    assert account.unlisted_owners() == frozenset({"hidden"})


def test_a_source_mark_prints_as_file_line_column() -> None:
    assert str(SourceMark("personas.yaml", 4, 9)) == "personas.yaml:4:9"


def test_an_entry_is_named_by_its_name_else_its_id() -> None:
    mark = SourceMark("p.yaml", 1, 1)
    assert DesiredPersona(None, "Sales", (), mark).label == "'Sales'"
    assert DesiredPersona("p-1", None, (), mark).label == "id p-1"
