"""Numbers the persona list shows on two personas, confirmed by reading those personas by id;
agents' twins, and agents gone between their listing and their binding read."""

from __future__ import annotations

import pytest

from reconciler.errors import ApiError
from reconciler.model import (
    Desired,
    DesiredPersona,
    InboundRoute,
    Live,
    LiveAgent,
    LivePersona,
    PersonaRef,
    SourceMark,
)
from reconciler.owner_reads import confirm_owners, read_account

A, B, C = "p-a", "p-b", "p-c"
N1, N2, N3 = "+14155550101", "+14155550102", "+14155550103"


def persona(pid: str, *numbers: str, deleted: bool = False) -> LivePersona:
    return LivePersona(pid, pid.upper(), frozenset(numbers), deleted)


class ById:
    """Reads by id: what each persona holds now, and the order of the reads."""

    def __init__(self, *personas: LivePersona) -> None:
        self.personas = {p.id: p for p in personas}
        self.reads: list[str] = []

    def __call__(self, persona_id: str) -> LivePersona:
        self.reads.append(persona_id)
        return self.personas[persona_id]


def listing(*personas: LivePersona) -> Live:
    numbers = frozenset().union(*(p.numbers for p in personas))
    return Live({p.id: p for p in personas}, numbers | {N1, N2, N3}, pages_read=2)


def ref(pid: str) -> PersonaRef:
    return PersonaRef(pid, pid.upper())


def test_a_listing_with_no_number_on_two_personas_reads_nothing_more() -> None:
    live = listing(persona(A, N1), persona(B, N2))
    by_id = ById()

    assert confirm_owners(live, by_id) is live
    assert by_id.reads == []


def test_the_reads_by_id_replace_the_listed_entries() -> None:
    live = listing(persona(A, N1, N2), persona(B, N1), persona(C, N3))
    by_id = ById(persona(A, N2), persona(B, N1))

    confirmed = confirm_owners(live, by_id)

    assert sorted(by_id.reads) == [A, B]  # C holds no number seen twice: not read
    assert confirmed.personas[A].numbers == {N2}
    assert confirmed.owners == {N1: (B,), N2: (A,), N3: (C,)}
    assert [(c.phone_number, c.seen_on, c.held_by) for c in confirmed.confirmed] == [
        (N1, (ref(A), ref(B)), (ref(B),))
    ]


def test_a_number_really_on_two_personas_stays_on_both() -> None:
    live = listing(persona(A, N1), persona(B, N1))

    confirmed = confirm_owners(live, ById(persona(A, N1), persona(B, N1)))

    assert confirmed.owners[N1] == (A, B)
    assert confirmed.confirmed[0].held_by == (ref(A), ref(B))


def test_a_read_that_shows_a_number_listed_elsewhere_has_that_persona_read_too() -> None:
    # N1 shows on A and B; read by id, B also holds N3, which the list showed on C.
    live = listing(persona(A, N1), persona(B, N1), persona(C, N3))
    by_id = ById(persona(A), persona(B, N1, N3), persona(C))

    confirmed = confirm_owners(live, by_id)

    assert sorted(by_id.reads[:2]) == [A, B] and by_id.reads[2:] == [C]
    assert confirmed.owners == {N1: (B,), N3: (B,)}
    assert [(c.phone_number, c.held_by) for c in confirmed.confirmed] == [
        (N1, (ref(B),)),
        (N3, (ref(B),)),
    ]
    assert confirmed.confirmed[1].seen_on == (ref(B), ref(C))


def test_a_number_on_none_of_the_personas_read_is_on_no_persona() -> None:
    live = listing(persona(A, N1), persona(B, N1))

    confirmed = confirm_owners(live, ById(persona(A), persona(B)))

    assert N1 not in confirmed.owners
    assert confirmed.confirmed[0].held_by == ()


def test_a_persona_deleted_since_the_listing_holds_nothing() -> None:
    live = listing(persona(A, N1), persona(B, N1))

    confirmed = confirm_owners(live, ById(persona(A, N1, deleted=True), persona(B, N1)))

    assert confirmed.owners[N1] == (B,)


def test_a_failed_read_stops_the_plan() -> None:
    live = listing(persona(A, N1), persona(B, N1))

    def fails(persona_id: str) -> LivePersona:
        raise ApiError("server error", status=500, method="GET", path=f"/v1/personas/{persona_id}")

    with pytest.raises(ApiError, match="server error"):
        confirm_owners(live, fails)


BOT, TWIN = "ag-bot", "p-twin-bot"


class Agents:
    """An account with one agent, Bot: its binding as GET /v2/agents/{id}/inbound answers it,
    and whether a read by id still finds it; the persona listing is `live`."""

    base_url = "http://fake"

    def __init__(self, live: Live, *, listed: bool, twin: str | None, exists: bool) -> None:
        self.live, self.listed, self.twin, self.exists = live, listed, twin, exists
        self.agents_read: list[str] = []

    def read_live(self, pages_hint: int = 0) -> Live:
        return self.live

    def get_persona(self, persona_id: str) -> LivePersona:
        return self.live.personas[persona_id]

    def list_personas(self, pages_hint: int = 0) -> tuple[dict[str, LivePersona], int]:
        return dict(self.live.personas), self.live.pages_read

    def list_account_numbers(self) -> frozenset[str]:
        return self.live.account_numbers

    def list_agents(self) -> tuple[list[LiveAgent], bool]:
        return [LiveAgent(BOT, "Bot")] if self.listed else [], False

    def get_agent(self, agent_id: str) -> LiveAgent | None:
        self.agents_read.append(agent_id)
        return LiveAgent(agent_id, "Bot") if self.exists else None

    def agent_twin(self, agent_id: str) -> str | None:
        return self.twin

    def inbound_number(self, number: str) -> InboundRoute:
        return InboundRoute(number, None, None)  # persona_id not shown


def tagged(pid: str, *numbers: str) -> LivePersona:
    return LivePersona(pid, pid.upper(), frozenset(numbers), twin_of=BOT)


@pytest.mark.parametrize(("listed", "holder"), [(True, B), (False, f"agent:{BOT}")])
def test_a_persona_tagged_for_an_agent_is_its_twin_only_where_no_binding_was_read(
    listed: bool, holder: str
) -> None:
    # Bot's binding names TWIN; B carries Bot's tag too (a stale twin, or an edit).
    reader = Agents(listing(tagged(TWIN, N1), tagged(B, N2)), listed=listed, twin=TWIN, exists=True)
    live = read_account(reader)
    assert live.owners[N2] == (holder,)


GONE = {
    "still there": (True, (N3,), [BOT], frozenset()),
    "deleted since listed": (False, (N3,), [BOT], frozenset({BOT})),
    "no number looks free": (False, (N1,), [], frozenset()),
}


@pytest.mark.parametrize(("exists", "declared", "read", "unverifiable"), GONE.values(), ids=GONE)
def test_an_agent_with_no_twin_is_read_again_when_a_declared_number_looks_free(
    exists: bool, declared: tuple[str, ...], read: list[str], unverifiable: frozenset[str]
) -> None:
    # GET /v2/agents/{id}/inbound answers null for a deleted agent as for one with no numbers.
    reader = Agents(listing(persona(A, N1)), listed=True, twin=None, exists=exists)
    wanted = Desired((DesiredPersona(A, None, declared, SourceMark("c.yaml", 1, 1)),))
    live = read_account(reader, wanted)
    assert reader.agents_read == read
    assert live.unverifiable == unverifiable


class TwoAgents(Agents):
    """Bot and Other, whose bindings both name Bot's twin."""

    def list_agents(self) -> tuple[list[LiveAgent], bool]:
        return [LiveAgent(BOT, "Bot"), LiveAgent("ag-other", "Other")], False


def test_two_agents_naming_one_twin_stop_the_plan() -> None:
    # Whose numbers the twin holds cannot be told: nothing is planned on a guess.
    reader = TwoAgents(listing(tagged(TWIN, N1)), listed=True, twin=TWIN, exists=True)
    both = f"agents '{BOT}' and 'ag-other' both name '{TWIN}' as their hidden persona"
    with pytest.raises(ApiError, match=f"GET /v2/agents/ag-other/inbound: {both}"):
        read_account(reader)


class Relisting(Agents):
    """No agents; the personas listed again, and read by id, as `again` holds them now."""

    def __init__(self, live: Live, again: dict[str, LivePersona]) -> None:
        super().__init__(live, listed=False, twin=None, exists=True)
        self.again, self.by_id = again, ById(*again.values())

    def get_persona(self, persona_id: str) -> LivePersona:
        return self.by_id(persona_id)

    def list_personas(self, pages_hint: int = 0) -> tuple[dict[str, LivePersona], int]:
        return dict(self.again), self.live.pages_read


def relisted(live: Live, again: dict[str, LivePersona], *declared: str) -> Live:
    """The account as read where `declared` numbers look free and their records name no owner."""
    entry = DesiredPersona(A, None, declared, SourceMark("c.yaml", 1, 1))
    return read_account(Relisting(live, again), Desired((entry,)))


def test_a_second_listing_gives_the_entries_that_show_a_number_that_looked_free() -> None:
    again = {A: persona(A, N1), B: persona(B, N2), C: persona(C, N3)}

    found = relisted(listing(persona(A, N1), persona(B)), again, N2)

    assert found.personas[B].numbers == {N2}
    assert C not in found.personas  # holds none of the numbers looked for
    assert found.owners == {N1: (A,), N2: (B,)}
    assert [(c.phone_number, c.seen_on, c.held_by) for c in found.confirmed] == [
        (N2, (), (ref(B),))
    ]


def test_a_second_listing_that_finds_nothing_changes_nothing() -> None:
    first = listing(persona(A, N1))
    found = relisted(first, {A: persona(A, N1)}, N2)
    assert (found.personas, found.confirmed) == (first.personas, ())


def test_a_fresher_entry_that_shows_a_number_listed_elsewhere_is_then_confirmed() -> None:
    # Listed again, B holds N2 and also N1, which the first listing showed on A.
    reader = Relisting(listing(persona(A, N1), persona(B)), {A: persona(A), B: persona(B, N1, N2)})
    entry = DesiredPersona(A, None, (N2,), SourceMark("c.yaml", 1, 1))

    confirmed = read_account(reader, Desired((entry,)))

    assert sorted(reader.by_id.reads) == [A, B]
    assert confirmed.owners == {N1: (B,), N2: (B,)}
    assert [c.phone_number for c in confirmed.confirmed] == [N2, N1]
