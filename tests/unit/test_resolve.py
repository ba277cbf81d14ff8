"""Matching config entries to live owners: the problems resolve reports at an entry's line."""

from __future__ import annotations

import pytest

from reconciler.errors import ConfigError
from reconciler.model import Desired, DesiredPersona, Live, LivePersona, SourceMark
from reconciler.resolve import resolve

SUPPORT, SALES, UNSEEN = "p-support", "p-sales", "p-twin-unlisted"
N1, N2 = "+14155550101", "+14155550102"
MARK = SourceMark("routing.yaml", 3, 5)

NAMED_BY_GET_V1_INBOUND = {
    "an owner no read shows, the listing another": ((N1, N2), UNSEEN, True),
    "a listed persona whose entry lacks it": ((N1, N2), SALES, False),
    "an owner no read shows, the listing none": ((N2,), UNSEEN, False),
}


@pytest.mark.parametrize(
    ("on_support", "hinted", "refused"),
    NAMED_BY_GET_V1_INBOUND.values(),
    ids=NAMED_BY_GET_V1_INBOUND,
)
def test_a_declared_number_also_named_on_an_owner_no_read_shows_is_refused(
    on_support: tuple[str, ...], hinted: str, refused: bool
) -> None:
    # A non-exclusive attach can leave N1 on Support and on a hidden twin GET /v1/inbound names.
    personas = {
        SUPPORT: LivePersona(SUPPORT, "Support", frozenset(on_support)),
        SALES: LivePersona(SALES, "Sales", frozenset()),
    }
    live = Live(personas, frozenset({N1, N2}), inbound_owners={N1: hinted})
    desired = Desired((DesiredPersona(SUPPORT, None, (N1, N2), MARK),))
    if not refused:
        assert [persona.id for _, persona in resolve(desired, live)] == [SUPPORT]
        return
    with pytest.raises(ConfigError) as raised:
        resolve(desired, live)
    assert str(raised.value) == (
        f"routing.yaml:3:5: {N1} is on 'Support', but GET /v1/inbound names {UNSEEN}, which no "
        "read shows: it may be on both, and nothing is planned for it rather than guessed "
        "(check it in the dashboard)"
    )


@pytest.mark.parametrize(("by_id", "by_name"), [(SALES, None), (None, "Sales"), (SALES, "Sales")])
def test_a_persona_tagged_as_an_agents_twin_is_never_managed_as_a_persona(
    by_id: str | None, by_name: str | None
) -> None:
    # Tagged v2-agent:ag_1 though ag_1's binding names another persona: it may still be a twin.
    tagged = LivePersona(SALES, "Sales", frozenset({N1}), twin_of="ag_1")
    live = Live({SALES: tagged}, frozenset({N1}))
    desired = Desired((DesiredPersona(by_id, by_name, (N1,), MARK),))
    with pytest.raises(ConfigError) as raised:
        resolve(desired, live)
    assert str(raised.value) == (
        f"routing.yaml:3:5: persona 'Sales' ({SALES}) is tagged v2-agent:ag_1, as an agent's "
        "hidden persona is: only the agent API may change it (list the agent under `agents:`, "
        "or take the tag off the persona)"
    )


def test_a_persona_entry_naming_the_twin_of_an_agent_the_list_does_not_show_is_refused() -> None:
    # The twin is tagged for ag_9, which GET /v2/agents did not list: its numbers are ag_9's.
    holder = LivePersona("agent:ag_9", "", frozenset({N1}))
    live = Live({holder.id: holder}, frozenset({N1}), twins={UNSEEN: ("Twin", "ag_9")})
    desired = Desired((DesiredPersona(UNSEEN, None, (N1,), MARK),))
    with pytest.raises(ConfigError) as raised:
        resolve(desired, live)
    assert str(raised.value) == (
        f"routing.yaml:3:5: persona '{UNSEEN}' is the hidden persona of agent '' (ag_9), which "
        "only the agent API may change: list the agent under `agents:` instead"
    )
