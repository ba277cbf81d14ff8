"""The simulated Bland endpoints, over real HTTP: listings, shapes and request validation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.simulated import Simulator
from tests.simulator_faults import with_test_faults
from tests.unit.simulator.conftest import (
    GONE,
    KEY,
    N1,
    N2,
    N3,
    N4,
    A,
    B,
    attach,
    base_state,
    detach,
    error_code,
    settings_path,
)


def test_list_personas_pages_without_metadata_and_includes_deleted(client: httpx.Client) -> None:
    page1 = client.get("/v1/personas", params={"page": 1, "limit": 2})
    assert page1.status_code == 200
    assert set(page1.json()) == {"data", "errors"}
    assert page1.json()["errors"] is None
    assert [p["id"] for p in page1.json()["data"]] == [A, B]
    page2 = client.get("/v1/personas", params={"page": 2, "limit": 2}).json()["data"]
    assert [p["id"] for p in page2] == [GONE]
    assert page2[0]["deleted_at"] == "2025-02-01T00:00:00.000Z"
    assert client.get("/v1/personas", params={"page": 3, "limit": 2}).json()["data"] == []
    assert len(client.get("/v1/personas").json()["data"]) == 3


def test_list_personas_default_limit_clamp_and_validation() -> None:
    state = {"personas": [{"id": f"p{i:03d}", "name": f"P{i}"} for i in range(130)]}
    with (
        Simulator(state, api_key=KEY) as sim,
        httpx.Client(verify=False, base_url=sim.url, headers={"authorization": KEY}) as client,
    ):
        assert len(client.get("/v1/personas").json()["data"]) == 20
        clamped = client.get("/v1/personas", params={"limit": 500}).json()["data"]
        assert [p["id"] for p in clamped] == [f"p{i:03d}" for i in range(100)]
        rest = client.get("/v1/personas", params={"limit": 500, "page": 2}).json()["data"]
        assert len(rest) == 30
        for bad in ({"page": "x"}, {"page": 0}, {"limit": 0}, {"limit": "-3"}, {"limit": ""}):
            response = client.get("/v1/personas", params=bad)
            assert response.status_code == 400, bad
            assert error_code(response) == "INVALID_REQUEST"


def test_get_persona_shape(client: httpx.Client) -> None:
    response = client.get(f"/v1/personas/{A}")
    assert response.status_code == 200
    body = response.json()
    assert body["errors"] is None
    persona = body["data"]
    for key in (
        "id", "name", "role", "description", "tags", "image_url", "created_at", "updated_at",
        "deleted_at", "user_id", "current_production_version_id", "current_draft_version_id",
    ):  # fmt: skip
        assert key in persona
    assert persona["tags"] == [] and persona["deleted_at"] is None
    assert persona["inbound_numbers"] == [
        {"phone_number": N1, "label": "Main line", "persona_id": A, "persona_settings": None},
        {"phone_number": N2, "label": None, "persona_id": A, "persona_settings": None},
    ]
    deleted = client.get(f"/v1/personas/{GONE}").json()["data"]
    assert deleted["deleted_at"] is not None


def test_unknown_persona_is_404_persona_not_found(client: httpx.Client) -> None:
    expected = {
        "data": None,
        "errors": [{"error": "PERSONA_NOT_FOUND", "message": "Persona not found or access denied"}],
    }
    for response in (
        client.get("/v1/personas/nope"),
        attach(client, "nope", N3),
        detach(client, "nope", N3),
        attach(client, GONE, N3),
        detach(client, GONE, N3),
    ):
        assert response.status_code == 404
        assert response.json() == expected


def test_legacy_inbound_shape(sim: Simulator, client: httpx.Client) -> None:
    body = client.get("/v1/inbound").json()
    assert set(body) == {"inbound_numbers"}
    numbers = body["inbound_numbers"]
    assert [n["phone_number"] for n in numbers] == [N1, N2, N3, N4]
    assert set(numbers[0]) == {
        "phone_number", "created_at", "prompt", "webhook", "voice_id", "dynamic_data",
        "interruption_threshold", "first_sentence", "reduce_latency", "transfer_phone_number",
        "voice_settings", "record", "max_duration",
    }  # fmt: skip
    assert numbers[0]["reduce_latency"] is True and numbers[0]["max_duration"] == 30
    sim.add_number("+14155550000", label="New")
    assert client.get("/v1/inbound").json()["inbound_numbers"][0]["phone_number"] == "+14155550000"
    sim.faults.legacy_inbound_includes_persona = True
    first = client.get("/v1/inbound").json()["inbound_numbers"][1]
    assert (first["label"], first["persona_id"]) == ("Main line", A)


def test_attach_and_detach_body_validation(client: httpx.Client) -> None:
    bad_bodies: list[Any] = [
        {},
        [],
        {"inbound_numbers": []},
        {"inbound_numbers": N1},
        {"inbound_numbers": [N1, 5]},
        {"inbound_numbers": [" "]},
    ]
    for action in ("attach", "detach"):
        url = f"/v1/personas/{A}/inbound/{action}"
        for body in bad_bodies:
            response = client.post(url, json=body)
            assert response.status_code == 400, body
            assert error_code(response) == "INVALID_BODY"
        response = client.post(url, content=b"{not json", headers={"content-type": "x"})
        assert (response.status_code, error_code(response)) == (400, "INVALID_BODY")


def test_settings_patch(sim: Simulator, client: httpx.Client) -> None:
    settings = {"pathway_id": "pathway_abc123", "pathway_version": 2, "start_node_id": "x"}
    response = client.patch(settings_path(A, N1), json={"persona_settings": settings})
    assert response.status_code == 200
    data = response.json()["data"]
    assert isinstance(data["id"], int) and not isinstance(data["id"], bool)
    assert (data["phone_number"], data["persona_id"]) == (N1, A)
    assert data["persona_settings"] == settings and data["updated_at"]
    shown = client.get(f"/v1/personas/{A}").json()["data"]["inbound_numbers"][0]
    assert shown["persona_settings"] == settings
    cleared = client.patch(
        f"/v1/personas/{A}/inbound/{N1}/settings", json={"persona_settings": None}
    )
    assert cleared.json()["data"]["persona_settings"] is None
    missing = client.patch(settings_path(A, N4), json={"persona_settings": None})
    assert (missing.status_code, error_code(missing)) == (404, "INBOUND_NOT_FOUND")
    invalid = client.patch(settings_path(A, N1), json={"persona_settings": 3})
    assert (invalid.status_code, error_code(invalid)) == (400, "INVALID_BODY")


# --------------------------------------------------------------------------- listing quirks


def ids_on(page: httpx.Response) -> list[str]:
    return [p["id"] for p in page.json()["data"]]


def numbers_on(page: httpx.Response) -> dict[str, list[str]]:
    return {p["id"]: [n["phone_number"] for n in p["inbound_numbers"]] for p in page.json()["data"]}


def test_a_move_between_pages_shows_a_number_on_two_personas(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.faults.move_during_listing = {"number": N1, "to_persona": B, "after_page": 1}
    first = client.get("/v1/personas", params={"page": 1, "limit": 1})
    second = client.get("/v1/personas", params={"page": 2, "limit": 1})
    assert numbers_on(first) == {A: [N1, N2]}  # stale: read before the move
    assert numbers_on(second) == {B: [N1, N4]}
    assert sim.owners()[N1] == [B]
    assert sim.faults.move_during_listing is None  # it happens once
    again = client.get("/v1/personas", params={"page": 1, "limit": 1})
    assert numbers_on(again) == {A: [N2]}


def test_a_move_waits_for_its_page_and_is_set_over_the_control_api(
    sim: Simulator, client: httpx.Client
) -> None:
    move = {"number": N3, "to_persona": B, "after_page": 2}
    assert client.post("/_sim/faults", json={"move_during_listing": move}).status_code == 200
    assert sim.faults.move_during_listing == {"number": N3, "to_persona": B, "after_page": 2}
    client.get("/v1/personas", params={"page": 1, "limit": 1})
    assert sim.owners()[N3] == []
    page2 = client.get("/v1/personas", params={"page": 2, "limit": 1})
    assert numbers_on(page2) == {B: [N4]}  # the page is served first, then the move happens
    assert sim.owners()[N3] == [B]
    assert client.post("/_sim/faults", json={}).json()["move_during_listing"] is None


def test_a_move_to_an_unknown_persona_changes_nothing(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.move_during_listing = {"number": N1, "to_persona": "nope", "after_page": 1}
    assert client.get("/v1/personas").status_code == 200
    assert sim.owners()[N1] == [A]


def test_ignore_page_from_the_constructor() -> None:
    with (
        with_test_faults(Simulator(base_state(), api_key=KEY), ignore_page=True) as sim,
        httpx.Client(verify=False, base_url=sim.url, headers={"authorization": KEY}) as client,
    ):
        for page in (1, 2, 3, 50):
            listed = client.get("/v1/personas", params={"page": page, "limit": 1})
            assert ids_on(listed) == [A], page
        assert ids_on(client.get("/v1/personas", params={"page": 2, "limit": 2})) == [A, B]


def test_limit_cap_serves_at_most_cap_personas_per_page(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.faults.limit_cap = 2
    assert ids_on(client.get("/v1/personas", params={"limit": 100})) == [A, B]
    # The server pages by its own limit: page 2 starts after the capped page 1.
    assert ids_on(client.get("/v1/personas", params={"page": 2, "limit": 100})) == [GONE]
    assert ids_on(client.get("/v1/personas", params={"limit": 1})) == [A]
    sim.faults.limit_cap = None
    assert ids_on(client.get("/v1/personas", params={"limit": 100})) == [A, B, GONE]


def test_listing_spellings_spell_numbers_in_persona_objects_only(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.faults.update({"listing_spellings": {N1: "+1 415 5550101", N2: "call me"}})
    listed = client.get("/v1/personas").json()["data"][0]["inbound_numbers"]
    read = client.get(f"/v1/personas/{A}").json()["data"]["inbound_numbers"]
    inbound = client.get("/v1/inbound").json()["inbound_numbers"]

    assert [n["phone_number"] for n in listed] == [n["phone_number"] for n in read]
    assert [n["phone_number"] for n in listed] == ["+1 415 5550101", "call me"]
    assert {n["phone_number"] for n in inbound} == {N1, N2, N3, N4}


def test_inbound_spellings_spell_numbers_in_the_inbound_reads_only(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.faults.update({"inbound_spellings": {N1: "14155550101"}})
    inbound = client.get("/v1/inbound").json()["inbound_numbers"]
    one = client.get("/v1/inbound/14155550101").json()

    assert {n["phone_number"] for n in inbound} == {"14155550101", N2, N3, N4}
    assert one["phone_number"] == "14155550101"
    listed = client.get(f"/v1/personas/{A}").json()["data"]["inbound_numbers"]
    assert [n["phone_number"] for n in listed] == [N1, N2]


def test_a_write_may_name_a_number_as_the_account_spells_it(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.faults.update({"inbound_spellings": {N1: "14155550101"}, "listing_spellings": {N3: "x3"}})

    assert attach(client, B, "14155550101", "x3").status_code == 200
    assert sim.owners()[N1] == [B] and sim.owners()[N3] == [B]
    patched = client.patch(
        f"/v1/personas/{B}/inbound/14155550101/settings", json={"persona_settings": {"a": 1}}
    )
    assert patched.status_code == 200
    assert sim.persona_settings(B, N1) == {"a": 1}
    labelled = client.post(
        "/inbound/update_label", json={"phoneNumber": "14155550101", "newLabel": "L"}
    )
    assert labelled.status_code == 200 and sim.label(N1) == "L"
    assert detach(client, B, "14155550101").status_code == 200
    assert sim.owners()[N1] == []


def test_spellings_are_refused_unless_they_map_numbers_to_text(sim: Simulator) -> None:
    for bad in ({N1: ""}, {N1: 5}, ["x"], {"": "x"}):
        with pytest.raises(ValueError, match="listing_spellings"):
            sim.faults.update({"listing_spellings": bad})
    assert sim.faults.to_dict()["listing_spellings"] == {}


LABEL = "/inbound/update_label"


def persona_numbers(client: httpx.Client, persona: str) -> dict[str, Any]:
    data = client.get(f"/v1/personas/{persona}").json()["data"]
    return {entry["phone_number"]: entry for entry in data["inbound_numbers"]}


def test_a_label_is_set_shown_on_the_persona_and_cleared(
    sim: Simulator, client: httpx.Client
) -> None:
    response = client.post(LABEL, json={"phoneNumber": N2, "newLabel": "Front desk"})
    assert response.status_code == 200
    assert response.json() == {
        "data": {
            "message": "Label updated successfully",
            "phone_number": N2,
            "label": "Front desk",
        },
        "errors": None,
    }
    assert persona_numbers(client, A)[N2]["label"] == "Front desk"
    assert sim.label(N2) == "Front desk"
    assert client.post(LABEL, json={"phoneNumber": N2, "newLabel": ""}).status_code == 200
    assert persona_numbers(client, A)[N2]["label"] is None
    # A number on no persona has a label too.
    assert client.post(LABEL, json={"phoneNumber": N3, "newLabel": "Spare"}).status_code == 200
    assert sim.label(N3) == "Spare"
    assert [r.kind for r in sim.requests if r.path == LABEL] == ["write"] * 3


def test_persona_objects_carry_each_numbers_label_and_settings(client: httpx.Client) -> None:
    assert persona_numbers(client, A)[N1] == {
        "phone_number": N1,
        "label": "Main line",
        "persona_id": A,
        "persona_settings": None,
    }


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"phoneNumber": N1}, 400, "INVALID_REQUEST"),
        ({"newLabel": "x"}, 400, "INVALID_REQUEST"),
        ({"phoneNumber": N1, "newLabel": None}, 400, "INVALID_REQUEST"),
        ({"phoneNumber": 14155550101, "newLabel": "x"}, 400, "INVALID_REQUEST"),
        ({"phoneNumber": N1, "newLabel": "x" * 151}, 400, "LABEL_TOO_LONG"),
        ({"phoneNumber": N1, "newLabel": "\U0001f4de" * 76}, 400, "LABEL_TOO_LONG"),
    ],
)
def test_the_documented_label_errors(
    sim: Simulator, client: httpx.Client, body: dict[str, Any], status: int, code: str
) -> None:
    response = client.post(LABEL, json=body)
    assert (response.status_code, error_code(response)) == (status, code)
    assert sim.label(N1) == "Main line"


def test_150_characters_are_taken(sim: Simulator, client: httpx.Client) -> None:
    assert client.post(LABEL, json={"phoneNumber": N1, "newLabel": "x" * 150}).status_code == 200
    assert sim.label(N1) == "x" * 150


def test_an_unknown_number_is_a_404_outside_the_envelope(client: httpx.Client) -> None:
    response = client.post(LABEL, json={"phoneNumber": "+14155550199", "newLabel": "x"})
    assert response.status_code == 404
    assert response.json() == {"error": "Phone number not found"}


def test_a_wrong_key_is_a_401(sim: Simulator) -> None:
    with httpx.Client(verify=False, base_url=sim.url, headers={"authorization": "wrong"}) as other:
        response = other.post(LABEL, json={"phoneNumber": N1, "newLabel": "x"})
    assert (response.status_code, error_code(response)) == (401, "AUTH_FAILURE")
    assert sim.label(N1) == "Main line"


def test_the_path_with_v1_is_not_the_label_endpoint(sim: Simulator, client: httpx.Client) -> None:
    before = sim.label(N1)
    response = client.post("/v1" + LABEL, json={"phoneNumber": N1, "newLabel": "x"})
    # GET /v1/inbound/{number} has that shape; the simulator serves no POST there.
    assert (response.status_code, response.headers["allow"]) == (405, "GET")
    assert sim.label(N1) == before
