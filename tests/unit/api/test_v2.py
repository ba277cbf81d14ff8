"""The v2 agent endpoints against httpx.MockTransport: every shape and error of their answers."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from reconciler.api import BlandClient
from reconciler.api.wire import AGENT_LIST_LIMIT
from reconciler.errors import ApiError, InputError
from reconciler.model import UNREAD, InboundRoute, LiveAgent, Unread
from reconciler.text import shown
from tests.unit.api.mock_api import make_client

N100, N101 = "+14155550100", "+14155550101"


def answering(body: Any, status: int = 200) -> tuple[BlandClient, list[httpx.Request]]:
    """A client whose every request gets `body`, and the requests it sent."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(status, json=body)

    client, _ = make_client(handler)
    return client, sent


def agent_json(index: int, **fields: Any) -> dict[str, Any]:
    return {"id": f"a{index:03d}", "name": f"Agent {index}", "created_by": None, **fields}


# -- ids in paths -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent_id", "why"),
    [
        ("", "it is empty"),
        (".", 'it is "."'),
        ("..", 'it is ".."'),
        ("a/b", 'it holds "/"'),
        ("a\\b", 'it holds "\\"'),
        ("a?b", 'it holds "?"'),
        ("a#b", 'it holds "#"'),
        ("a%2Fb", 'it holds "%"'),
        ("a\nb", 'it holds "\\u000a"'),
        ("a\x7fb", 'it holds "\\u007f"'),
        ("a\x85b", 'it holds "\\u0085"'),
    ],
)
@pytest.mark.parametrize(
    "call",
    [
        lambda client, agent_id: client.get_agent(agent_id),
        lambda client, agent_id: client.agent_twin(agent_id),
        lambda client, agent_id: client.attach_to_agent(agent_id, [N100]),
        lambda client, agent_id: client.detach_from_agent(agent_id, [N100]),
    ],
    ids=["get", "twin", "attach", "detach"],
)
def test_an_id_unsafe_in_a_path_is_refused_before_anything_is_sent(
    agent_id: str, why: str, call: Any
) -> None:
    client, sent = answering({"data": None, "errors": None})
    with pytest.raises(InputError) as refused:
        call(client, agent_id)
    assert str(refused.value).endswith(f"cannot be sent in a request path: {why}")
    assert str(refused.value).startswith(f'agent id "{shown(agent_id)}" ')
    assert sent == []


@pytest.mark.parametrize(
    ("agent_id", "path"),
    [
        ("a-1", "/v2/agents/a-1/inbound"),
        ("a b+c", "/v2/agents/a%20b%2Bc/inbound"),
        ("...", "/v2/agents/.../inbound"),
        ("ä", "/v2/agents/%C3%A4/inbound"),
    ],
)
def test_an_id_is_quoted_whole_in_its_path(agent_id: str, path: str) -> None:
    client, sent = answering({"data": {"agent_id": agent_id, "persona_id": None}, "errors": None})
    client.agent_twin(agent_id)
    assert sent[0].url.raw_path.decode() == path


@pytest.mark.parametrize("number", ["", "..", "+1415/555", "+1415?x", "+1415\x00"])
def test_a_number_unsafe_in_a_path_is_refused_before_anything_is_sent(number: str) -> None:
    client, sent = answering({})
    with pytest.raises(InputError, match=r"^phone number .* cannot be sent in a request path"):
        client.inbound_number(number)
    assert sent == []


# -- GET /v2/agents -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "incomplete"), [(0, False), (1, False), (499, False), (500, True), (501, True)]
)
def test_a_full_list_of_500_agents_is_reported_as_maybe_incomplete(
    count: int, incomplete: bool
) -> None:
    client, sent = answering({"data": [agent_json(i) for i in range(count)], "errors": None})
    agents, full = client.list_agents()
    assert len(agents) == count
    assert full is incomplete
    assert (AGENT_LIST_LIMIT, len(sent)) == (500, 1)
    assert dict(sent[0].url.params) == {"limit": "500"}


@pytest.mark.parametrize(
    ("body", "agents"),
    [
        (
            {"data": [agent_json(1, color="#fff", twin_pathway_id=None)], "errors": None},
            [LiveAgent("a001", "Agent 1")],
        ),
        (
            [agent_json(1), agent_json(2)],
            [LiveAgent("a001", "Agent 1"), LiveAgent("a002", "Agent 2")],
        ),
        ({"data": [{"id": 7, "name": None}], "errors": None}, [LiveAgent("7", "")]),
        ({"data": [{"id": "a1"}]}, [LiveAgent("a1", "")]),
    ],
    ids=["envelope", "bare list", "number id, null name", "no errors key"],
)
def test_agents_are_read_from_each_list_shape(body: Any, agents: list[LiveAgent]) -> None:
    client, _ = answering(body)
    assert client.list_agents()[0] == agents


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ({"data": None, "errors": None}, "`data` is null, not a list of agents"),
        ({"data": {"id": "a1"}, "errors": None}, "`data` is an object, not a list of agents"),
        ("agents", "the body is a string, not a list of agents"),
        ({"data": ["a1"], "errors": None}, "data[0] is a string, not an object"),
        ({"data": [{"name": "x"}], "errors": None}, "data[0] has no `id`"),
        ({"data": [{"id": ""}], "errors": None}, "data[0]: `id` is empty"),
        ({"data": [{"id": True}], "errors": None}, "data[0]: `id` is a boolean, not an id"),
        ({"data": [{"id": None}], "errors": None}, "data[0]: `id` is null, not an id"),
        ({"data": [agent_json(1), agent_json(1)], "errors": None}, "agent a001 is listed twice"),
    ],
)
def test_a_malformed_list_is_refused_naming_the_endpoint(body: Any, what: str) -> None:
    client, _ = answering(body)
    with pytest.raises(ApiError) as refused:
        client.list_agents()
    assert str(refused.value) == (
        f"GET /v2/agents: malformed answer: {what}; refusing to act on it"
    )


@pytest.mark.parametrize(
    ("body", "status", "shown"),
    [
        (
            {"data": None, "errors": [{"error": "UNAUTHORIZED", "message": "no"}]},
            200,
            "GET /v2/agents: HTTP 200 UNAUTHORIZED: no",
        ),
        (
            {"data": None, "errors": "BAD_REQUEST: nope"},
            200,
            "GET /v2/agents: HTTP 200 BAD_REQUEST: nope",
        ),
        (
            {"data": None, "errors": [{"error": "BAD_REQUEST", "message": "limit"}]},
            400,
            "GET /v2/agents: HTTP 400 BAD_REQUEST: limit",
        ),
    ],
)
def test_errors_in_a_list_answer_are_errors_whatever_their_shape(
    body: Any, status: int, shown: str
) -> None:
    client, _ = answering(body, status)
    with pytest.raises(ApiError) as refused:
        client.list_agents()
    assert str(refused.value) == shown


# -- GET /v2/agents/{id} ------------------------------------------------------------------

PINNED = {"id": "env-p", "env_type": "production", "current_version_id": "v7"}
UNPINNED = {"id": "env-p", "env_type": "production", "current_version_id": None}
DEV = {"id": "env-d", "env_type": "dev", "current_version_id": None}


@pytest.mark.parametrize(
    ("fields", "version"),
    [
        ({"environments": {"dev": DEV, "production": PINNED}}, "v7"),
        ({"environments": [DEV, PINNED]}, "v7"),
        ({"dev": DEV, "production": PINNED}, "v7"),
        ({"environments": {"production": UNPINNED}}, None),
        ({"environments": [DEV, UNPINNED]}, None),
        ({"production": UNPINNED}, None),
        ({}, None),
        ({"environments": "production"}, None),
        ({"production": {"current_version_id": 7}}, None),
    ],
    ids=[
        "mapping",
        "list",
        "top level",
        "mapping unpinned",
        "list unpinned",
        "top level unpinned",
        "not shown",
        "odd environments",
        "odd version",
    ],
)
def test_an_agent_shows_its_production_pin_wherever_its_environments_are(
    fields: dict[str, Any], version: str | None
) -> None:
    client, sent = answering({"data": agent_json(1, **fields), "errors": None})
    assert client.get_agent("a001") == LiveAgent("a001", "Agent 1", version)
    assert sent[0].url.path == "/v2/agents/a001"


@pytest.mark.parametrize(
    "body",
    [
        {"data": None, "errors": [{"error": "NOT_FOUND", "message": "Agent not found"}]},
        {"data": None, "errors": "NOT_FOUND: Agent not found"},
        {"data": None, "errors": [{"error": "AGENT_NOT_FOUND", "message": "gone"}]},
    ],
)
def test_an_agent_the_api_says_does_not_exist_is_none(body: Any) -> None:
    client, sent = answering(body, 404)
    assert client.get_agent("a001") is None
    assert len(sent) == 1  # a 404 is an answer, not a failure to retry


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"error": "Not Found"}, 404),  # a 404 without the API's code: a proxy, a wrong URL
        ({"data": None, "errors": [{"error": "BAD_REQUEST", "message": "x"}]}, 400),
        ({"data": None, "errors": [{"error": "NOT_FOUND", "message": "x"}]}, 400),
    ],
)
def test_other_errors_of_a_get_are_raised_not_read_as_gone(body: Any, status: int) -> None:
    client, _ = answering(body, status)
    with pytest.raises(ApiError) as raised:
        client.get_agent("a001")
    assert raised.value.status == status
    assert raised.value.path == "/v2/agents/a001"


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (None, "`data` is null, not an object"),
        ([agent_json(1)], "`data` is an array, not an object"),
        ({"name": "Agent"}, "`data` has no `id`"),
    ],
)
def test_a_malformed_agent_is_refused_naming_its_path(data: Any, what: str) -> None:
    client, _ = answering({"data": data, "errors": None})
    with pytest.raises(ApiError) as refused:
        client.get_agent("a001")
    assert str(refused.value) == (
        f"GET /v2/agents/a001: malformed answer: {what}; refusing to act on it"
    )


# -- GET /v2/agents/{id}/inbound ----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "twin"),
    [
        ({"agent_id": "a001", "persona_id": "twin-1"}, "twin-1"),
        ({"agent_id": "a001", "persona_id": "twin-1", "pathway_id": "pw-twin"}, "twin-1"),
        ({"agent_id": "a001", "persona_id": None}, None),
        ({"agent_id": "a001", "persona_id": ""}, None),
        ({"persona_id": 42}, "42"),
    ],
)
def test_the_twin_persona_is_read_from_the_agents_inbound(data: Any, twin: str | None) -> None:
    client, sent = answering({"data": data, "errors": None})
    assert client.agent_twin("a001") == twin
    assert sent[0].url.path == "/v2/agents/a001/inbound"


@pytest.mark.parametrize(
    ("data", "what"),
    [
        ({"agent_id": "a001"}, "`data` has no `persona_id`"),
        (None, "`data` is null, not an object"),
        (
            {"agent_id": "a002", "persona_id": "t"},
            "`data.agent_id` is 'a002', not the agent asked for",
        ),
        ({"agent_id": None, "persona_id": "t"}, "`data.agent_id` is null, not the agent asked for"),
        ({"agent_id": "a001", "persona_id": True}, "`data`: `persona_id` is a boolean, not an id"),
        ({"agent_id": "a001", "persona_id": ["t"]}, "`data`: `persona_id` is an array, not an id"),
    ],
)
def test_a_malformed_twin_answer_is_refused(data: Any, what: str) -> None:
    client, _ = answering({"data": data, "errors": None})
    with pytest.raises(ApiError) as refused:
        client.agent_twin("a001")
    assert str(refused.value) == (
        f"GET /v2/agents/a001/inbound: malformed answer: {what}; refusing to act on it"
    )


# -- GET /v1/inbound/{number} -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "route"),
    [
        (
            {"phone_number": N100, "pathway_id": "pw-1", "prompt": None, "webhook": None},
            InboundRoute(N100, "pw-1", None),
        ),
        (
            {"phone_number": N100, "pathway_id": None, "prompt": "Hi", "persona_id": "p-1"},
            InboundRoute(N100, None, "Hi", "p-1"),
        ),
        (
            {"data": {"phone_number": N100, "pathway_id": "", "persona_id": None}, "errors": None},
            InboundRoute(N100, None, None, None),
        ),
        ({"prompt": "", "persona_id": 12}, InboundRoute(N100, None, None, "12")),
        ({"phone_number": f" {N100} "}, InboundRoute(N100, None, None, UNREAD)),
        ({"phone_number": "+1 415 5550100"}, InboundRoute(N100, None, None, UNREAD)),
        ({"phone_number": "14155550100"}, InboundRoute(N100, None, None, UNREAD)),
    ],
    ids=[
        "documented fields",
        "persona shown",
        "envelope, nulls",
        "no number shown",
        "trimmed",
        "spaced",
        "no plus",
    ],
)
def test_what_answers_a_number_is_read_and_an_unshown_persona_is_unread(
    body: Any, route: InboundRoute
) -> None:
    client, sent = answering(body)
    assert client.inbound_number(N100) == route
    assert sent[0].url.raw_path.decode() == "/v1/inbound/%2B14155550100"


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ([N100], "the number's record is an array, not an object"),
        ({"data": None, "errors": None}, "the number's record is null, not an object"),
        ({"phone_number": N101}, f"`phone_number` is '{N101}', not {N100}"),
        ({"phone_number": "+1 415 5550101"}, f"`phone_number` is '+1 415 5550101', not {N100}"),
        ({"phone_number": "call me"}, f"`phone_number` is 'call me', not {N100}"),
        ({"phone_number": 14155550100}, f"`phone_number` is a number (14155550100), not {N100}"),
        ({"pathway_id": 3}, f"{N100}: `pathway_id` is a number (3), not a string"),
        ({"prompt": {"text": "x"}}, f"{N100}: `prompt` is an object, not a string"),
        ({"persona_id": False}, f"{N100}: `persona_id` is a boolean, not an id"),
    ],
)
def test_a_malformed_number_record_is_refused(body: Any, what: str) -> None:
    client, _ = answering(body)
    with pytest.raises(ApiError) as refused:
        client.inbound_number(N100)
    assert str(refused.value) == (
        f"GET /v1/inbound/%2B14155550100: malformed answer: {what}; refusing to act on it"
    )


# -- attach and detach --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"data": None, "errors": None},
        {"data": {"agent_id": "a001", "attached": [N100, N101]}, "errors": None},
        {"data": "ok"},
        {},
        {"data": {}, "errors": []},
    ],
)
def test_an_attach_succeeds_on_any_2xx_body_without_errors(body: Any) -> None:
    client, sent = answering(body)
    assert client.attach_to_agent("a001", [N101, N100]) is None
    (request,) = sent
    assert (request.method, request.url.path) == ("POST", "/v2/agents/a001/inbound/attach")
    assert json.loads(request.content) == {"inbound_numbers": [N100, N101]}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"data": None, "errors": [{"error": "INVALID_INBOUND_NUMBERS", "message": "x"}]},
            400,
            "INVALID_INBOUND_NUMBERS",
        ),
        (
            {"data": None, "errors": [{"error": "INVALID_BODY", "message": "x"}]},
            400,
            "INVALID_BODY",
        ),
        ({"data": None, "errors": [{"error": "NO_VERSIONS", "message": "x"}]}, 200, "NO_VERSIONS"),
        ({"data": None, "errors": "NOT_FOUND: Agent not found"}, 404, "NOT_FOUND"),
    ],
)
@pytest.mark.parametrize("action", ["attach", "detach"])
def test_a_write_answered_with_errors_fails_once_with_the_apis_code(
    body: Any, status: int, code: str, action: str
) -> None:
    client, sent = answering(body, status)
    write = client.attach_to_agent if action == "attach" else client.detach_from_agent
    with pytest.raises(ApiError) as failed:
        write("a001", [N100])
    assert (failed.value.code, failed.value.path) == (code, f"/v2/agents/a001/inbound/{action}")
    assert len(sent) == 1


@pytest.mark.parametrize(
    "data",
    [
        {"agent_id": "a001", "detached_count": 2},
        {"agent_id": "a001", "detached_count": 0},
        {"detached_count": 1},
    ],
)
def test_a_detach_answered_with_how_many_the_agent_held_succeeds(data: Any) -> None:
    client, sent = answering({"data": data, "errors": None})
    client.detach_from_agent("a001", [N101, N100])
    assert json.loads(sent[0].content) == {"inbound_numbers": [N100, N101]}
    assert sent[0].url.path == "/v2/agents/a001/inbound/detach"


@pytest.mark.parametrize(
    ("data", "what"),
    [
        ({"agent_id": "a001"}, "`data.detached_count` is null"),
        ({"agent_id": "a001", "detached_count": -1}, "`data.detached_count` is a number (-1)"),
        ({"agent_id": "a001", "detached_count": "2"}, "`data.detached_count` is a string"),
        ({"agent_id": "a001", "detached_count": True}, "`data.detached_count` is a boolean"),
        ({"agent_id": "a001", "detached_count": 1.5}, "`data.detached_count` is a number (1.5)"),
        (
            {"agent_id": "a002", "detached_count": 1},
            "`data.agent_id` is 'a002', not the agent asked for",
        ),
        (None, "`data` is null, not an object"),
    ],
)
def test_a_malformed_detach_answer_is_refused(data: Any, what: str) -> None:
    client, _ = answering({"data": data, "errors": None})
    with pytest.raises(ApiError) as refused:
        client.detach_from_agent("a001", [N100])
    assert str(refused.value) == (
        f"POST /v2/agents/a001/inbound/detach: malformed answer: {what}; refusing to act on it"
    )


class LossyAgentApi:
    """An agent API whose write answers are lost once the write took effect (or not).

    `shows_owner`: whether GET /v1/inbound/{number} shows `persona_id`.
    """

    def __init__(self, *, took_effect: bool, shows_owner: bool) -> None:
        self.took_effect = took_effect
        self.shows_owner = shows_owner
        self.owners: dict[str, str | None] = {N100: "elsewhere", N101: None}
        self.writes: list[str] = []
        self.reads: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST":
            self.writes.append(path)
            action = path.rsplit("/", 1)[-1]
            numbers = json.loads(request.content)["inbound_numbers"]
            first = len(self.writes) == 1
            if not first or self.took_effect:
                for number in numbers:
                    self.owners[number] = "twin-1" if action == "attach" else None
            if first:
                raise httpx.ReadTimeout("answer lost", request=request)
            data = {"agent_id": "a001", "detached_count": len(numbers)}
            return httpx.Response(200, json={"data": data, "errors": None})
        self.reads.append(path)
        if path.endswith("/inbound"):
            return httpx.Response(200, json={"data": {"agent_id": "a001", "persona_id": "twin-1"}})
        number = path.rsplit("/", 1)[-1]
        record: dict[str, Any] = {"phone_number": number, "pathway_id": None}
        if self.shows_owner:
            record["persona_id"] = self.owners[number]
        return httpx.Response(200, json=record)


@pytest.mark.parametrize(
    ("took_effect", "shows_owner", "writes"),
    [
        (True, True, 1),  # read back: done, not sent again
        (False, True, 2),  # read back: not done, sent again
        (True, False, 2),  # the owner cannot be read: sent again, which is harmless
    ],
)
@pytest.mark.parametrize("action", ["attach", "detach"])
def test_a_write_whose_answer_was_lost_is_read_back_before_it_is_sent_again(
    took_effect: bool, shows_owner: bool, writes: int, action: str
) -> None:
    api = LossyAgentApi(took_effect=took_effect, shows_owner=shows_owner)
    if action == "detach":
        api.owners = {N100: "twin-1", N101: "twin-1"}
    client, _ = make_client(api)
    if action == "attach":
        client.attach_to_agent("a001", [N100, N101])
        assert api.owners == {N100: "twin-1", N101: "twin-1"}
    else:
        client.detach_from_agent("a001", [N100, N101])
        assert api.owners == {N100: None, N101: None}
    assert len(api.writes) == writes
    assert api.reads[:3] == [
        "/v2/agents/a001/inbound",
        "/v1/inbound/+14155550100",
        "/v1/inbound/+14155550101",
    ]


def test_a_write_refused_with_429_is_sent_again_without_reading_back() -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(f"{request.method} {request.url.path}")
        if len(sent) == 1:
            return httpx.Response(429, json={"data": None, "errors": "RATE_LIMITED: slow"})
        return httpx.Response(200, json={"data": None, "errors": None})

    client, slept = make_client(handler)
    client.attach_to_agent("a001", [N100])
    assert sent == ["POST /v2/agents/a001/inbound/attach"] * 2
    assert len(slept) == 1


Owner = str | Unread | None


@pytest.mark.parametrize(
    ("action", "twin", "owners", "done"),
    [
        ("attach", "t", ["t", "t"], True),
        ("attach", "t", ["t", "p"], False),
        ("attach", "t", ["t", None], False),
        ("attach", None, [None], False),
        ("attach", "t", ["t", UNREAD], False),
        ("detach", "t", ["p", None], True),
        ("detach", "t", ["t", None], False),
        ("detach", None, ["p"], True),
        ("detach", None, [None], True),  # no twin yet: the agent never held a number
        ("detach", "t", [None, UNREAD], False),
        ("detach", None, [UNREAD], False),
    ],
)
def test_a_write_took_effect_only_when_every_owner_is_seen(
    action: str, twin: str | None, owners: list[Owner], done: bool
) -> None:
    """A write whose answer was lost is read back: its agent's twin, then each number's owner
    (UNREAD: the record shows no persona_id); sent again unless that shows it done."""
    numbers = [f"+1415555{index:04d}" for index in range(len(owners))]
    writes: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST":
            writes.append(path)
            if len(writes) == 1:
                raise httpx.ReadTimeout("answer lost", request=request)
            data = {"agent_id": "a001", "detached_count": 0}
            return httpx.Response(200, json={"data": data, "errors": None})
        if path.endswith("/inbound"):
            return httpx.Response(200, json={"data": {"agent_id": "a001", "persona_id": twin}})
        number = path.rsplit("/", 1)[-1]
        record: dict[str, Any] = {"phone_number": number, "pathway_id": None, "prompt": None}
        owner = owners[numbers.index(number)]
        if owner is not UNREAD:
            record["persona_id"] = owner
        return httpx.Response(200, json=record)

    client, _ = make_client(handler)
    if action == "attach":
        client.attach_to_agent("a001", numbers)
    else:
        client.detach_from_agent("a001", numbers)
    assert len(writes) == (1 if done else 2)
