"""Tests of the Bland API simulator, driven over real HTTP."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.simulator import Faults, RequestRecord, Simulator, StateError, load_state

KEY = "sim-test-key"
A = "11111111-1111-4111-8111-111111111111"
B = "22222222-2222-4222-8222-222222222222"
GONE = "33333333-3333-4333-8333-333333333333"
N1, N2, N3, N4 = "+14155550101", "+14155550102", "+14155550103", "+14155550104"

AUTH_ERROR = {
    "data": None,
    "errors": [{"error": "AUTH_FAILURE", "message": "Invalid or missing API key"}],
}


def base_state() -> dict[str, Any]:
    return {
        "numbers": [{"phone_number": N1, "label": "Main line"}, {"phone_number": N2}, N3],
        "personas": [
            {"id": A, "name": "Support", "numbers": [N2, N1], "deleted_at": None},
            {"id": B, "name": "Sales", "numbers": [N4]},
            {"id": GONE, "name": "Old", "numbers": [], "deleted_at": "2025-02-01T00:00:00.000Z"},
        ],
    }


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(base_state(), api_key=KEY) as running:
        yield running


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, headers={"authorization": KEY}, timeout=5) as c:
        yield c


def attach(client: httpx.Client, persona: str, *numbers: str) -> httpx.Response:
    return client.post(f"/v1/personas/{persona}/inbound/attach", json={"inbound_numbers": numbers})


def detach(client: httpx.Client, persona: str, *numbers: str) -> httpx.Response:
    return client.post(f"/v1/personas/{persona}/inbound/detach", json={"inbound_numbers": numbers})


def settings_path(persona: str, number: str) -> str:
    return f"/v1/personas/{persona}/inbound/{number.replace('+', '%2B')}/settings"


def error_code(response: httpx.Response) -> str:
    errors = response.json()["errors"]
    assert isinstance(errors, list) and len(errors) == 1
    code = errors[0]["error"]
    assert isinstance(code, str)
    return code


# --------------------------------------------------------------------------- auth and routing


def test_auth_is_exact_header_match(sim: Simulator) -> None:
    with httpx.Client(base_url=sim.url, timeout=5) as anon:
        for headers in ({}, {"authorization": "wrong"}, {"authorization": f"Bearer {KEY}"}):
            for path in ("/v1/personas", f"/v1/personas/{A}", "/v1/inbound", "/_sim/log"):
                response = anon.get(path, headers=headers)
                assert response.status_code == 401, (headers, path)
                assert response.json() == AUTH_ERROR
        response = anon.post(
            f"/v1/personas/{A}/inbound/attach", json={"inbound_numbers": [N3]}, headers={}
        )
        assert response.status_code == 401
        assert anon.get("/v1/personas", headers={"Authorization": KEY}).status_code == 200
    assert N3 not in sim.persona_numbers(A)


def test_unknown_path_and_wrong_method(client: httpx.Client) -> None:
    response = client.get("/v1/nothing")
    assert (response.status_code, response.json()) == (404, {"error": "Not found"})
    response = client.delete("/v1/personas")
    assert response.status_code == 405
    assert response.json() == {"status": "error", "message": "Method not allowed"}
    assert client.get(f"/v1/personas/{A}/inbound/attach").status_code == 405


def test_keep_alive_and_content_length(client: httpx.Client) -> None:
    first = client.get("/v1/personas")
    second = client.get("/v1/inbound")
    for response in (first, second):
        assert response.headers["content-length"] == str(len(response.content))
        assert response.headers["content-type"].startswith("application/json")
    assert first.http_version == "HTTP/1.1"


# --------------------------------------------------------------------------- reads


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
        httpx.Client(base_url=sim.url, headers={"authorization": KEY}) as client,
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


# --------------------------------------------------------------------------- writes


def test_attach_steals_and_resets_settings(sim: Simulator, client: httpx.Client) -> None:
    settings = {"pathway_id": "pw_1", "pathway_version": 2, "start_node_id": "n"}
    assert client.patch(settings_path(A, N1), json={"persona_settings": settings}).is_success
    response = attach(client, B, N1, f"  {N3} ")
    assert response.status_code == 200
    assert response.json()["errors"] is None
    persona = response.json()["data"]
    assert persona["id"] == B
    assert [n["phone_number"] for n in persona["inbound_numbers"]] == [N1, N3, N4]
    assert all(n["persona_settings"] is None for n in persona["inbound_numbers"])
    assert sim.owners()[N1] == [B] and sim.owners()[N3] == [B]
    assert sim.persona_numbers(A) == [N2]
    # Re-attaching a number the persona already has keeps its settings.
    assert client.patch(settings_path(B, N1), json={"persona_settings": settings}).is_success
    again = attach(client, B, N1).json()["data"]["inbound_numbers"]
    assert again[0]["persona_settings"] == settings
    assert sim.persona_settings(B, N1) == settings


def test_attach_unknown_number_is_atomic(sim: Simulator, client: httpx.Client) -> None:
    response = attach(client, B, N3, "+19999999999", N1)
    assert response.status_code == 400
    assert response.json() == {
        "data": None,
        "errors": [
            {
                "error": "INVALID_INBOUND_NUMBERS",
                "message": "Some inbound numbers were not found or do not belong to you",
                "details": {"invalid_numbers": ["+19999999999"]},
            }
        ],
    }
    assert sim.persona_numbers(B) == [N4]
    assert sim.owners()[N1] == [A]


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


def test_detach_only_touches_own_numbers(sim: Simulator, client: httpx.Client) -> None:
    sim.set_persona_settings(A, N1, {"pathway_id": "pw"})
    response = detach(client, A, N1, N4, N3, "+19999999999")
    assert response.status_code == 200
    assert [n["phone_number"] for n in response.json()["data"]["inbound_numbers"]] == [N2]
    assert sim.owners()[N1] == [] and sim.owners()[N4] == [B]
    assert detach(client, A, N1).status_code == 200
    attach(client, A, N1)
    assert sim.persona_settings(A, N1) is None


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


def test_on_write_can_change_state_mid_apply(sim: Simulator, client: httpx.Client) -> None:
    seen: list[RequestRecord] = []

    def delete_target(s: Simulator, record: RequestRecord) -> None:
        seen.append(record)
        s.delete_persona(B)

    sim.on_write = delete_target
    response = attach(client, B, N3)
    assert (response.status_code, error_code(response)) == (404, "PERSONA_NOT_FOUND")
    assert [(r.method, r.persona_id, r.kind) for r in seen] == [("POST", B, "write")]
    assert sim.owners()[N3] == []


# --------------------------------------------------------------------------- request log


def test_request_log(sim: Simulator, client: httpx.Client) -> None:
    client.get("/v1/personas", params={"page": 1, "limit": 100})
    client.get(f"/v1/personas/{A}")
    attach(client, B, N3)
    detach(client, "nope", N3)
    client.patch(settings_path(B, N3), json={"persona_settings": None})
    client.get("/_sim/log")
    records = sim.requests
    assert [(r.method, r.kind, r.status, r.persona_id) for r in records] == [
        ("GET", "read", 200, None),
        ("GET", "read", 200, A),
        ("POST", "write", 200, B),
        ("POST", "write", 404, "nope"),
        ("PATCH", "write", 200, B),
    ]
    assert records[0].path == "/v1/personas"
    assert records[0].query == {"page": "1", "limit": "100"}
    assert records[2].body == {"inbound_numbers": [N3]}
    assert len(sim.reads()) == 2 and len(sim.writes()) == 3
    sim.clear_log()
    assert sim.requests == []


# --------------------------------------------------------------------------- faults


def test_scripted_read_statuses_in_order_with_retry_after(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.faults.read_statuses = [503, 200, 429, 0, 401, 403, 404, 418]
    sim.faults.retry_after = "2"
    first = client.get("/v1/personas")
    assert first.status_code == 503
    assert error_code(first) == "INTERNAL_SERVER_ERROR"
    assert "retry-after" not in first.headers
    assert client.get("/v1/personas").status_code == 200
    limited = client.get("/v1/personas")
    assert limited.status_code == 429
    assert limited.json() == {"status": "error", "message": "Rate limit exceeded"}
    assert limited.headers["retry-after"] == "2"
    assert client.get("/v1/inbound").status_code == 200
    codes = [(r.status_code, error_code(r)) for r in (client.get("/v1/inbound") for _ in range(4))]
    assert codes == [
        (401, "AUTH_FAILURE"),
        (403, "FORBIDDEN"),
        (404, "PERSONA_NOT_FOUND"),
        (418, "INVALID_REQUEST"),
    ]
    assert sim.faults.read_statuses == []
    assert [r.status for r in sim.reads()] == [503, 200, 429, 200, 401, 403, 404, 418]


def test_scripted_write_error_does_not_write(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.write_statuses = [500, 429]
    client.get("/v1/personas")  # reads do not consume write statuses
    assert attach(client, B, N3).status_code == 500
    no_header = attach(client, B, N3)
    assert no_header.status_code == 429 and "retry-after" not in no_header.headers
    assert sim.owners()[N3] == []
    assert attach(client, B, N3).status_code == 200
    assert sim.owners()[N3] == [B]


def test_drop_after_write_applies_but_loses_response(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.drop_after_write = 1
    with pytest.raises(httpx.RemoteProtocolError):
        attach(client, B, N1)
    assert sim.owners()[N1] == [B]
    record = sim.writes()[-1]
    assert record.dropped and record.status == 200
    assert attach(client, B, N3).status_code == 200


def test_hang_then_stop_returns_promptly() -> None:
    sim = Simulator(base_state(), api_key=KEY).start()
    sim.faults.hang = 1
    try:
        with httpx.Client(base_url=sim.url, headers={"authorization": KEY}) as client:
            with pytest.raises(httpx.ReadTimeout):
                client.get("/v1/personas", timeout=0.2)
            assert client.get("/v1/personas", timeout=5).status_code == 200
            with pytest.raises(httpx.ReadTimeout):
                sim.faults.hang = 1
                client.get("/v1/personas", timeout=0.2)
    finally:
        started = time.monotonic()
        sim.stop()
        assert time.monotonic() - started < 2
    assert [r.status for r in sim.requests] == [0, 200, 0]


def test_hang_writes_after(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.hang_writes_after = 1
    assert attach(client, B, N3).status_code == 200
    assert client.get("/v1/personas").status_code == 200
    with pytest.raises(httpx.ReadTimeout):
        client.post(f"/v1/personas/{A}/inbound/attach", json={"inbound_numbers": [N3]}, timeout=0.2)
    assert sim.owners()[N3] == [B]
    sim.faults.hang_writes_after = None
    assert attach(client, A, N3).status_code == 200


def test_html_errors(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.html_errors = True
    sim.faults.read_statuses = [502]
    response = client.get("/v1/personas")
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == "<html><body><h1>502 Bad Gateway</h1></body></html>"
    assert client.get("/v1/personas").status_code == 200


def test_attach_mode_keep_old(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.attach_mode = "keep_old"
    response = attach(client, B, N1)
    assert response.status_code == 200
    assert sim.owners()[N1] == [A, B]
    old = client.get(f"/v1/personas/{A}").json()["data"]["inbound_numbers"]
    assert N1 in [n["phone_number"] for n in old]
    assert detach(client, A, N1).status_code == 200
    assert sim.owners()[N1] == [B]


def test_attach_mode_refuse(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.attach_mode = "refuse"
    response = attach(client, B, N3, N1)
    assert response.status_code == 409
    error = response.json()["errors"][0]
    assert error["error"] == "INBOUND_NUMBER_IN_USE"
    assert error["details"] == {"phone_numbers": [N1]}
    assert sim.owners()[N3] == [] and sim.owners()[N1] == [A]
    assert attach(client, A, N1, N3).status_code == 200  # own numbers are not "in use"
    assert detach(client, A, N1).status_code == 200
    assert attach(client, B, N1).status_code == 200


def test_errors_as_string(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.errors_as_string = True
    response = client.get("/v1/personas/nope")
    assert response.json() == {
        "data": None,
        "errors": "PERSONA_NOT_FOUND: Persona not found or access denied",
    }
    sim.faults.write_statuses = [500]
    assert attach(client, B, N3).json()["errors"].startswith("INTERNAL_SERVER_ERROR: ")


def test_inbound_numbers_as_strings(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.inbound_numbers_as_strings = True
    assert client.get(f"/v1/personas/{A}").json()["data"]["inbound_numbers"] == [N1, N2]
    listed = client.get("/v1/personas").json()["data"]
    assert listed[1]["inbound_numbers"] == [N4]
    assert attach(client, B, N3).json()["data"]["inbound_numbers"] == [N3, N4]


def test_latency(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.latency = 0.05
    started = time.monotonic()
    assert client.get("/v1/personas").status_code == 200
    assert time.monotonic() - started >= 0.05
    sim.faults.latency = 0
    started = time.monotonic()
    assert client.get("/_sim/log").status_code == 200


# --------------------------------------------------------------------------- control endpoints


def test_control_endpoints(sim: Simulator, client: httpx.Client, tmp_path: Path) -> None:
    attach(client, B, N1)
    log = client.get("/_sim/log").json()["requests"]
    assert [(r["method"], r["kind"], r["status"], r["persona_id"]) for r in log] == [
        ("POST", "write", 200, B)
    ]
    assert log[0]["body"] == {"inbound_numbers": [N1]} and log[0]["query"] == {}
    assert client.post("/_sim/log/clear").status_code == 200
    assert client.get("/_sim/log").json() == {"requests": []}

    sim.set_persona_settings(B, N1, {"pathway_id": "pw"})
    state = client.get("/_sim/state").json()
    assert state["personas"][1] == {
        "id": B,
        "name": "Sales",
        "deleted_at": None,
        "numbers": [N4, N1],
        "persona_settings": {N1: {"pathway_id": "pw"}},
    }
    assert {"phone_number": N1, "label": "Main line"} in state["numbers"]
    dumped = tmp_path / "state.json"
    dumped.write_text(json.dumps(state))
    with Simulator(load_state(dumped), api_key=KEY) as copy:
        assert copy.export_state() == state
        assert copy.owners() == sim.owners()

    response = client.post("/_sim/faults", json={"write_statuses": [503], "retry_after": "1"})
    assert response.status_code == 200 and response.json()["write_statuses"] == [503]
    assert sim.faults.write_statuses == [503] and sim.faults.retry_after == "1"
    bad = client.post("/_sim/faults", json={"attach_mode": "merge"})
    assert (bad.status_code, error_code(bad)) == (400, "INVALID_BODY")
    assert client.post("/_sim/faults", json={"nope": 1}).status_code == 400
    assert client.post("/_sim/faults/reset").json() == Faults().to_dict()
    assert client.get("/_sim/faults").json()["write_statuses"] == []
    assert client.get("/_sim/nothing").status_code == 404
    assert sim.requests == []


# --------------------------------------------------------------------------- state loading


def test_state_loading(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"personas": [{"id": "p", "name": "P", "numbers": [N1]}]}))
    sim = Simulator(load_state(path), api_key=KEY)
    assert sim.owners() == {N1: ["p"]}
    sim.add_persona("q", "Q", numbers=[N1, N2])
    assert sim.owners() == {N1: ["q"], N2: ["q"]}
    sim.set_owner(N2, None)
    assert sim.persona_numbers("q") == [N1]
    with pytest.raises(ValueError):
        sim.add_persona("q", "again")
    for text in ("{", "[]", '{"personas": [{"name": "no id"}]}', '{"numbers": [{"label": 1}]}'):
        path.write_text(text)
        with pytest.raises(StateError, match=re.escape(str(path))):
            load_state(path)
    with pytest.raises(StateError, match=r"missing\.json"):
        load_state(tmp_path / "missing.json")


def test_concurrent_requests(sim: Simulator) -> None:
    import concurrent.futures

    numbers = [f"+1415600{i:04d}" for i in range(40)]
    for number in numbers:
        sim.add_number(number)

    with (
        httpx.Client(base_url=sim.url, headers={"authorization": KEY}) as client,
        concurrent.futures.ThreadPoolExecutor(8) as pool,
    ):

        def work(number: str) -> int:
            return attach(client, A if number[-1] in "02468" else B, number).status_code

        assert set(pool.map(work, numbers)) == {200}
    assert len(sim.writes()) == 40
    assert all(len(sim.owners()[n]) == 1 for n in numbers)


# --------------------------------------------------------------------------- command line


def run_command(*args: str, env_key: str | None = KEY) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "BLAND_API_KEY"}
    if env_key is not None:
        env["BLAND_API_KEY"] = env_key
    code = "from reconciler.simulator import simulator_command; simulator_command()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_command_serves_until_sigterm(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps(base_state()))
    ready = tmp_path / "ready"
    proc = run_command(
        "--state", str(state), "--port", "0", "--ready-file", str(ready),
        "--write-statuses", "503,200", "--attach-mode", "refuse", "--latency", "0",
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        url = ready.read_text().strip()
        assert line == f"Bland API simulator listening on {url} (3 personas, 4 numbers)"
        with httpx.Client(base_url=url, headers={"authorization": KEY}, timeout=5) as client:
            assert client.get("/v1/personas").status_code == 200
            assert attach(client, B, N3).status_code == 503
            assert attach(client, B, N1).status_code == 409
            assert client.get("/_sim/faults").json()["attach_mode"] == "refuse"
            assert len(client.get("/_sim/log").json()["requests"]) == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert KEY not in line + err
    assert not ready.exists()


def test_command_startup_errors(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps(base_state()))
    proc = run_command("--state", str(state), "--port", "0", env_key=None)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 1
    assert err.strip() == "error: environment variable BLAND_API_KEY is not set"

    bad = tmp_path / "bad.json"
    bad.write_text('{"personas": [{"id": 3}]}')
    proc = run_command("--state", str(bad), "--port", "0")
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 1
    assert len(err.strip().splitlines()) == 1 and str(bad) in err
    assert "Traceback" not in err
