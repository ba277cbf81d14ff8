"""Answers only the tests need the simulator to get wrong, played in front of it.

`TestFaults` adds these switches to the simulator's own, so they are set the same ways
(`sim.faults.update`, `POST /_sim/faults`, attributes); `with_test_faults` puts them in front of
a simulator through the `intercept` seam of `Simulator` here. The `sim` fixtures start every
simulator this way. `Simulator` here also plays scripted statuses and dropped answers, the
dashboard between two writes (`on_write`), and writes `Streamed` replies piece by piece.
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal, get_args
from urllib.parse import quote, unquote

from reconciler import simulator as package
from reconciler.simulator import RequestRecord
from reconciler.simulator.account import PERSONA_NOT_FOUND, Account, SimulatedError
from reconciler.simulator.api import Call, Endpoint, Reply, error_reply, json_reply
from reconciler.simulator.faults import Faults
from reconciler.simulator.server import reply_head

MalformedShape = Literal[
    "inbound_numbers_as_one_string", "numbers_as_integers", "data_not_a_list", "persona_without_id"
]
MALFORMED_SHAPES: tuple[str, ...] = get_args(MalformedShape)
AttachMode = Literal["steal", "refuse", "refuse_as_invalid", "keep_old"]
PIECE_SIZE = 64 * 1024
HTML_ERROR_PAGE = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
# Seconds a streamed body waits for a client that stopped reading before it gives up.
SEND_TIMEOUT = 10.0
# (the request as logged, the simulator's own way to serve a request) -> the reply
Intercept = Callable[[RequestRecord, Callable[[RequestRecord], Reply]], Reply]
# What a scripted status answers besides 429: every 5xx the 500's error, any other the 400's.
SCRIPTED_ERRORS = {
    400: ("INVALID_REQUEST", "Invalid request"),
    401: ("AUTH_FAILURE", "Invalid or missing API key"),
    403: ("FORBIDDEN", "You do not have permission to perform this action"),
    404: PERSONA_NOT_FOUND,
    500: ("INTERNAL_SERVER_ERROR", "An internal server error occurred"),
}
# The path segment that names a number: of GET /v1/inbound/{number} and of a settings PATCH.
NUMBER_IN_PATH = re.compile(r"/v1/inbound/([^/]+)/?|/v1/personas/[^/]+/inbound/([^/]+)/settings/?")


@dataclass
class Streamed(Reply):
    """A reply whose body is written piece by piece after its head, whose own headers frame
    it (with ``Connection: close``: the connection closes after it)."""

    pieces: Iterator[bytes] = field(default_factory=lambda: iter(()))


@dataclass
class Unsent(Reply):
    """A reply never written: the connection closes without an answer (lost, or hung)."""


def streamed(reply: Reply, pieces: Iterator[bytes]) -> Streamed:
    """``reply`` with ``pieces`` for a body."""
    return Streamed(**vars(reply), pieces=pieces)


class Simulator(package.Simulator):
    """The package's simulator with seams only tests play:

    - `intercept`, when set, answers an API request (after it is logged), calling `serve`
      for the simulator's own answer;
    - the scripted statuses of `TestFaults`, met once a request is routed, and its dropped
      answers, once a write is performed;
    - `on_write(simulator, record)`, when set, runs before each write is performed, with the
      lock held, as a change in the dashboard just before the write arrives;
    - the attach modes of `TestFaults`, and `Streamed` replies written piece by piece.
    """

    intercept: Intercept | None = None
    on_write: Callable[[Simulator, RequestRecord], None] | None = None

    def serve(self, record: RequestRecord, authorised: bool, body_ok: bool) -> Reply:
        own = partial(super().serve, authorised=authorised, body_ok=body_ok)
        return own(record) if self.intercept is None else self.intercept(record, own)

    def perform(self, record: RequestRecord, endpoint: Endpoint, call: Call) -> Reply:
        faults = self.faults
        if isinstance(faults, TestFaults):
            is_write = record.kind == "write"
            scripted = faults.pop_status(is_write)
            if scripted and not 200 <= scripted < 300:
                return faults.scripted_reply(scripted)
            if is_write and faults.take("drop_after_write"):
                # Performed, its answer (or its error) logged but never sent.
                try:
                    return Unsent(self._perform(record, endpoint, call).status)
                except SimulatedError as exc:
                    return Unsent(exc.args[0])
        return self._perform(record, endpoint, call)

    def _perform(self, record: RequestRecord, endpoint: Endpoint, call: Call) -> Reply:
        if record.kind == "write" and self.on_write is not None:
            self.on_write(self, record)
        mode = getattr(self.faults, "attach_mode", "steal")
        if endpoint is not Call.attach_or_detach or call.params[1] != "attach" or mode == "steal":
            return endpoint(call)
        return _attach_in_mode(call, mode, endpoint)

    def send(self, connection: socket.socket, reply: Reply) -> None:
        if not isinstance(reply, Unsent | Streamed):
            return super().send(connection, reply)
        if isinstance(reply, Streamed):
            connection.sendall(reply_head(reply, {}))
            connection.settimeout(SEND_TIMEOUT)
            for piece in reply.pieces:
                connection.sendall(piece)
        # The connection closes after it: the package's own loop then reads no more.
        connection.shutdown(socket.SHUT_RDWR)
        return None


def _attach_in_mode(call: Call, mode: str, endpoint: Endpoint) -> Reply:
    """A v1 attach where a number another persona holds is refused (409 or the documented
    400) or kept on both (`attach_mode`)."""
    account, numbers, persona = call.account, call.numbers(), call.persona()
    account.refuse_unknown(numbers)
    in_use = [n for n in numbers if any(o != persona.id for o in account.numbers[n].owners)]
    if in_use and mode == "refuse":
        message = "Some inbound numbers are already attached to another persona"
        raise SimulatedError(409, "INBOUND_NUMBER_IN_USE", message, {"phone_numbers": in_use})
    if in_use and mode == "refuse_as_invalid":
        message = "Some inbound numbers were not found or do not belong to you"
        raise SimulatedError(400, "INVALID_INBOUND_NUMBERS", message, {"invalid_numbers": in_use})
    if mode != "keep_old":
        return endpoint(call)
    # The other owners keep the number: hidden from the attach, then put back.
    held = {phone: account.numbers[phone].owners for phone in numbers}
    for phone, owners in held.items():
        account.numbers[phone].owners = [o for o in owners if o == persona.id]
    reply = endpoint(call)
    for phone, owners in held.items():
        account.numbers[phone].owners = owners + [persona.id] * (persona.id not in owners)
    return reply


def set_owner(account: Account, phone: str, persona_id: str | None) -> None:
    """Make ``persona_id`` the only owner of ``phone`` (None = unrouted), as the dashboard
    does: nothing else of the number or the personas changes."""
    record = account.numbers[phone]
    for old in [owner for owner in record.owners if owner != persona_id]:
        account.detach(account.personas[old], [phone])
    if persona_id is not None and persona_id not in record.owners:
        account.personas[persona_id].numbers[phone] = None
        record.owners.append(persona_id)


def count(value: object) -> bool:
    return type(value) is int and value >= 0


def a_listing_move(value: object) -> bool:
    return value is None or (
        isinstance(value, dict)
        and set(value) == {"number", "to_persona", "after_page"}
        and all(
            isinstance(value[key], str) and value[key].strip() for key in ("number", "to_persona")
        )
        and value["after_page"] in range(1, 1 << 31)
    )


def statuses(value: object) -> bool:
    return isinstance(value, list) and all(
        type(status) is int and (status == 0 or 100 <= status <= 599) for status in value
    )


def texts(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(text, str) and text.strip() for pair in value.items() for text in pair
    )


# What the switches of `TestFaults` take, by declared type where `Faults.accepts` does not say.
TYPE_CHECKS: dict[str, Callable[[object], bool]] = {
    "int": count,
    "list[int]": statuses,
    "dict[str, str]": texts,
    "str | None": lambda value: value is None or isinstance(value, str),
}
# ... and by name, where the type alone does not say it.
OWN_CHECKS: dict[str, Callable[[object], bool]] = {
    "attach_mode": lambda value: value in get_args(AttachMode),
    "hang_writes_after": lambda value: value is None or count(value),
    "endless_body_cap": lambda value: count(value) and value != 0,
    "limit_cap": lambda value: value is None or (count(value) and value != 0),
    "move_during_listing": a_listing_move,
    "malformed": lambda value: (
        isinstance(value, list) and all(v in MALFORMED_SHAPES for v in value)
    ),
}


@dataclass(slots=True)
class TestFaults(Faults):
    """The simulator's faults, and those only tests play."""

    __test__ = False  # not a test class, whatever its name

    read_statuses: list[int] = field(default_factory=list)
    """Scripted statuses for the next reads; one is popped per read. 0 or 2xx = serve normally."""
    write_statuses: list[int] = field(default_factory=list)
    """Scripted statuses for the next writes; a scripted error does not perform the write."""
    retry_after: str | None = None
    """Retry-After header value sent with scripted 429 responses."""
    drop_after_write: int = 0
    """The next N writes are applied, then the connection is closed without a response."""
    listing_spellings: dict[str, str] = field(default_factory=dict)
    """number -> how persona objects spell it (``+1 415 5550100``, ``14155550100``, any text)."""
    inbound_spellings: dict[str, str] = field(default_factory=dict)
    """number -> how GET /v1/inbound and GET /v1/inbound/{number} spell it. A write, and the
    path of GET /v1/inbound/{number}, may name a number in either spelling or the account's."""
    attach_mode: AttachMode = "steal"
    """Attaching a number another persona holds: move it, refuse (409 INBOUND_NUMBER_IN_USE),
    refuse as the one documented attach error (400 INVALID_INBOUND_NUMBERS) or keep it on both."""
    html_errors: bool = False
    """Scripted error bodies are an HTML gateway page instead of JSON."""
    hang: int = 0
    """The next N API requests never get an answer."""
    hang_writes_after: int | None = None
    """Once this many writes have been served (counted from when the field was set), every
    later write hangs."""
    hang_timeout: float = 600.0
    """Cap on how long a hung request waits before its connection is closed; stop() wakes it."""
    inbound_numbers_as_strings: bool = False
    """Persona objects list ``inbound_numbers`` as bare strings."""
    trickle_seconds: float = 0.0
    """API response bodies are sent one byte at a time, this many seconds apart (0 = off)."""
    large_body_bytes: int = 0
    """API response bodies are padded with whitespace up to this many bytes (0 = off)."""
    endless_body: bool = False
    """API response bodies never end (chunked whitespace, cut off at ``endless_body_cap``)."""
    endless_body_cap: int = 2 * 1024**3
    """Bytes after which an endless body is cut off, should no client hang up before."""
    errors_as_string: bool = False
    """Error envelopes carry ``errors`` as a ``"CODE: message"`` string."""
    ignore_page: bool = False
    """GET /v1/personas serves page 1 whatever ``page`` asks for."""
    limit_cap: int | None = None
    """GET /v1/personas pages hold at most this many personas, whatever ``limit`` asks for."""
    inbound_owner_overrides: dict[str, str] = field(default_factory=dict)
    """number -> persona id that GET /v1/inbound names as its ``persona_id``, whatever the
    personas say; GET /v1/inbound then reports ``label`` and ``persona_id`` for every number."""
    move_during_listing: dict[str, Any] | None = None
    """A change between two page reads of GET /v1/personas, as from the dashboard: once page
    ``after_page`` is served, ``number`` leaves its persona for ``to_persona`` (once), so that
    a client reading on sees the number twice."""
    malformed: list[MalformedShape] = field(default_factory=list)
    """Shapes the responses break: ``inbound_numbers_as_one_string`` (a persona's numbers as
    one comma-separated string), ``numbers_as_integers`` (phone numbers as JSON integers),
    ``data_not_a_list`` (the persona listing's ``data`` as an object keyed by id) and
    ``persona_without_id`` (the first persona of each listed page has no ``id``)."""

    _writes_served: int = field(default=0, init=False, repr=False, compare=False)
    # Held while a counter or a scripted-status list changes in place.
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def accepts(self, name: str, value: Any) -> bool:
        check = OWN_CHECKS.get(name) or TYPE_CHECKS.get(self.switches()[name])
        return check(value) if check else Faults.accepts(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        # Arming hang_writes_after starts a fresh count, so "hang after k writes" means k more
        # writes from now, not k writes since the simulator started.
        if name == "hang_writes_after":
            object.__setattr__(self, "_writes_served", 0)
        object.__setattr__(self, name, value)

    def pop_status(self, is_write: bool) -> int:
        """Pop the next scripted status for a read or write; 0 when none is scripted."""
        with self._lock:
            queue = self.write_statuses if is_write else self.read_statuses
            return queue.pop(0) if queue else 0

    def scripted_reply(self, status: int) -> Reply:
        """The error reply for a scripted status, in the shape the faults ask for."""
        error = SCRIPTED_ERRORS.get(min(status, 500), SCRIPTED_ERRORS[400])
        reply = error_reply(status, *error)
        if status == 429:
            headers = {} if self.retry_after is None else {"Retry-After": self.retry_after}
            reply = json_reply(429, {"status": "error", "message": "Rate limit exceeded"}, headers)
        if not self.html_errors:
            return reply
        html = {**reply.headers, "Content-Type": "text/html; charset=utf-8"}
        return replace(reply, payload=HTML_ERROR_PAGE, headers=html)

    def take(self, name: str) -> bool:
        """Consume one token of the counter ``name`` (e.g. ``hang``), if any is left."""
        with self._lock:
            left = getattr(self, name)
            if left > 0:
                setattr(self, name, left - 1)
            return bool(left > 0)

    def stored_number(self, spelled: Any) -> Any:
        """The number ``spelled`` names, as the account stores it; else ``spelled`` itself."""
        if not isinstance(spelled, str):
            return spelled
        spellings = (self.inbound_spellings, self.listing_spellings)
        named = (n for s in spellings for n, shown in s.items() if shown == spelled.strip())
        return next(named, spelled)

    def move_after_page(self, page: int, account: Account) -> None:
        """Make the move due now that ``page`` of the listing was served, if any (once); a
        number or persona the account lacks leaves it undone."""
        with self._lock:
            move = self.move_during_listing
            if move is None or move["after_page"] != page:
                return
            self.move_during_listing = None
        if move["number"] in account.numbers and move["to_persona"] in account.personas:
            set_owner(account, move["number"], move["to_persona"])

    def take_hang(self, is_write: bool) -> bool:
        """Decide whether this request hangs, consuming one ``hang`` token if so."""
        if self.take("hang"):
            return True
        with self._lock:
            if not is_write or self.hang_writes_after is None:
                return False
            if self._writes_served >= self.hang_writes_after:
                return True
            self._writes_served += 1
            return False


def with_test_faults(simulator: Simulator, **switches: Any) -> Simulator:
    """The simulator with `TestFaults` (unless it has them already) and `switches` turned on,
    played in front of it."""
    if not isinstance(simulator, Simulator):  # the package's own has no intercept seam
        raise TypeError("the tests' faults need tests.simulator_faults.Simulator")
    if not isinstance(simulator.faults, TestFaults):
        simulator.faults = TestFaults()
    simulator.faults.update(switches)

    def intercept(record: RequestRecord, serve: Callable[[RequestRecord], Reply]) -> Reply:
        faults = simulator.faults
        if not isinstance(faults, TestFaults):  # replaced by a test: nothing to play
            return serve(record)
        if faults.take_hang(record.kind == "write"):
            simulator.stopping.wait(faults.hang_timeout)
            return Unsent(0)
        listing = record.path.rstrip("/") == "/v1/personas"
        served = _as_stored(_paged(record, faults) if listing else record, faults)
        if listing and faults.move_during_listing is not None:
            with simulator.lock:  # the move follows its page before another page is served
                reply = serve(served)
                if reply.status == 200:
                    faults.move_after_page(int(served.query.get("page", 1)), simulator.account)
        else:
            reply = serve(served)
        if isinstance(reply, Unsent):
            return reply
        reply = _respelled(record.path, reply, faults)
        if reply.status == 200 and record.path.rstrip("/") == "/v1/inbound":
            reply = _reshaped_inbound(simulator, reply, faults)
        elif reply.status == 200 and record.path.startswith("/v1/personas"):
            reply = _reshaped_personas(reply, faults, listing)
        elif reply.status >= 400 and faults.errors_as_string:
            reply = _errors_as_string(reply)
        return _misdelivered(reply, faults, simulator.stopping)

    simulator.intercept = intercept
    return simulator


def _misdelivered(reply: Reply, faults: TestFaults, stopping: threading.Event) -> Reply:
    """The reply with its body trickled, padded or endless, as the faults ask; the connection
    closes after such a body."""
    if not (faults.trickle_seconds > 0 or faults.large_body_bytes > 0 or faults.endless_body):
        return reply
    if faults.endless_body:
        framing = {"Transfer-Encoding": "chunked", "Connection": "close"}
    else:
        size = max(len(reply.payload), faults.large_body_bytes)
        framing = {"Content-Length": str(size), "Connection": "close"}
    pieces = _body_pieces(reply.payload, faults, stopping)
    return streamed(replace(reply, headers={**framing, **reply.headers}), pieces)


def _body_pieces(payload: bytes, faults: TestFaults, stopping: threading.Event) -> Iterator[bytes]:
    if faults.endless_body:
        # An endless body starts like a persona listing, then pads it with whitespace for ever.
        pieces: Iterator[bytes] = itertools.chain(
            [b'{"data":['], itertools.repeat(b" " * PIECE_SIZE)
        )
    else:
        padding = max(0, faults.large_body_bytes - len(payload))
        fillers = [b" " * PIECE_SIZE] * (padding // PIECE_SIZE) + [b" " * (padding % PIECE_SIZE)]
        pieces = itertools.chain([payload], fillers)
    sent = 0
    for piece in pieces:
        parts = [piece[i : i + 1] for i in range(len(piece))] if faults.trickle_seconds else [piece]
        for part in parts:
            if faults.endless_body and sent >= faults.endless_body_cap:
                return
            yield b"%x\r\n%s\r\n" % (len(part), part) if faults.endless_body else part
            sent += len(part)
            if faults.trickle_seconds and stopping.wait(faults.trickle_seconds):
                return


def _paged(record: RequestRecord, faults: TestFaults) -> RequestRecord:
    query = dict(record.query)
    if faults.ignore_page:
        query["page"] = "1"
    limit = query.get("limit", "20").strip()
    if faults.limit_cap is not None and limit.isdigit() and int(limit) >= 1:
        query["limit"] = str(min(int(limit), faults.limit_cap))
    return replace(record, query=query)


def _as_stored(record: RequestRecord, faults: TestFaults) -> RequestRecord:
    """The request with each number its body or path names in a spelling of the faults spelled
    as the account stores it (the log keeps it as sent)."""
    if not (faults.listing_spellings or faults.inbound_spellings):
        return record
    body, path = record.body, record.path
    if isinstance(body, dict):
        body = dict(body)
        if isinstance(body.get("inbound_numbers"), list):
            body["inbound_numbers"] = [faults.stored_number(n) for n in body["inbound_numbers"]]
        if "phoneNumber" in body:
            body["phoneNumber"] = faults.stored_number(body["phoneNumber"])
    if (found := NUMBER_IN_PATH.fullmatch(path)) and found.lastindex:
        spelled = unquote(found[found.lastindex])
        if (stored := faults.stored_number(spelled)) != spelled:
            start, end = found.span(found.lastindex)
            path = path[:start] + quote(stored) + path[end:]
    return replace(record, body=body, path=path)


def _respelled(path: str, reply: Reply, faults: TestFaults) -> Reply:
    """A 200 reply with the numbers of its persona objects or inbound numbers spelled as the
    faults spell them."""
    inbound = path.startswith("/v1/inbound")
    spellings = faults.inbound_spellings if inbound else faults.listing_spellings
    if reply.status != 200 or not spellings or not (inbound or path.startswith("/v1/personas")):
        return reply
    body = json.loads(reply.payload)
    if inbound:
        shown = body.get("inbound_numbers", [body])
    else:
        data = body["data"]
        personas = data if isinstance(data, list) else [data]
        shown = [n for p in personas for n in p.get("inbound_numbers", [])]
    for number in shown:
        number["phone_number"] = spellings.get(number["phone_number"], number["phone_number"])
    return _rewritten(reply, body)


def _rewritten(reply: Reply, value: Any) -> Reply:
    return json_reply(reply.status, value, reply.headers)


def _errors_as_string(reply: Reply) -> Reply:
    if reply.headers.get("Content-Type", "application/json") != "application/json":
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
    with simulator.lock:
        for item in body["inbound_numbers"]:
            phone = item["phone_number"]
            if overrides:
                number = simulator.account.numbers[phone]
                item["label"] = number.label
                item["persona_id"] = overrides.get(phone, (number.owners or [None])[0])
            item["phone_number"] = _as_integer(phone, faults)
    return _rewritten(reply, body)


def _reshaped_personas(reply: Reply, faults: TestFaults, listing: bool) -> Reply:
    malformed = faults.malformed
    if not (malformed or faults.inbound_numbers_as_strings):
        return reply
    body = json.loads(reply.payload)
    personas = body["data"] if listing else [body["data"]]
    if any("inbound_numbers" not in persona for persona in personas):
        return reply  # not a persona: the settings answer
    for persona in personas:
        numbers = persona["inbound_numbers"]
        phones = [n["phone_number"] if isinstance(n, dict) else n for n in numbers]
        if faults.inbound_numbers_as_strings:
            persona["inbound_numbers"] = numbers = phones
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
