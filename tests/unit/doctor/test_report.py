"""Report notes, through the client's event hooks, what each request got, and sums it up."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reconciler.api import BlandClient
from reconciler.api.transport import EventHooks
from reconciler.doctor import run_doctor
from reconciler.doctor.report import Report
from reconciler.errors import ApiError, InputError


def _client(handler: Any, report: Report) -> BlandClient:
    return BlandClient(
        "https://api.example.test",
        "sk-unit-key",
        transport=httpx.MockTransport(handler),
        event_hooks=report.event_hooks,
        sleep=lambda _seconds: None,
        attempts=3,
    )


def test_every_attempt_is_counted_and_each_answer_noted_unchanged() -> None:
    answers = [
        httpx.Response(429, json={"message": "slow"}, headers={"Retry-After": "0"}),
        httpx.Response(200, json={"data": [1]}, headers={"X-RateLimit-Remaining": "4"}),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/down":
            raise httpx.ConnectError("refused", request=request)
        return answers.pop(0)

    report = Report()
    with _client(handler, report) as client:
        assert client.get_json("/v1/personas", {"page": 1}) == {"data": [1]}
        with pytest.raises(ApiError, match="cannot connect"):
            client.get_json("/down")
    measured = report.to_json()
    assert measured["requests"] == 5  # two to /v1/personas, three unanswered ones to /down
    assert len(report.seconds) == 2  # the 429 and the 200
    assert measured["rate_limit_headers"] == {"retry-after": "0", "x-ratelimit-remaining": "4"}
    assert set(measured["latency_ms"]) == {"median", "max"}
    assert report.redirect_to == ""


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("https://login.example/sso?next=1", "login.example"),
        ("/v2/personas", "api.example.test"),
        ("http://a:b:c/", ""),  # httpx cannot read it
    ],
)
def test_a_redirect_notes_the_host_its_location_names(location: str, host: str) -> None:
    report = Report()
    redirect = httpx.Response(307, headers={"location": location})
    with _client(lambda request: redirect, report) as client, pytest.raises(ApiError):
        client.get_json("/v1/personas")
    assert report.redirect_to == host


def test_a_report_of_no_request_measures_nothing() -> None:
    def connect(event_hooks: EventHooks) -> BlandClient:  # as the CLI's when no key is set
        raise InputError("BLAND_API_KEY is not set")

    report = run_doctor(connect, "BLAND_API_KEY")
    assert report.stopped == "the checks need a key the API accepts"
    assert report.to_json() == {
        "checks": [
            {"name": "credentials", "status": "fail", "detail": "BLAND_API_KEY is not set"},
            *[
                {"name": name, "status": "fail", "detail": "not checked: no usable API key"}
                for name in (
                    "personas_listing",
                    "inbound_listing",
                    "response_shapes",
                    "consistency",
                    "agents_listing",
                    "agent_twins",
                    "inbound_number",
                )
            ],
        ],
        "failed": True,
        "requests": 0,
        "latency_ms": None,
        "persona_pages": 0,
        "rate_limit_headers": {},
    }


def test_text_from_the_api_is_made_safe_to_print_in_both_formats() -> None:
    report = Report()
    report.checks = {"consistency": ("fail", "call\nme \x1b[2J")}
    report.rate_limit_headers = {"x-ratelimit-remaining": "4\n5"}
    text = report.to_text("https://api.example.test")
    assert "call\\x0ame \\x1b[2J" in text and "x-ratelimit-remaining: 4\\x0a5" in text
    assert len(text.splitlines()) == 5
    assert report.to_json()["checks"][0]["detail"] == "call\\x0ame \\x1b[2J"
