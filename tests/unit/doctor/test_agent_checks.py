"""The agent checks as functions of what the agent probes read."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reconciler.api import BlandClient
from reconciler.doctor import WireLog, run_doctor
from reconciler.doctor.agent_checks import AgentReads, agent_twins, agents_listing, inbound_number
from reconciler.errors import ApiError, AuthError
from reconciler.model import AgentListing, LiveAgent, LivePersona

NOT_FOUND = ApiError("Not found", status=404, method="GET", path="/v2/agents")
DOWN = ApiError("Bad gateway", status=502, method="GET", path="/v2/agents")


def agents(count: int, full: bool = False) -> AgentListing:
    return AgentListing([LiveAgent(f"ag{index}", "") for index in range(count)], full)


@pytest.mark.parametrize(
    ("listing", "status", "detail"),
    [
        (agents(2), "ok", "2 agents, the whole list (under 500)"),
        (agents(0), "ok", "0 agents, the whole list (under 500)"),
        (
            agents(500, full=True),
            "warn",
            "500 agents: the list came back full (500, the most the API lists, with no paging), "
            "so agents past it cannot be seen and an agent named without its id cannot be "
            "found safely (give agents by id)",
        ),
        (
            NOT_FOUND,
            "warn",
            "GET /v2/agents: HTTP 404: Not found: this API shows no v2 agents, so a config "
            "listing `agents:` cannot be planned",
        ),
        (DOWN, "fail", "reading stopped: GET /v2/agents: HTTP 502: Bad gateway"),
    ],
    ids=["whole", "none", "full", "no agent API", "unreadable"],
)
def test_agents_listing(listing: AgentListing | ApiError, status: str, detail: str) -> None:
    check = agents_listing(listing)
    assert (check.status, check.detail) == (status, detail)


TWIN_GONE = ApiError("no", status=404, code="PERSONA_NOT_FOUND", path="/v1/personas/t2")
TWIN_DOWN = ApiError("HTTP 500", status=500, method="GET", path="/v1/personas/t2")
TWIN_REFUSED = AuthError("no", status=403, code="FORBIDDEN", method="GET", path="/v1/personas/t2")
LISTED = {"t1": LivePersona("t1", "", frozenset({"+1"}))}
READ = LivePersona("t2", "", frozenset({"+2"}))


@pytest.mark.parametrize(
    ("reads", "inbound", "status", "detail"),
    [
        (AgentReads(NOT_FOUND), {}, "warn", "not checked: GET /v2/agents was not read"),
        (AgentReads(DOWN), {}, "fail", "not checked: GET /v2/agents was not read"),
        (
            AgentReads(agents(2), DOWN),
            {},
            "fail",
            "reading stopped: GET /v2/agents: HTTP 502: Bad gateway",
        ),
        (
            AgentReads(agents(2), {"ag0": None, "ag1": None}),
            {},
            "ok",
            "no twin persona among the 2 agents asked (none holds numbers yet): how twins read "
            "could not be seen",
        ),
        (
            AgentReads(agents(3), {"ag0": "t1", "ag1": "t2", "ag2": None}, {"t2": READ}),
            {},
            "ok",
            "of 2 twin personas (3 agents asked): 1 in GET /v1/personas, 1 read by id "
            "(GET /v1/personas/{id}), 0 neither",
        ),
        (
            AgentReads(agents(2), {"ag0": "t1", "ag1": "t2"}, {"t2": None}),
            {"+1": None, "+2": "t2"},
            "ok",
            "of 2 twin personas (2 agents asked): 1 in GET /v1/personas, 0 read by id "
            "(GET /v1/personas/{id}), 1 neither; GET /v1/inbound names owners, so those agents' "
            "numbers are read from it",
        ),
        (
            AgentReads(agents(1), {"ag1": "t2"}, {"t2": None}),
            {"+1": None, "+2": None},
            "warn",
            "plan and apply will refuse to plan numbers for agents whose twin persona is "
            "neither listed nor readable by id: GET /v1/inbound names no owners (persona_id) "
            "either, so no read shows which numbers those agents hold; of 1 twin persona "
            "(1 agent asked): 0 in GET /v1/personas, 0 read by id (GET /v1/personas/{id}), "
            "1 neither",
        ),
        (
            AgentReads(agents(1), {"ag1": "t2"}, {"t2": TWIN_DOWN}),
            {},
            "fail",
            "a twin persona could not be read: GET /v1/personas/t2: HTTP 500",
        ),
        (
            AgentReads(agents(1), {"ag1": "t2"}, {"t2": TWIN_REFUSED}),
            {},
            "fail",
            "a twin persona could not be read: GET /v1/personas/t2: HTTP 403 FORBIDDEN",
        ),
    ],
    ids=[
        "no agent API",
        "listing unreadable",
        "twins unreadable",
        "no twins yet",
        "listed and read by id",
        "hidden, owners named",
        "hidden, no owners named",
        "a twin read fails",
        "a twin read is refused",
    ],
)
def test_agent_twins(
    reads: AgentReads, inbound: dict[str, str | None], status: str, detail: str
) -> None:
    check = agent_twins(reads, LISTED, inbound)
    assert (check.status, check.detail.startswith(detail)) == (status, True), check.detail


def routed(record: dict[str, Any] | ApiError | None, agent: str = "") -> AgentReads:
    return AgentReads(agents(1), {"ag0": "t1"}, number="+1", agent=agent, route=record)


@pytest.mark.parametrize(
    ("reads", "status", "detail"),
    [
        (AgentReads(agents(0)), "ok", "not checked: no number was seen to read"),
        (
            routed(ApiError("gone", status=404, method="GET", path="/v1/inbound/%2B1")),
            "fail",
            "reading stopped: GET /v1/inbound/%2B1: HTTP 404: gone",
        ),
        (
            routed(
                {"phone_number": "+1", "pathway_id": None, "prompt": None, "persona_id": "t1"},
                "ag0",
            ),
            "ok",
            "GET /v1/inbound/+1 (a number of agent ag0) shows pathway_id, prompt, persona_id",
        ),
        (
            routed({"phone_number": "+1", "prompt": None}),
            "warn",
            "no pathway_id shown: a number a pathway or a prompt answers may look free to plan, "
            "and attaching it would replace that unseen; GET /v1/inbound/+1 (a number) shows "
            "prompt (no persona_id: owners are read from personas and twins)",
        ),
        (
            routed({"phone_number": "+1"}),
            "warn",
            "no pathway_id or prompt shown: a number a pathway or a prompt answers may look free "
            "to plan, and attaching it would replace that unseen; GET /v1/inbound/+1 (a number) "
            "shows none of pathway_id, prompt, persona_id (no persona_id: owners are read from "
            "personas and twins)",
        ),
    ],
    ids=["no number", "unreadable", "everything shown", "no pathway", "nothing shown"],
)
def test_inbound_number(reads: AgentReads, status: str, detail: str) -> None:
    check = inbound_number(reads)
    assert (check.status, check.detail) == (status, detail)


def _run(routes: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """run_doctor over an API answering each path in `routes` (personas: none, no error codes)."""

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode().split("?")[0]
        if path in routes:
            return httpx.Response(200, json=routes[path])
        if path == "/v1/personas":
            return httpx.Response(200, json={"data": [], "errors": None})
        return httpx.Response(404, json={"data": None, "errors": [{"error": "NOT_FOUND"}]})

    wire = WireLog()
    with BlandClient(
        "https://api.example.test",
        "sk-unit-key",
        transport=httpx.MockTransport(handler),
        event_hooks=wire.event_hooks,
        sleep=lambda _seconds: None,
    ) as client:
        report = run_doctor(client, wire, "BLAND_API_KEY")
    return {check.name: (check.status, check.detail) for check in report.checks}


def test_an_id_no_request_path_can_carry_fails_its_check_instead_of_stopping_doctor() -> None:
    checks = _run(
        {
            "/v1/inbound": {"inbound_numbers": [{"phone_number": "+1/2"}]},
            "/v2/agents": {"data": [{"id": "a/b", "name": "odd"}], "errors": None},
        }
    )
    assert checks["agents_listing"] == ("ok", "1 agent, the whole list (under 500)")
    assert checks["agent_twins"] == (
        "fail",
        'reading stopped: agent id "a/b" cannot be sent in a request path: it holds "/"',
    )
    assert checks["inbound_number"] == (
        "fail",
        'reading stopped: phone number "+1/2" cannot be sent in a request path: it holds "/"',
    )


def test_the_number_read_is_an_agents_where_get_inbound_names_its_twin() -> None:
    checks = _run(
        {
            "/v1/inbound": {
                "inbound_numbers": [
                    {"phone_number": "+1", "persona_id": None},
                    {"phone_number": "+2", "persona_id": "twin-1"},
                ]
            },
            "/v2/agents": {"data": [{"id": "ag-1", "name": "Bot"}], "errors": None},
            "/v2/agents/ag-1/inbound": {"data": {"agent_id": "ag-1", "persona_id": "twin-1"}},
            "/v1/inbound/%2B2": {"phone_number": "+2", "pathway_id": None, "persona_id": "twin-1"},
        }
    )
    assert checks["agent_twins"][0] == "ok"
    assert checks["agent_twins"][1].endswith(
        "1 neither; GET /v1/inbound names owners, so those agents' numbers are read from it"
    )
    assert checks["inbound_number"] == (
        "warn",
        "no prompt shown: a number a pathway or a prompt answers may look free to plan, and "
        "attaching it would replace that unseen; GET /v1/inbound/+2 (a number of agent ag-1) "
        "shows pathway_id, persona_id",
    )
    assert checks["consistency"][0] == "ok"  # the twin is an agent's, not a persona unseen
