"""Answers only the tests need the simulator to get wrong, played in front of it.

`TestFaults` adds these switches to the simulator's own, so they are set the same ways
(`sim.faults.update`, `POST /_sim/faults`, attributes); `with_test_faults` puts them in front of
a simulator through its `intercept` seam. The `sim` fixtures start every simulator this way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal, get_args

from reconciler.simulator import Faults, RequestRecord, Simulator
from reconciler.simulator.fault_values import FAULT_CHECKS, flag, optional, positive_int
from reconciler.simulator.replies import Reply, json_reply

MalformedShape = Literal[
    "inbound_numbers_as_one_string", "numbers_as_integers", "data_not_a_list", "persona_without_id"
]
MALFORMED_SHAPES: tuple[str, ...] = get_args(MalformedShape)


def _owner_map(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(item, str) and item for pair in value.items() for item in pair
    )


@dataclass
class TestFaults(Faults):
    """The simulator's faults, and those only tests play."""

    __test__ = False  # not a test class, whatever its name

    errors_as_string: bool = False
    """Error envelopes carry ``errors`` as a ``"CODE: message"`` string."""
    ignore_page: bool = False
    """GET /v1/personas serves page 1 whatever ``page`` asks for."""
    limit_cap: int | None = None
    """GET /v1/personas pages hold at most this many personas, whatever ``limit`` asks for."""
    inbound_owner_overrides: dict[str, str] = field(default_factory=dict)
    """number -> persona id that GET /v1/inbound names as its ``persona_id``, whatever the
    personas say; GET /v1/inbound then reports ``label`` and ``persona_id`` for every number."""
    malformed: list[MalformedShape] = field(default_factory=list)
    """Shapes the responses break: ``inbound_numbers_as_one_string`` (a persona's numbers as
    one comma-separated string), ``numbers_as_integers`` (phone numbers as JSON integers),
    ``data_not_a_list`` (the persona listing's ``data`` as an object keyed by id) and
    ``persona_without_id`` (the first persona of each listed page has no ``id``)."""

    CHECKS: ClassVar[dict[str, Callable[[object], bool]]] = {
        **FAULT_CHECKS,
        "errors_as_string": flag,
        "ignore_page": flag,
        "limit_cap": optional(positive_int),
        "inbound_owner_overrides": _owner_map,
        "malformed": lambda value: (
            isinstance(value, list) and all(v in MALFORMED_SHAPES for v in value)
        ),
    }


def with_test_faults(simulator: Simulator, **switches: Any) -> Simulator:
    """The simulator with `TestFaults` (unless it has them already) and `switches` turned on,
    played in front of it."""
    if not isinstance(simulator.faults, TestFaults):
        simulator.faults = TestFaults()
    simulator.faults.update(switches)

    def intercept(record: RequestRecord, serve: Callable[[RequestRecord], Reply]) -> Reply:
        faults = simulator.faults
        if not isinstance(faults, TestFaults):  # replaced by a test: nothing to play
            return serve(record)
        listing = record.path.rstrip("/") == "/v1/personas"
        reply = serve(_paged(record, faults) if listing else record)
        if reply.status == 200 and record.path.rstrip("/") == "/v1/inbound":
            return _reshaped_inbound(simulator, reply, faults)
        if reply.status == 200 and record.path.startswith("/v1/personas"):
            return _reshaped_personas(reply, faults, listing)
        if reply.status >= 400 and faults.errors_as_string:
            return _errors_as_string(reply)
        return reply

    simulator.intercept = intercept
    return simulator


def _paged(record: RequestRecord, faults: TestFaults) -> RequestRecord:
    query = dict(record.query)
    if faults.ignore_page:
        query["page"] = "1"
    limit = query.get("limit", "20").strip()
    if faults.limit_cap is not None and limit.isdigit() and int(limit) >= 1:
        query["limit"] = str(min(int(limit), faults.limit_cap))
    return replace(record, query=query)


def _rewritten(reply: Reply, value: Any) -> Reply:
    return json_reply(reply.status, value, reply.headers)


def _errors_as_string(reply: Reply) -> Reply:
    if reply.content_type != "application/json":
        return reply
    body = json.loads(reply.payload)
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        return reply
    return _rewritten(reply, {**body, "errors": f"{errors[0]['error']}: {errors[0]['message']}"})


def _as_integer(phone: Any, faults: TestFaults) -> Any:
    digits = phone.removeprefix("+") if isinstance(phone, str) else ""
    if "numbers_as_integers" in faults.malformed and digits.isascii() and digits.isdigit():
        return int(digits)
    return phone


def _reshaped_inbound(simulator: Simulator, reply: Reply, faults: TestFaults) -> Reply:
    overrides = faults.inbound_owner_overrides
    if not overrides and "numbers_as_integers" not in faults.malformed:
        return reply
    body = json.loads(reply.payload)
    owners = simulator.owners()
    for item in body["inbound_numbers"]:
        phone = item["phone_number"]
        if overrides:
            item["label"] = simulator.label(phone)
            item["persona_id"] = overrides.get(phone, (owners[phone] or [None])[0])
        item["phone_number"] = _as_integer(phone, faults)
    return _rewritten(reply, body)


def _reshaped_personas(reply: Reply, faults: TestFaults, listing: bool) -> Reply:
    malformed = faults.malformed
    if not malformed:
        return reply
    body = json.loads(reply.payload)
    personas = body["data"] if listing else [body["data"]]
    for persona in personas:
        numbers = persona["inbound_numbers"]
        phones = [n["phone_number"] if isinstance(n, dict) else n for n in numbers]
        if "inbound_numbers_as_one_string" in malformed:
            persona["inbound_numbers"] = ",".join(phones)
            continue
        for index, number in enumerate(numbers):
            if isinstance(number, dict):
                number["phone_number"] = _as_integer(number["phone_number"], faults)
            else:
                numbers[index] = _as_integer(number, faults)
    if listing and "data_not_a_list" in malformed:
        body["data"] = {persona["id"]: persona for persona in personas}
    if listing and personas and "persona_without_id" in malformed:
        del personas[0]["id"]
    return _rewritten(reply, body)
