"""`reconciler doctor` against the simulator, switched into each quirk it can play."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.api import BlandClient
from reconciler.doctor import run_doctor
from tests.conftest import IVR, SALES, SUPPORT, TEST_KEY, ProxyListener, RunCli, point_cli_at
from tests.simulated import Simulator

NAMES = [
    "credentials",
    "personas_listing",
    "inbound_listing",
    "response_shapes",
    "consistency",
    "agents_listing",
    "agent_twins",
    "inbound_number",
]
ALL_OK = dict.fromkeys(NAMES, "ok")


def _doctor_json(run_cli: RunCli) -> tuple[int, dict[str, Any]]:
    result = run_cli("doctor", "--format", "json")
    assert result.err == ""
    return result.code, json.loads(result.out)


def _statuses(report: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["status"] for check in report["checks"]}


def _detail(report: dict[str, Any], name: str) -> str:
    return str(next(check["detail"] for check in report["checks"] if check["name"] == name))


def test_a_well_behaved_account_passes_every_check_with_gets_only(
    sim: Simulator, run_cli: RunCli
) -> None:
    code, report = _doctor_json(run_cli)
    assert code == 0
    assert _statuses(report) == ALL_OK
    assert [check["name"] for check in report["checks"]] == NAMES
    assert report["failed"] is False
    assert report["persona_pages"] == 2  # the 5 personas, then the empty page that ends it
    assert report["requests"] == len(sim.requests)
    assert set(report["latency_ms"]) == {"median", "max"}
    assert report["rate_limit_headers"] == {}
    assert "1 soft-deleted, marked by deleted_at" in _detail(report, "personas_listing")
    assert "8 numbers" in _detail(report, "inbound_listing")
    assert {r.method for r in sim.requests} == {"GET"}
    # The client's paging (limit=100 to the empty page, reading one page ahead of it), then
    # pages 1 and 2 of limit=2.
    listing = [r for r in sim.requests if r.path == "/v1/personas"]
    pages = [(r.query.get("page"), r.query.get("limit")) for r in listing]
    assert sorted(pages) == [("1", "100"), ("1", "2"), ("2", "100"), ("2", "2"), ("3", "100")]
    # An account without agents: the agent list, then one number read by number.
    assert "0 agents, the whole list" in _detail(report, "agents_listing")
    assert [r.path for r in sim.requests][-2:] == ["/v2/agents", "/v1/inbound/%2B14155550100"]


def test_text_output_lists_every_check_and_what_was_measured(
    sim: Simulator, run_cli: RunCli
) -> None:
    result = run_cli("doctor")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"reconciler doctor: {sim.url} (GET requests only)"
    assert [line.split()[:2] for line in lines[1:9]] == [["ok", name] for name in NAMES]
    assert lines[9].startswith("9 requests, time to answer: median ")
    assert lines[9].endswith("; 2 persona pages read")
    assert lines[10] == "rate-limit headers: none seen"
    assert lines[11] == "every check passed (see docs/doctor.md)"


# fault switches -> the checks that are not ok, and a phrase of the detail of each.
QUIRKS: list[tuple[str, dict[str, Any], dict[str, tuple[str, str]]]] = [
    (
        "ignored page",
        {"ignore_page": True},
        {
            "personas_listing": ("fail", "(pages 1 and 2 both list it): the server ignores `page`"),
            "consistency": ("fail", "not checked: the persona listing was not read whole"),
        },
    ),
    (
        "limit capped",
        {"limit_cap": 2},
        {
            "personas_listing": (
                "warn",
                "5 personas on 3 pages although limit=100 was asked: the server caps `limit`",
            )
        },
    ),
    (
        "bare-string numbers",
        {"inbound_numbers_as_strings": True},
        {"response_shapes": ("warn", "numbers listed as bare strings")},
    ),
    (
        "numbers as one string",
        {"malformed": ["inbound_numbers_as_one_string"]},
        {
            "personas_listing": ("fail", "`inbound_numbers` is a string, not a list"),
            "consistency": ("fail", "not checked: the persona listing was not read whole"),
        },
    ),
    (
        "numbers as integers",
        {"malformed": ["numbers_as_integers"]},
        {
            "personas_listing": (
                "fail",
                "inbound_numbers[0] is an object whose `phone_number` is a number",
            ),
            "inbound_listing": ("fail", "entry 0 is an object whose `phone_number` is a number"),
            "consistency": ("fail", "not read whole"),
        },
    ),
    (
        "data not a list",
        {"malformed": ["data_not_a_list"]},
        {
            "personas_listing": ("fail", "page 1: `data` is an object, not a list of personas"),
            "consistency": ("fail", "not read whole"),
        },
    ),
    (
        "persona without id",
        {"malformed": ["persona_without_id"]},
        {
            "personas_listing": ("fail", "page 1: data[0] has no `id`"),
            "consistency": ("fail", "not read whole"),
        },
    ),
    (
        "inbound names another owner",
        {"inbound_owner_overrides": {"+14155550100": IVR}},
        {"consistency": ("fail", "name different owners for 1 number: +14155550100")},
    ),
    (
        "inbound names a persona the listing does not show",
        {"inbound_owner_overrides": {"+14155550140": "agent-persona"}},
        {"consistency": ("warn", "on personas the listing does not show (v2 agents?)")},
    ),
    (
        "a number moves while the listing is read",
        {
            "limit_cap": 2,
            "move_during_listing": {"number": "+14155550100", "to_persona": SALES, "after_page": 1},
        },
        {
            "personas_listing": ("warn", "the server caps `limit`"),
            "consistency": ("warn", "but read by id each is on one"),
        },
    ),
]


@pytest.mark.parametrize(
    ("faults", "not_ok"), [quirk[1:] for quirk in QUIRKS], ids=[quirk[0] for quirk in QUIRKS]
)
def test_each_quirk_is_named_by_its_check(
    sim: Simulator,
    run_cli: RunCli,
    faults: dict[str, Any],
    not_ok: dict[str, tuple[str, str]],
) -> None:
    sim.faults.update(faults)
    code, report = _doctor_json(run_cli)
    assert _statuses(report) == {**ALL_OK, **{name: status for name, (status, _) in not_ok.items()}}
    for name, (_, phrase) in not_ok.items():
        assert phrase in _detail(report, name)
    assert code == (1 if any(status == "fail" for status, _ in not_ok.values()) else 0)
    assert {r.method for r in sim.requests} == {"GET"}


@pytest.mark.parametrize("faults", [{}, {"errors_as_string": True}], ids=["list", "string"])
def test_the_error_code_is_read_from_either_envelope(
    sim: Simulator, run_cli: RunCli, faults: dict[str, Any]
) -> None:
    sim.faults.update(faults)
    code, report = _doctor_json(run_cli)
    assert code == 0
    assert "no such persona: HTTP 404 PERSONA_NOT_FOUND" in _detail(report, "response_shapes")


def test_an_error_without_a_code_is_a_warning(sim: Simulator, run_cli: RunCli) -> None:
    # Reads: pages 1 to 3, pages 1 and 2 of limit=2, GET /v1/inbound, then the missing persona.
    sim.faults.update({"read_statuses": [0, 0, 0, 0, 0, 0, 404], "html_errors": True})
    code, report = _doctor_json(run_cli)
    assert code == 0
    assert _statuses(report)["response_shapes"] == "warn"
    assert (
        "(no such persona) was answered HTTP 404 without an error code: errors are told apart "
        "by status alone (non-JSON body (text/html))"
    ) in _detail(report, "response_shapes")


def test_a_number_on_two_personas_is_confirmed_by_reading_them_by_id(
    example_state: dict[str, Any], run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    example_state["personas"][2]["numbers"] = ["+14155550100"]  # Sales, and Support has it
    with Simulator(example_state, api_key=TEST_KEY) as simulator:
        point_cli_at(simulator, monkeypatch)
        code, report = _doctor_json(run_cli)
        by_id = {r.path.rsplit("/", 1)[-1] for r in simulator.requests if r.path.count("/") == 3}
    assert code == 1
    assert _statuses(report)["consistency"] == "fail"
    assert "1 number on two personas, read again by id: +14155550100" in _detail(
        report, "consistency"
    )
    assert {SUPPORT, SALES} <= by_id


def test_labels_and_owners_from_the_legacy_inbound_list(sim: Simulator, run_cli: RunCli) -> None:
    sim.faults.update({"legacy_inbound_includes_persona": True})
    code, report = _doctor_json(run_cli)
    assert code == 0
    assert "names owners (persona_id) for 4 of 8" in _detail(report, "inbound_listing")
    assert "GET /v1/inbound names the same owners" in _detail(report, "consistency")


def test_rate_limit_headers_are_reported(sim: Simulator, run_cli: RunCli) -> None:
    sim.faults.update({"read_statuses": [429], "retry_after": "1"})
    code, report = _doctor_json(run_cli)
    assert code == 0
    assert report["rate_limit_headers"] == {"retry-after": "1"}
    assert report["requests"] == len(sim.requests) == 10  # the 429 was retried


def test_a_wrong_key_fails_naming_where_it_came_from_never_the_key(
    sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "sk-wrong-0123456789abcdef"
    monkeypatch.setenv("BLAND_API_KEY", wrong)
    result = run_cli("doctor")
    assert result.code == 1
    assert "fail  credentials       the API key from BLAND_API_KEY was rejected (HTTP 401 " in (
        result.out
    )
    assert "the checks need a key the API accepts: nothing else was checked" in result.out
    assert wrong not in result.out + result.err
    assert len(sim.requests) == 1  # the first 401 stops every other probe


def test_a_wrong_key_from_a_file_names_the_file(
    sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "bland.key"
    key_file.write_text("sk-from-a-file-5555\n")
    key_file.chmod(0o600)  # a file others can read gets a warning on stderr
    monkeypatch.setenv("BLAND_API_KEY_FILE", str(key_file))
    code, report = _doctor_json(run_cli)
    assert code == 1
    assert _detail(report, "credentials") == (
        f"the API key from the file {key_file} (BLAND_API_KEY_FILE) was rejected "
        "(HTTP 401 AUTH_FAILURE)"
    )
    assert _statuses(report) == dict.fromkeys(NAMES, "fail")
    result = run_cli("--api-key-file", key_file, "doctor")
    assert f"from the file {key_file} (--api-key-file) was rejected" in result.out
    assert "sk-from-a-file-5555" not in result.out + result.err


def test_a_missing_key_is_a_failed_credentials_check(
    sim: Simulator, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BLAND_API_KEY")
    code, report = _doctor_json(run_cli)
    assert code == 1
    assert _detail(report, "credentials").startswith("BLAND_API_KEY is not set")
    assert _detail(report, "consistency") == "not checked: no usable API key"
    assert sim.requests == []


def test_an_unreachable_api_fails_without_a_traceback(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Simulator({}, api_key=TEST_KEY) as simulator:
        point_cli_at(simulator, monkeypatch)
    # The simulator has stopped: nothing listens on its port any more.
    result = run_cli("doctor")
    assert result.code == 1
    assert "fail  credentials       could not be checked: GET /v1/personas: " in result.out
    assert "the API gave no usable answer: nothing else was checked" in result.out
    assert "Traceback" not in result.out + result.err


def test_an_empty_account_warns_that_paging_could_not_be_checked(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Simulator({}, api_key=TEST_KEY) as simulator:
        point_cli_at(simulator, monkeypatch)
        code, report = _doctor_json(run_cli)
    assert code == 0
    assert _statuses(report)["personas_listing"] == "warn"
    assert "paging could not be checked" in _detail(report, "personas_listing")
    assert "no number listed yet" in _detail(report, "response_shapes")


def test_text_from_the_api_cannot_fake_lines(
    example_state: dict[str, Any], run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    example_state["personas"][2]["numbers"] = ["+14155550100\nok    consistency  all fine"]
    example_state["personas"][3]["numbers"] = ["+14155550100\nok    consistency  all fine"]
    example_state["personas"][3]["deleted_at"] = None
    with Simulator(example_state, api_key=TEST_KEY) as simulator:
        point_cli_at(simulator, monkeypatch)
        result = run_cli("doctor")
    assert result.code == 1
    assert "\\x0aok    consistency  all fine" in result.out
    assert len(result.out.splitlines()) == 12


def test_doctor_never_sends_a_loopback_api_through_a_proxy(
    sim: Simulator, run_cli: RunCli, proxy: ProxyListener
) -> None:
    code, report = _doctor_json(run_cli)
    assert (code, _statuses(report)) == (0, ALL_OK)
    assert proxy.requests == []  # the key went straight to loopback, as plan's does
    assert report["requests"] == len(sim.requests) == 9


def test_doctor_sends_a_remote_api_through_the_proxy_as_plan_does(
    run_cli: RunCli, proxy: ProxyListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLAND_API_URL", "https://api.bland.invalid")
    monkeypatch.setenv("BLAND_API_KEY", TEST_KEY)
    code, _ = _doctor_json(run_cli)
    assert code == 1
    assert proxy.requests
    assert all(r.startswith(b"CONNECT api.bland.invalid:443 ") for r in proxy.requests)
    assert not any(TEST_KEY.encode() in r for r in proxy.requests)


def test_a_redirect_is_named_never_blamed_on_the_key() -> None:
    redirect = httpx.Response(307, headers={"location": "https://login.example/sso"})
    transport = httpx.MockTransport(lambda request: redirect)
    connect = partial(BlandClient, "https://api.bland.ai", "sk-unit-key", transport=transport)
    report = run_doctor(connect, "BLAND_API_KEY")
    lines = report.to_text("https://api.bland.ai").splitlines()
    named = "the API answered HTTP 307, a redirect to login.example, which the tool does not follow"
    assert lines[1] == f"fail  credentials       GET /v1/personas: {named} (check BLAND_API_URL)"
    assert lines[-1] == f"{named}: nothing else was checked (see docs/doctor.md)"
    assert "key" not in lines[1] + lines[-1]


AGENT, TWIN, ON_AGENT = "agent-booking", "twin-of-booking", "+14155550150"


def with_agents(state: dict[str, Any], agents: int = 1, twins: int = 1) -> dict[str, Any]:
    """The example account plus `agents` agents, the first `twins` of them holding one number
    each through a twin persona (agent 0 is AGENT, holding ON_AGENT through TWIN)."""
    for index in range(agents):
        agent = AGENT if index == 0 else f"agent-{index:02d}"
        number = ON_AGENT if index == 0 else f"+1415555{index + 200:04d}"
        updated = f"2026-01-01T00:00:{59 - index:02d}.000Z"  # listed in this order
        state.setdefault("agents", []).append(
            {"id": agent, "name": f"Agent {index}", "versions": 1, "updated_at": updated}
        )
        if index < twins:
            state["numbers"].append({"phone_number": number, "label": None})
            twin = TWIN if index == 0 else f"twin-{index:02d}"
            state["personas"].append(
                {"id": twin, "name": agent, "numbers": [number], "tags": [f"v2-agent:{agent}"]}
            )
    return state


# The switches of the agent API's unknowns -> the not-ok checks and a phrase of each detail,
# and a phrase of the other agent checks' details.
AGENT_SWITCHES: list[tuple[str, dict[str, Any], dict[str, tuple[str, str]], dict[str, str]]] = [
    (
        "twins hidden, no owners named",
        {},
        {
            "agent_twins": (
                "warn",
                "plan and apply will refuse to plan numbers for agents whose twin persona is "
                "neither listed nor readable by id: GET /v1/inbound names no owners",
            )
        },
        {
            "agents_listing": "1 agent, the whole list (under 500)",
            "agent_twins": "0 in GET /v1/personas, 0 read by id (GET /v1/personas/{id}), 1 neither",
            "inbound_number": "GET /v1/inbound/+14155550100 (a number) shows pathway_id, prompt "
            "(no persona_id",
        },
    ),
    (
        "twins listed",
        {"twins_listed": True},
        {},
        {
            "agent_twins": "1 in GET /v1/personas, 0 read by id",
            "inbound_number": f"GET /v1/inbound/{ON_AGENT} (a number of agent {AGENT}) shows",
        },
    ),
    (
        "twins readable by id",
        {"twins_readable": True},
        {},
        {
            "agent_twins": "0 in GET /v1/personas, 1 read by id",
            "inbound_number": f"GET /v1/inbound/{ON_AGENT} (a number of agent {AGENT}) shows",
        },
    ),
    (
        "owners named in GET /v1/inbound",
        {"legacy_inbound_includes_persona": True},
        {},
        {
            "agent_twins": "1 neither; GET /v1/inbound names owners, so those agents' numbers "
            "are read from it",
            "inbound_number": f"GET /v1/inbound/{ON_AGENT} (a number of agent {AGENT}) shows "
            "pathway_id, prompt, persona_id",
            "consistency": "GET /v1/inbound names the same owners",
        },
    ),
    (
        "routing in GET /v1/inbound, no owners",
        {"inbound_shows_routing": True},
        {"agent_twins": ("warn", "plan and apply will refuse to plan numbers for agents")},
        {},
    ),
]


@pytest.mark.parametrize(
    ("faults", "not_ok", "details"),
    [switch[1:] for switch in AGENT_SWITCHES],
    ids=[switch[0] for switch in AGENT_SWITCHES],
)
def test_each_agent_unknown_is_named_the_way_it_turned(
    example_state: dict[str, Any],
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
    faults: dict[str, Any],
    not_ok: dict[str, tuple[str, str]],
    details: dict[str, str],
) -> None:
    with Simulator(with_agents(example_state), api_key=TEST_KEY) as simulator:
        point_cli_at(simulator, monkeypatch)
        simulator.faults.update(faults)
        code, report = _doctor_json(run_cli)
        methods = {r.method for r in simulator.requests}
    assert _statuses(report) == {**ALL_OK, **{name: status for name, (status, _) in not_ok.items()}}
    for name, (_, phrase) in not_ok.items():
        assert phrase in _detail(report, name)
    for name, phrase in details.items():
        assert phrase in _detail(report, name), _detail(report, name)
    assert (code, methods) == (0, {"GET"})


@pytest.mark.parametrize(
    ("agents", "twins", "asked", "read_by_id"),
    [(12, 0, 10, 0), (5, 5, 3, 3), (2, 1, 2, 1)],
    ids=["no twins: 10 agents asked", "twins everywhere: 3 read", "a few agents: all asked"],
)
def test_the_agent_probes_send_a_bounded_number_of_requests(
    example_state: dict[str, Any],
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
    agents: int,
    twins: int,
    asked: int,
    read_by_id: int,
) -> None:
    with Simulator(with_agents(example_state, agents, twins), api_key=TEST_KEY) as simulator:
        point_cli_at(simulator, monkeypatch)
        simulator.faults.update({"twins_readable": True})
        code, report = _doctor_json(run_cli)
        paths = [r.path for r in simulator.requests]
    assert code == 0
    assert sum(p.startswith("/v2/agents/") and p.endswith("/inbound") for p in paths) == asked
    assert sum(p.startswith("/v1/personas/twin") for p in paths) == read_by_id
    assert sum(p.startswith("/v1/inbound/") for p in paths) == 1
    assert f"{asked} agents asked" in _detail(report, "agent_twins")


def test_a_full_agent_list_warns_that_agents_are_needed_by_id(
    example_state: dict[str, Any], run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Simulator(with_agents(example_state, 500, 0), api_key=TEST_KEY) as simulator:
        point_cli_at(simulator, monkeypatch)
        code, report = _doctor_json(run_cli)
    assert (code, _statuses(report)["agents_listing"]) == (0, "warn")
    assert _detail(report, "agents_listing") == (
        "500 agents: the list came back full (500, the most the API lists, with no paging), so "
        "agents past it cannot be seen and an agent named without its id cannot be found "
        "safely (give agents by id)"
    )
