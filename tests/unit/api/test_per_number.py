"""Per-number settings and labels: how they are read from persona objects, and written."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from reconciler.api.urls import LABEL_PATH, path_segment, persona_path
from reconciler.api.wire import persona_from_answer
from reconciler.errors import ApiError, AuthError
from reconciler.model import UNREAD, LivePersona, routing_settings
from tests.unit.api.mock_api import make_client, persona_json

N100, N101 = "+14155550100", "+14155550101"


def parse_persona(item: dict[str, Any]) -> LivePersona:
    """A persona object as a read of that persona answers it."""
    return persona_from_answer({"data": item, "errors": None}, "GET", "/v1/personas/p1")


PW = {"pathway_id": "pw_1", "pathway_version": 2}


def test_persona_objects_carry_each_numbers_settings_and_label() -> None:
    persona = parse_persona(
        persona_json(
            1,
            [
                {"phone_number": N100, "label": "Front", "persona_settings": PW},
                {"phone_number": N101, "label": None, "persona_settings": None},
            ],
        )
    )
    assert persona.settings == {N100: routing_settings(PW), N101: None}
    assert persona.labels == {N100: "Front", N101: None}
    assert persona.settings_of(N100) == routing_settings(PW)
    assert persona.label_of(N101) is None


@pytest.mark.parametrize(
    "entry",
    [
        N100,  # a bare string: the worst reading of the undocumented listing
        {"phone_number": N100},  # an object without the fields
        {"phone_number": N100, "persona_settings": "pw_1", "label": 7},  # types not documented
        {"phone_number": N100, "persona_settings": [PW], "label": ["x"]},
    ],
    ids=repr,
)
def test_what_a_persona_object_does_not_show_is_unread_never_none(entry: Any) -> None:
    persona = parse_persona(persona_json(1, [entry]))
    assert persona.numbers == {N100}
    assert persona.settings_of(N100) is UNREAD
    assert persona.label_of(N100) is UNREAD


@pytest.mark.parametrize(
    ("value", "read"),
    [
        (None, None),
        ({}, None),  # sets nothing: the persona's defaults, as null
        ({"pathway_id": "pw_1", "start_node_id": None}, routing_settings({"pathway_id": "pw_1"})),
        ({"pathway_id": "pw_1", "pathway_version": 2.0}, routing_settings(PW)),
        ("pw_1", UNREAD),
        (UNREAD, UNREAD),
    ],
    ids=repr,
)
def test_a_numbers_persona_settings_as_a_persona_object_shows_them(value: Any, read: Any) -> None:
    shown = {} if value is UNREAD else {"persona_settings": value}
    persona = parse_persona(persona_json(1, [{"phone_number": N100, **shown}]))
    assert persona.settings_of(N100) == read


def test_the_settings_path_sends_the_plus_as_2b() -> None:
    number = path_segment(N100, "phone number")
    path = persona_path("p-1", "inbound", number, "settings")
    assert path == "/v1/personas/p-1/inbound/%2B14155550100/settings"
    assert LABEL_PATH == "/inbound/update_label"


def test_update_settings_patches_the_whole_object_and_null_clears() -> None:
    seen: list[tuple[str, str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append((request.method, request.url.raw_path.decode(), body))
        data = {"id": 42, "phone_number": N100, "persona_id": "p1", **body}
        return httpx.Response(200, json={"data": data, "errors": None})

    client, _ = make_client(handler)
    client.update_settings("p1", N100, routing_settings(PW))
    client.update_settings("p1", N100, None)
    assert seen == [
        ("PATCH", "/v1/personas/p1/inbound/%2B14155550100/settings", {"persona_settings": PW}),
        ("PATCH", "/v1/personas/p1/inbound/%2B14155550100/settings", {"persona_settings": None}),
    ]


def test_update_label_posts_to_the_path_without_v1() -> None:
    seen: list[tuple[str, str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append((request.method, request.url.path, body))
        data = {"message": "ok", "phone_number": N100, "label": body["newLabel"]}
        return httpx.Response(200, json={"data": data, "errors": None})

    client, _ = make_client(handler)
    client.update_label(N100, "Front desk", persona_id=None)
    client.update_label(N100, "", persona_id=None)
    assert seen == [
        ("POST", "/inbound/update_label", {"phoneNumber": N100, "newLabel": "Front desk"}),
        ("POST", "/inbound/update_label", {"phoneNumber": N100, "newLabel": ""}),
    ]


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (404, {"error": "Phone number not found"}, ApiError, None),
        (
            400,
            {"data": None, "errors": [{"error": "LABEL_TOO_LONG", "message": "too long"}]},
            ApiError,
            "LABEL_TOO_LONG",
        ),
        (
            400,
            {"data": None, "errors": [{"error": "INVALID_REQUEST", "message": "bad"}]},
            ApiError,
            "INVALID_REQUEST",
        ),
        (
            401,
            {"data": None, "errors": [{"error": "AUTH_FAILURE", "message": "no"}]},
            AuthError,
            None,
        ),
    ],
)
def test_the_documented_label_errors_are_reported_not_retried(
    status: int, body: Any, error: type[ApiError], code: str | None
) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return httpx.Response(status, json=body)

    client, _ = make_client(handler)
    with pytest.raises(error) as raised:
        client.update_label(N100, "Front desk", persona_id=None)
    assert raised.value.status == status
    if code is not None:
        assert raised.value.code == code
    if status == 404:
        assert raised.value.api_message == "Phone number not found"
    assert calls == ["POST"]


def test_a_lost_settings_answer_is_read_back_and_not_sent_again_when_it_took_effect() -> None:
    stored: dict[str, Any] = {}
    methods: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        methods.append(request.method)
        if request.method == "PATCH":
            stored.update(json.loads(request.content))
            raise httpx.ReadTimeout("answer lost", request=request)
        entry = {"phone_number": N100, "label": None, **stored}
        return httpx.Response(200, json={"data": persona_json(1, [entry]), "errors": None})

    client, _ = make_client(handler)
    client.update_settings("p00001", N100, routing_settings(PW))
    assert methods == ["PATCH", "GET"]


def test_a_lost_settings_answer_is_sent_again_when_the_read_back_cannot_tell() -> None:
    methods: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        methods.append(request.method)
        if request.method == "PATCH" and methods.count("PATCH") == 1:
            return httpx.Response(502, text="bad gateway")
        if request.method == "PATCH":
            data = {"persona_settings": json.loads(request.content)["persona_settings"]}
            return httpx.Response(200, json={"data": data, "errors": None})
        # The persona lists its numbers as bare strings: the settings cannot be read back.
        return httpx.Response(200, json={"data": persona_json(1, [N100]), "errors": None})

    client, _ = make_client(handler)
    client.update_settings("p00001", N100, None)
    assert methods == ["PATCH", "GET", "PATCH"]


def test_a_lost_label_answer_is_read_back_from_the_persona_given() -> None:
    methods: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        methods.append(request.method)
        if request.method == "POST":
            raise httpx.RemoteProtocolError("dropped", request=request)
        entry = {"phone_number": N100, "label": "Front desk", "persona_settings": None}
        return httpx.Response(200, json={"data": persona_json(1, [entry]), "errors": None})

    client, _ = make_client(handler)
    client.update_label(N100, "Front desk", persona_id="p00001")
    assert methods == ["POST", "GET"]
