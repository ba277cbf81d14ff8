"""The checks as functions of what the probes read, and run_doctor over a mock transport."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from reconciler.api import BlandClient
from reconciler.doctor import WireLog, probes, run_doctor
from reconciler.doctor import checks as checks_module
from reconciler.doctor.checks import consistency, inbound_listing, personas_listing
from reconciler.doctor.probes import Inbound, Listing, read_listing
from reconciler.errors import ApiError


def persona(pid: str, *numbers: str, deleted: bool = False) -> dict[str, Any]:
    return {
        "id": pid,
        "deleted_at": "2026-01-01T00:00:00Z" if deleted else None,
        "inbound_numbers": [
            {"phone_number": n, "label": None, "persona_settings": None} for n in numbers
        ],
    }


def people(first: int, count: int) -> list[dict[str, Any]]:
    return [persona(f"p{index}") for index in range(first, first + count)]


SMALL_OK = ((people(0, 2), None), (people(2, 2), None))


class FakeReader:
    """Answers GET /v1/personas/{id} from a table; counts what was asked."""

    def __init__(self, by_id: Mapping[str, dict[str, Any]]) -> None:
        self.by_id = by_id
        self.asked: list[str] = []

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        self.asked.append(path)
        pid = path.rsplit("/", 1)[-1]
        if pid not in self.by_id:
            raise ApiError("not found", status=404, method="GET", path=path)
        return {"data": self.by_id[pid], "errors": None}


@pytest.mark.parametrize(
    ("listing", "small", "status", "phrase"),
    [
        (
            Listing([people(0, 100), people(100, 60), people(160, 100), []], ended=True),
            SMALL_OK,
            "fail",
            "pages before the last differ in size (page 1 holds 100, page 2 60)",
        ),
        (
            Listing([people(0, 100), people(50, 10), []], ended=True),
            SMALL_OK,
            "fail",
            "persona ids repeat across pages (p50, p51, p52, and 7 more)",
        ),
        (
            Listing([people(0, 100), people(100, 5), []], ended=True),
            ((people(0, 20), None), (people(20, 20), None)),
            "warn",
            "limit=2 was answered with 20 personas: the server ignores `limit`",
        ),
        (
            Listing([people(0, 20), people(20, 20), people(40, 3), []], ended=True),
            ((people(0, 2), None), (people(2, 2), None)),
            "warn",
            "pages hold 20 personas although limit=100 was asked: the server caps `limit` at 20",
        ),
        (
            Listing([people(0, 5), []], ended=True),
            ((people(0, 2), None), ([], None)),
            "fail",
            "page 2 of limit=2 is empty although 5 personas are listed",
        ),
        (
            Listing([[{"id": "p1", "inbound_numbers": []}], []], ended=True),
            SMALL_OK,
            "warn",
            "persona objects without deleted_at: soft-deleted ones cannot be told apart",
        ),
        (
            Listing([people(0, 5)], problem="GET /v1/personas: HTTP 500 (gave up after retries)"),
            SMALL_OK,
            "fail",
            "reading stopped: GET /v1/personas: HTTP 500 (gave up after retries)",
        ),
        (
            Listing([people(0, 5), []], ended=True),
            ((people(0, 2), "GET /v1/personas: HTTP 400 INVALID_REQUEST: bad limit"), ([], None)),
            "warn",
            "limit=2 could not be checked: GET /v1/personas: HTTP 400 INVALID_REQUEST",
        ),
    ],
    ids=[
        "uneven pages",
        "overlapping pages",
        "limit ignored",
        "limit capped at the default",
        "page 2 lost",
        "no deleted_at",
        "a page failed",
        "small limit refused",
    ],
)
def test_personas_listing(listing: Listing, small: Any, status: str, phrase: str) -> None:
    check = personas_listing(listing, small)
    assert check.status == status
    assert phrase in check.detail


def test_a_listing_without_an_empty_page_does_not_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probes, "MAX_PAGES", 5)
    monkeypatch.setattr(checks_module, "MAX_PAGES", 5)

    class Endless:
        def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
            assert params is not None
            return {"data": people(params["page"] * 100, 100), "errors": None}

    listing = read_listing(Endless(), people(100, 100))
    assert (len(listing.pages), listing.ended) == (5, False)
    check = personas_listing(listing, SMALL_OK)
    assert check.status == "fail"
    assert "still no empty page after 5 pages: the listing does not end" in check.detail


def _inbound(owners: dict[str, str | None], named: bool) -> Inbound:
    return Inbound(owners=owners, named=len(owners) if named else 0)


@pytest.mark.parametrize(
    ("personas", "inbound", "status", "phrase"),
    [
        (
            [persona("a", "+1"), persona("b", "+2")],
            _inbound({"+1": "a", "+2": "b", "+3": None}, named=True),
            "ok",
            "2 numbers on personas, each on one, all on the account; GET /v1/inbound names the "
            "same owners",
        ),
        (
            [persona("a", "+1"), persona("gone", "+2", deleted=True)],
            _inbound({"+1": None, "+2": None}, named=False),
            "warn",
            "numbers on soft-deleted personas: +2",
        ),
        (
            [persona("a", "+1", "+9")],
            _inbound({"+1": None}, named=False),
            "warn",
            "on personas but not in GET /v1/inbound: +9",
        ),
        (
            [persona("a", "+1"), persona("b")],
            _inbound({"+1": None}, named=True),
            "warn",
            "GET /v1/inbound names no persona for 1 number the listing puts on one: +1",
        ),
        (
            [persona("a", "+1"), persona("b")],
            _inbound({"+1": "b"}, named=True),
            "fail",
            "name different owners for 1 number: +1",
        ),
        (
            [persona("a"), persona("b")],
            _inbound({"+1": "b"}, named=True),
            "fail",
            "name different owners for 1 number: +1",
        ),
        (
            [persona("a", "+1")],
            Inbound(problem="GET /v1/inbound: HTTP 500"),
            "warn",
            "GET /v1/inbound unreadable: only the persona listing was checked",
        ),
    ],
    ids=[
        "agree",
        "held by a deleted persona",
        "not on the account",
        "inbound names no owner",
        "inbound names another listed persona",
        "inbound names a persona whose listing is empty",
        "inbound unreadable",
    ],
)
def test_consistency(
    personas: list[dict[str, Any]], inbound: Inbound, status: str, phrase: str
) -> None:
    reader = FakeReader({})
    check = consistency(reader, Listing([personas, []], ended=True), inbound)
    assert (check.status, check.detail.count(phrase)) == (status, 1), check.detail
    assert reader.asked == []  # nothing on two personas: nothing to read again


def test_a_double_that_reading_by_id_cannot_confirm_is_a_warning() -> None:
    listed = [persona("a", "+1"), persona("b", "+1")]
    reader = FakeReader({"a": persona("a"), "b": persona("b", "+1")})
    check = consistency(reader, Listing([listed, []], ended=True), _inbound({"+1": None}, False))
    assert check.status == "warn"
    assert "the listing showed 1 number on two personas (+1), but read by id each is on one" in (
        check.detail
    )
    assert reader.asked == ["/v1/personas/a", "/v1/personas/b"]


def test_a_double_whose_personas_cannot_be_read_again_is_not_confirmed() -> None:
    listed = [persona("a", "+1"), persona("b", "+1")]
    check = consistency(FakeReader({}), Listing([listed, []], ended=True), Inbound())
    assert check.status == "warn"


def test_inbound_listing_counts_partly_named_owners() -> None:
    check = inbound_listing(Inbound(owners={"+1": "a", "+2": None, "+3": None}, named=1))
    assert (check.status, check.detail) == (
        "ok",
        "3 numbers; names an owner field (persona_id) for 1 of 3",
    )


def _client(handler: Any) -> tuple[BlandClient, WireLog]:
    wire = WireLog(httpx.MockTransport(handler))
    client = BlandClient(
        "https://api.example.test",
        "sk-unit-key",
        transport=wire,
        sleep=lambda _seconds: None,
        attempts=2,
    )
    return client, wire


def test_run_doctor_over_an_api_without_envelopes() -> None:
    """Bare lists for pages and for GET /v1/inbound; a legacy {error} for a missing persona."""
    everyone = [persona("a", "+1"), persona("b")]

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "GET"
        if request.url.path == "/v1/inbound":
            return httpx.Response(200, json=[{"phone_number": "+1"}, "+2"])
        if request.url.path != "/v1/personas":
            return httpx.Response(404, json={"error": "Not found"})
        page, limit = int(request.url.params["page"]), int(request.url.params["limit"])
        return httpx.Response(200, json=everyone[(page - 1) * limit : page * limit])

    client, wire = _client(handler)
    with client:
        report = run_doctor(client, wire, "BLAND_API_KEY")
    statuses = {check.name: check.status for check in report.checks}
    assert statuses == {
        "credentials": "ok",
        "personas_listing": "ok",
        "inbound_listing": "ok",
        "response_shapes": "warn",
        "consistency": "ok",
    }
    shapes = report.checks[3].detail
    assert "answered with a bare {error}, without an error code" in shapes
    assert "HTTP 404: a bare {error}" in shapes
    assert report.persona_pages == 2
    assert len(report.exchanges) == 6


def test_a_key_without_permission_fails_credentials() -> None:
    client, wire = _client(
        lambda request: httpx.Response(
            403, json={"data": None, "errors": [{"error": "FORBIDDEN", "message": "no"}]}
        )
    )
    with client:
        report = run_doctor(client, wire, "the file /k (--api-key-file)")
    assert report.checks[0].detail == (
        "the API key from the file /k (--api-key-file) may not list personas (HTTP 403 FORBIDDEN)"
    )
    assert [check.detail for check in report.checks[1:]] == [
        "not checked: the API key was not accepted"
    ] * 4
    assert report.failed


def test_a_key_refused_on_one_endpoint_stops_the_probes_after_it() -> None:
    """After a 403 the client sends nothing more: the checks say so, not 'HTTP None'."""
    forbidden = {"data": None, "errors": [{"error": "FORBIDDEN", "message": "no"}]}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/inbound":
            return httpx.Response(403, json=forbidden)
        return httpx.Response(200, json={"data": [persona("a", "+1")], "errors": None})

    client, wire = _client(handler)
    with client:
        report = run_doctor(client, wire, "BLAND_API_KEY")
    details = {check.name: (check.status, check.detail) for check in report.checks}
    assert details["credentials"][0] == "ok"
    assert details["inbound_listing"] == (
        "fail",
        "GET /v1/inbound: HTTP 403 FORBIDDEN: no (the API key lacks permission for this call)",
    )
    assert details["response_shapes"][0] == "warn"
    assert (
        "the error envelope could not be seen: GET /v1/personas/" in (details["response_shapes"][1])
    )
    assert "not sent: the run stopped on an authorisation error" in details["response_shapes"][1]
    assert "HTTP None" not in details["response_shapes"][1]
