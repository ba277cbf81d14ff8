"""Answers that trickle, never end or are too large: each ends the run, nothing is written."""

from __future__ import annotations

import json
import re
import time

import pytest

from reconciler.cli import Settings
from tests.conftest import CONFIG, RunCli
from tests.scenarios.conftest import StartSim


class FastClock:
    """A clock running `factor` times faster than real time: deadlines come that much sooner."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.started = time.monotonic()

    def __call__(self) -> float:
        return self.started + (time.monotonic() - self.started) * self.factor


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_trickling_body_ends_at_the_deadline(
    start_sim: StartSim, run_cli: RunCli, seams: Settings, command: str
) -> None:
    # A byte every 10 ms: each read is far within --timeout, and every answer of the example
    # account takes more than 20 s to arrive whole, so only the deadline can end the run
    # sooner; the simulator's trickle ends by itself then, so the test cannot hang.
    sim = start_sim(trickle_seconds=0.01)
    clock = FastClock(20)
    seams.clock = clock
    args = (command, "--auto-approve", CONFIG) if command == "apply" else (command, CONFIG)
    result = run_cli("--timeout", "2", *args)
    assert result.code == 1
    assert re.fullmatch(
        r"error: GET /v1/(personas|inbound): the request's deadline \(8s, 4 x --timeout\) passed "
        r"while its answer was still arriving; stopped reading it\n",
        result.err,
    ), result.err
    assert clock() - clock.started > 8  # on the run's own clock, the deadline had passed
    assert sim.writes() == []


@pytest.mark.parametrize(
    "switches, options, said",
    [
        # Padded, with a Content-Length: refused before a byte of it is read.
        ({"large_body_bytes": 3 * 1024**2}, ("--max-response-size", "2M"), "it says 3,145,728"),
        # Chunked and endless: refused once more than the limit has come.
        ({"endless_body": True}, ("--max-response-size", "2M"), " had come)"),
        # The default limit: a 600 MiB answer is refused unread.
        ({"large_body_bytes": 600 * 1024**2}, (), "it says 629,145,600"),
    ],
)
def test_an_answer_over_the_limit_is_refused(
    start_sim: StartSim,
    run_cli: RunCli,
    switches: dict[str, object],
    options: tuple[str, ...],
    said: str,
) -> None:
    sim = start_sim(**switches, endless_body_cap=64 * 1024**2)
    result = run_cli(*options, "apply", "--auto-approve", CONFIG)
    assert result.code == 1
    limit = "2 MiB" if options else "512 MiB"
    assert re.match(
        rf"error: GET /v1/(personas|inbound): the answer is over the {limit} limit \(", result.err
    ), result.err
    assert said in result.err
    assert "raise --max-response-size or BLAND_MAX_RESPONSE_SIZE" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert sim.writes() == []


def test_the_limit_comes_from_the_environment_and_the_option_wins(
    start_sim: StartSim, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_sim(large_body_bytes=3 * 1024**2)
    monkeypatch.setenv("BLAND_MAX_RESPONSE_SIZE", "2M")
    refused = run_cli("plan", CONFIG)
    assert refused.code == 1 and "over the 2 MiB limit" in refused.err
    # Every answer is 3 MiB, and at most five are read at once (GET /v1/inbound and pages).
    allowed = run_cli("--max-response-size", "16M", "plan", CONFIG)
    assert allowed.code == 0, allowed.err


@pytest.mark.parametrize(
    "option, env, said",
    [
        ("big", None, "error: --max-response-size 'big' is not a size"),
        ("512", None, "error: --max-response-size '512' is 512 bytes, less than the least"),
        (None, "1.5G", "error: BLAND_MAX_RESPONSE_SIZE '1.5G' is not a size"),
        (None, "0", "error: BLAND_MAX_RESPONSE_SIZE '0' is 0 bytes, less than the least"),
    ],
)
def test_a_size_that_makes_no_sense_is_refused_before_any_request(
    start_sim: StartSim,
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
    option: str | None,
    env: str | None,
    said: str,
) -> None:
    sim = start_sim()
    if env is not None:
        monkeypatch.setenv("BLAND_MAX_RESPONSE_SIZE", env)
    options = ("--max-response-size", option) if option is not None else ()
    result = run_cli(*options, "plan", CONFIG)
    assert result.code == 1
    assert result.err.startswith(said)
    assert len(result.err.strip().splitlines()) == 1
    assert sim.requests == []


def _doctor_details(out: str) -> dict[str, tuple[str, str]]:
    report = json.loads(out)
    return {check["name"]: (check["status"], check["detail"]) for check in report["checks"]}


def test_doctor_stops_reading_a_trickling_answer_at_the_deadline(
    start_sim: StartSim, run_cli: RunCli, seams: Settings
) -> None:
    # Doctor reads through the client (its hooks only note each answer's headers): the client's
    # bounded reading of the body (deadline while it arrives) holds for doctor too.
    sim = start_sim(trickle_seconds=0.01)
    clock = FastClock(20)
    seams.clock = clock
    result = run_cli("--timeout", "2", "doctor", "--format", "json")
    assert result.code == 1
    status, detail = _doctor_details(result.out)["credentials"]
    assert status == "fail"
    assert detail == (
        "could not be checked: GET /v1/personas: the request's deadline (8s, 4 x --timeout) "
        "passed while its answer was still arriving; stopped reading it"
    )
    assert clock() - clock.started > 8
    assert sim.writes() == []


def test_doctor_holds_answers_to_the_response_size_limit(
    start_sim: StartSim, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_sim(large_body_bytes=3 * 1024**2)
    result = run_cli("--max-response-size", "2M", "doctor", "--format", "json")
    assert result.code == 1
    status, detail = _doctor_details(result.out)["credentials"]
    assert status == "fail"
    assert "the answer is over the 2 MiB limit (" in detail, detail
    monkeypatch.setenv("BLAND_MAX_RESPONSE_SIZE", "2M")
    from_env = run_cli("doctor", "--format", "json")
    assert "over the 2 MiB limit" in _doctor_details(from_env.out)["credentials"][1]
