"""The v2 agent endpoints of the simulator, the twin personas behind them, and their switches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.simulator.account import StateError, account_from_state, load_state
from tests.simulated import Simulator
from tests.unit.simulator.conftest import KEY, N1, N2, N3, N4, A, B, attach, error_code

AG, NEW, EMPTY, GONE_AGENT = "agent-1", "agent-2", "agent-no-versions", "agent-deleted"
TWIN = "twin-of-agent-1"
N5 = "+14155550105"


def agents_state() -> dict[str, Any]:
    """AG holds N3 through its twin; N5 answers with a pathway; NEW has never been attached."""
    return {
        "numbers": [N1, N2, N3, N4, {"phone_number": N5, "pathway_id": "pw-1", "prompt": "Hi"}],
        "personas": [
            {"id": A, "name": "Support", "numbers": [N1, N2]},
            {"id": B, "name": "Sales", "numbers": [N4]},
            {"id": TWIN, "name": "Agent one", "numbers": [N3], "tags": [f"v2-agent:{AG}"]},
        ],
        "agents": [
            {"id": AG, "name": "Agent one", "versions": 2, "production_version_id": "v-2",
             "updated_at": "2025-03-01T00:00:00.000Z"},
            {"id": NEW, "name": "Agent two", "versions": True, "production_version_id": None,
             "updated_at": "2025-04-01T00:00:00.000Z"},
            {"id": EMPTY, "name": "Draft", "versions": 0,
             "updated_at": "2025-02-01T00:00:00.000Z"},
            {"id": GONE_AGENT, "name": "Old", "deleted_at": "2025-05-01T00:00:00.000Z"},
        ],
    }  # fmt: skip


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(agents_state(), api_key=KEY) as running:
        yield running


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        verify=False, base_url=sim.url, headers={"authorization": KEY}, timeout=5
    ) as c:
        yield c


def bind(client: httpx.Client, agent: str, action: str, body: Any) -> httpx.Response:
    return client.post(f"/v2/agents/{agent}/inbound/{action}", json=body)


def twin_of(client: httpx.Client, agent: str) -> Any:
    return client.get(f"/v2/agents/{agent}/inbound").json()["data"]["persona_id"]


def inbound(client: httpx.Client, number: str) -> Any:
    return client.get(f"/v1/inbound/{number.replace('+', '%2B')}").json()


def test_the_list_holds_live_agents_newest_first_without_environments(
    client: httpx.Client,
) -> None:
    response = client.get("/v2/agents")
    assert response.status_code == 200 and response.json()["errors"] is None
    listed = response.json()["data"]
    assert [agent["id"] for agent in listed] == [NEW, AG, EMPTY]
    assert set(listed[0]) == {"id", "org_id", "name", "created_by", "created_at", "updated_at"}


@pytest.mark.parametrize(("limit", "count"), [("1", 1), ("0", 1), ("-5", 1), ("2", 2), ("9", 3)])
def test_limit_is_clamped(client: httpx.Client, limit: str, count: int) -> None:
    assert len(client.get("/v2/agents", params={"limit": limit}).json()["data"]) == count


@pytest.mark.parametrize(("limit", "count"), [(None, 100), ("500", 500), ("501", 500)])
def test_the_list_holds_100_by_default_and_500_at_most(limit: str | None, count: int) -> None:
    many = {"agents": [{"id": f"a-{i:03d}", "name": str(i)} for i in range(501)]}
    with Simulator(many, api_key=KEY) as sim:
        params = {"limit": limit} if limit else {}
        response = httpx.get(
            f"{sim.url}/v2/agents", params=params, headers={"authorization": KEY}, verify=False
        )
    assert len(response.json()["data"]) == count


def test_a_limit_that_is_no_number_is_refused(client: httpx.Client) -> None:
    response = client.get("/v2/agents", params={"limit": "ten"})
    assert (response.status_code, error_code(response)) == (400, "BAD_REQUEST")


def test_an_agent_carries_its_environments(client: httpx.Client) -> None:
    agent = client.get(f"/v2/agents/{AG}").json()["data"]
    pins = {env: agent[env]["current_version_id"] for env in ("dev", "staging", "production")}
    assert pins == {"dev": None, "staging": None, "production": "v-2"}
    assert agent["production"]["env_type"] == "production" and agent["name"] == "Agent one"


@pytest.mark.parametrize("agent", ["nope", GONE_AGENT])
def test_an_unknown_or_deleted_agent_is_not_found(client: httpx.Client, agent: str) -> None:
    response = client.get(f"/v2/agents/{agent}")
    assert (response.status_code, error_code(response)) == (404, "NOT_FOUND")
    for action in ("attach", "detach"):
        response = bind(client, agent, action, {"inbound_numbers": [N1]})
        assert (response.status_code, error_code(response)) == (404, "NOT_FOUND")


def test_the_binding_names_the_twin_and_null_for_an_unknown_agent(client: httpx.Client) -> None:
    assert twin_of(client, AG) == TWIN
    assert twin_of(client, NEW) is None
    response = client.get("/v2/agents/nope/inbound")
    assert response.status_code == 200
    assert response.json() == {"data": {"agent_id": "nope", "persona_id": None}, "errors": None}


def test_a_first_attach_makes_the_twin_and_takes_numbers_from_any_owner(
    sim: Simulator, client: httpx.Client
) -> None:
    response = bind(client, NEW, "attach", {"inbound_numbers": [N1, f" {N3} "]})
    assert response.status_code == 200
    twin = twin_of(client, NEW)
    assert response.json()["data"] == {"agent_id": NEW, "persona_id": twin, "attached_count": 2}
    assert sim.owners()[N1] == [twin] and sim.owners()[N3] == [twin]
    assert sim.persona_numbers(A) == [N2] and sim.persona_numbers(TWIN) == []
    twin_state = next(p for p in sim.export_state()["personas"] if p["id"] == twin)
    assert twin_state["tags"] == [f"v2-agent:{NEW}"] and twin_state["name"] == "Agent two"
    # The last attach wins, whichever kind of owner makes it.
    assert attach(client, B, N1).status_code == 200
    assert sim.owners()[N1] == [B]
    assert bind(client, NEW, "attach", {"inbound_numbers": [N1]}).status_code == 200
    assert sim.owners()[N1] == [twin] and twin_of(client, NEW) == twin  # the same twin


@pytest.mark.parametrize(
    "body",
    [None, {}, {"inbound_numbers": []}, {"inbound_numbers": N1}, {"inbound_numbers": [N1, 5]},
     {"inbound_numbers": [" "]}],
)  # fmt: skip
@pytest.mark.parametrize("action", ["attach", "detach"])
def test_a_bad_body_is_refused(
    sim: Simulator, client: httpx.Client, action: str, body: Any
) -> None:
    before = sim.owners()
    response = bind(client, AG, action, body)
    assert (response.status_code, error_code(response)) == (400, "INVALID_BODY")
    assert sim.owners() == before


def test_a_number_not_on_the_account_refuses_the_whole_attach(
    sim: Simulator, client: httpx.Client
) -> None:
    before = sim.owners()
    response = bind(client, AG, "attach", {"inbound_numbers": [N1, "+19995550000"]})
    assert (response.status_code, error_code(response)) == (400, "INVALID_INBOUND_NUMBERS")
    assert response.json()["errors"][0]["details"] == {"invalid_numbers": ["+19995550000"]}
    assert sim.owners() == before


def test_an_agent_without_a_saved_version_refuses_an_attach(
    sim: Simulator, client: httpx.Client
) -> None:
    response = bind(client, EMPTY, "attach", {"inbound_numbers": [N1]})
    assert (response.status_code, error_code(response)) == (404, "NO_VERSIONS")
    assert sim.owners()[N1] == [A] and twin_of(client, EMPTY) is None


def test_detach_counts_only_the_agents_own_numbers(sim: Simulator, client: httpx.Client) -> None:
    response = bind(client, AG, "detach", {"inbound_numbers": [N1, N3, "+19995550000"]})
    assert response.status_code == 200
    assert response.json() == {"data": {"agent_id": AG, "detached_count": 1}, "errors": None}
    assert sim.owners()[N3] == [] and sim.owners()[N1] == [A]
    assert twin_of(client, AG) == TWIN  # the twin stays after its last number left
    again = bind(client, NEW, "detach", {"inbound_numbers": [N1]})  # never attached: no twin
    assert again.json()["data"]["detached_count"] == 0


def test_agent_writes_are_logged_as_writes(sim: Simulator, client: httpx.Client) -> None:
    bind(client, AG, "detach", {"inbound_numbers": [N3]})
    client.get("/v2/agents")
    assert [(r.method, r.path, r.kind) for r in sim.requests] == [
        ("POST", f"/v2/agents/{AG}/inbound/detach", "write"),
        ("GET", "/v2/agents", "read"),
    ]


@pytest.mark.parametrize("owner", ["agent", "persona"])
def test_an_attach_replaces_the_pathway_and_the_prompt(client: httpx.Client, owner: str) -> None:
    assert (inbound(client, N5)["pathway_id"], inbound(client, N5)["prompt"]) == ("pw-1", "Hi")
    if owner == "agent":
        assert bind(client, AG, "attach", {"inbound_numbers": [N5]}).status_code == 200
    else:
        assert attach(client, A, N5).status_code == 200
    assert (inbound(client, N5)["pathway_id"], inbound(client, N5)["prompt"]) == (None, None)


@pytest.mark.parametrize("path", ["%2B14155550105", "+14155550105", "14155550105", "4155550105"])
def test_one_inbound_number_is_read_in_every_documented_form(
    client: httpx.Client, path: str
) -> None:
    number = client.get(f"/v1/inbound/{path}").json()
    assert number["phone_number"] == N5 and number["pathway_id"] == "pw-1"
    assert "persona_id" not in number


def test_an_inbound_number_not_on_the_account_is_not_found(client: httpx.Client) -> None:
    response = client.get("/v1/inbound/%2B19995550000")
    assert (response.status_code, response.json()) == (404, {"error": "Phone number not found"})


def test_twins_are_hidden_from_the_v1_personas_unless_switched_on(
    sim: Simulator, client: httpx.Client
) -> None:
    def listed() -> list[str]:
        return [p["id"] for p in client.get("/v1/personas").json()["data"]]

    assert listed() == [A, B]
    for response in (
        client.get(f"/v1/personas/{TWIN}"),
        client.post(f"/v1/personas/{TWIN}/inbound/detach", json={"inbound_numbers": [N3]}),
    ):
        assert (response.status_code, error_code(response)) == (404, "PERSONA_NOT_FOUND")
    sim.faults.update({"twins_listed": True})
    assert listed() == [A, B, TWIN]
    assert client.get(f"/v1/personas/{TWIN}").status_code == 404
    sim.faults.update({"twins_listed": False, "twins_readable": True})
    assert listed() == [A, B]
    twin = client.get(f"/v1/personas/{TWIN}").json()["data"]
    assert twin["tags"] == [f"v2-agent:{AG}"]
    assert [n["phone_number"] for n in twin["inbound_numbers"]] == [N3]


def test_get_inbound_names_the_twin_as_owner_when_it_names_owners(
    sim: Simulator, client: httpx.Client
) -> None:
    assert "persona_id" not in client.get("/v1/inbound").json()["inbound_numbers"][2]
    sim.faults.update({"legacy_inbound_includes_persona": True})
    listed = {n["phone_number"]: n["persona_id"] for n in client.get("/v1/inbound").json()[
        "inbound_numbers"]}  # fmt: skip
    assert listed == {N1: A, N2: A, N3: TWIN, N4: B, N5: None}
    assert inbound(client, N3)["persona_id"] == TWIN


def test_get_inbound_shows_pathway_and_prompt_only_when_switched_on(
    sim: Simulator, client: httpx.Client
) -> None:
    def fifth() -> dict[str, Any]:
        number: dict[str, Any] = client.get("/v1/inbound").json()["inbound_numbers"][4]
        return number

    assert fifth()["prompt"] is None and "pathway_id" not in fifth()
    sim.faults.update({"inbound_shows_routing": True})
    assert (fifth()["prompt"], fifth()["pathway_id"]) == ("Hi", "pw-1")
    assert client.get("/v1/inbound").json()["inbound_numbers"][0]["pathway_id"] is None


def test_the_state_round_trips_with_agents_twins_and_routing(sim: Simulator) -> None:
    state = sim.export_state()
    again = account_from_state(state)
    assert again.agents[AG].twin_id == TWIN and again.personas[TWIN].agent_id == AG
    assert again.numbers[N5].pathway_id == "pw-1" and again.agents[NEW].versions == 1
    assert again.agents[GONE_AGENT].deleted_at == "2025-05-01T00:00:00.000Z"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"agents": {}}, '"agents" must be a list'),
        ({"agents": [{"name": "x"}]}, "agents[0]: expected an object with a non-empty string 'id'"),
        ({"agents": [{"id": AG, "versions": "two"}]}, "agents[0]: invalid literal for int()"),
        ({"numbers": [{"phone_number": 14155550101}]}, "numbers[0]: expected an object with a"),
        ({"personas": [["p", "P"]]}, "personas[0]: expected an object with a non-empty string"),
        ({"personas": [{"id": A, "numbers": [N1]}, {"id": A}]}, "personas[1]: duplicate persona"),
        ({"personas": [{"id": A, "numbers": [1]}]}, "personas[0]: numbers must be a list of"),
        ({"accounts": []}, "expected a JSON object of numbers, agents, personas"),
    ],
)
def test_a_state_that_makes_no_account_is_one_line_naming_the_entry(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({**agents_state(), **change}))
    with pytest.raises(StateError) as raised:
        load_state(path)
    assert message in str(raised.value) and str(path) in str(raised.value)
    assert len(str(raised.value).splitlines()) == 1


def test_a_tag_naming_no_agent_is_a_plain_tag() -> None:
    state = agents_state()
    state["personas"].append({"id": "t2", "name": "t", "tags": ["v2-agent:nobody"]})
    account = account_from_state(state)
    assert account.personas["t2"].agent_id is None
    assert account.personas["t2"].tags == ["v2-agent:nobody"]
