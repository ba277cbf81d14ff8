"""The simulator as a whole: its lifecycle, the path of a request (and the faults on it), the
request log, the ``/_sim`` control API, and helpers for tests to read and change the account.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from copy import deepcopy
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from .account import JSONObject, SimulatedError, account_from_state, export_state
from .api import ROUTES, Request, error_reply
from .faults import Faults
from .httpd import Reply, SimulatorHTTPServer, json_reply

log = logging.getLogger(__name__)
H = TypeVar("H")

WRITE_METHODS = frozenset({"POST", "PATCH", "DELETE", "PUT"})


@dataclass(frozen=True)
class RequestRecord:
    """One API request as the simulator saw it.

    ``status`` is the HTTP status the simulator decided on; 0 while the request is in flight
    and for requests that hung. ``dropped`` marks writes that were applied but whose
    connection was closed before any response was sent.
    """

    method: str
    path: str
    query: dict[str, str]
    status: int
    body: Any
    kind: Literal["read", "write"]
    persona_id: str | None
    dropped: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The record as served by GET /_sim/log."""
        return asdict(self)


# (the request as logged, the simulator's own way to serve a request) -> the reply
Intercept = Callable[[RequestRecord, Callable[[RequestRecord], Reply]], Reply]


class Simulator:
    """A fake Bland API server on 127.0.0.1, backed by an in-memory account."""

    def __init__(
        self,
        state: Mapping[str, Any] | None = None,
        api_key: str = "test-key",
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
    ) -> None:
        self._account = account_from_state(state or {})
        self.api_key = api_key
        self.host = host
        self.port = port
        self.faults = faults if faults is not None else Faults()
        self.on_write: Callable[[Simulator, RequestRecord], None] | None = None
        # Stands in front of the simulator's own way to serve an API request (after it is
        # logged): tests play answers the simulator itself has no switch for.
        self.intercept: Intercept | None = None
        # Set while stopping: whatever waits (latency, a test's hang, a stream) wakes on it.
        self.stopping = threading.Event()
        # Reentrant so an on_write callback can call the helpers below.
        self._lock = threading.RLock()
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._server: SimulatorHTTPServer | None = None

    def start(self) -> Simulator:
        """Start serving on a background thread (a no-op if already serving)."""
        if self._server is None:
            self.stopping = threading.Event()
            self._server = SimulatorHTTPServer(self)
            self.port = self._server.server_address[1]
        return self

    def stop(self) -> None:
        """Stop serving: wake hung requests, close the listener and every open connection."""
        server, self._server = self._server, None
        if server is not None:
            self.stopping.set()
            server.stop()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL clients use; only while serving."""
        if self._server is None:
            raise RuntimeError("simulator is not running")
        return f"http://{self.host}:{self.port}"

    # ----------------------------------------------------------------- request log

    @property
    def requests(self) -> list[RequestRecord]:
        """Every API request so far, in arrival order (control requests excluded)."""
        with self._log_lock:
            return list(self._log)

    def reads(self) -> list[RequestRecord]:
        """The logged requests that were reads."""
        return [r for r in self.requests if r.kind == "read"]

    def writes(self) -> list[RequestRecord]:
        """The logged requests that were writes."""
        return [r for r in self.requests if r.kind == "write"]

    def clear_log(self) -> None:
        """Forget every logged request."""
        with self._log_lock:
            self._log = []

    # ----------------------------------------------------------------- the account

    def owners(self) -> dict[str, list[str]]:
        """Each number of the account and the personas it is attached to."""
        with self._lock:
            return {phone: list(rec.owners) for phone, rec in self._account.numbers.items()}

    def persona_numbers(self, persona_id: str) -> list[str]:
        """The numbers attached to a persona, sorted."""
        with self._lock:
            return sorted(self._account.personas[persona_id].numbers)

    def persona_settings(self, persona_id: str, phone_number: str) -> JSONObject | None:
        """A copy of the persona_settings of one number of a persona."""
        with self._lock:
            return deepcopy(self._account.personas[persona_id].numbers[phone_number])

    def set_persona_settings(
        self, persona_id: str, phone_number: str, settings: Mapping[str, Any] | None
    ) -> None:
        """Set the persona_settings of a number the persona has (KeyError otherwise)."""
        with self._lock:
            numbers = self._account.personas[persona_id].numbers
            if phone_number not in numbers:
                raise KeyError(phone_number)
            numbers[phone_number] = None if settings is None else deepcopy(dict(settings))

    def label(self, phone_number: str) -> str | None:
        """The label of a number of the account (KeyError if it has no such number)."""
        with self._lock:
            return self._account.numbers[phone_number].label

    def add_persona(
        self, id: str, name: str, numbers: Iterable[str] = (), deleted: bool = False
    ) -> None:
        """Add a persona, taking the given numbers from whoever holds them."""
        with self._lock:
            self._account.add_persona(id, name, numbers, deleted)

    def delete_persona(self, id: str, detach_numbers: bool = False) -> None:
        """Soft-delete a persona, optionally detaching its numbers first."""
        with self._lock:
            self._account.delete_persona(id, detach_numbers)

    def add_number(self, phone_number: str, label: str | None = None) -> None:
        """Add an inbound number to the account, or relabel it."""
        with self._lock:
            self._account.put_number(phone_number, label)

    def set_owner(self, phone_number: str, persona_id: str | None) -> None:
        """Make a persona the only holder of a number (None = no persona)."""
        with self._lock:
            self._account.set_owner(phone_number, persona_id)

    def export_state(self) -> JSONObject:
        """The account in state-file form."""
        with self._lock:
            return export_state(self._account)

    def load(self, state: Mapping[str, Any]) -> None:
        """Replace the whole account (the request log and faults are kept)."""
        account = account_from_state(state)
        with self._lock:
            self._account = account

    # ----------------------------------------------------------------- requests

    def handle(self, method: str, target: str, auth: str | None, raw_body: bytes) -> Reply:
        """Serve one request; runs on the connection's handler thread."""
        split = urlsplit(target)
        path = split.path
        body, body_ok = _parse_json(raw_body)
        if path == "/_sim" or path.startswith("/_sim/"):
            return self._control(method, path.rstrip("/") or "/", auth, body, body_ok)
        api_path = path.startswith(("/v1/", "/v2/")) or path == "/inbound/update_label"
        persona = re.match(r"/v1/personas/([^/]+)", path)
        record = RequestRecord(
            method=method,
            path=path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            status=0,
            body=body,
            kind="write" if method in WRITE_METHODS and api_path else "read",
            persona_id=unquote(persona[1]) if persona else None,
        )
        with self._log_lock:
            entries, index = self._log, len(self._log)
            entries.append(record)
        serve = partial(self._serve, auth=auth, body_ok=body_ok)
        try:
            reply = serve(record) if self.intercept is None else self.intercept(record, serve)
        except Exception:
            log.exception("simulator failed on %s %s", method, path)
            reply = error_reply(SimulatedError(500, "INTERNAL_SERVER_ERROR", "Simulator error"))
        with self._log_lock:  # after clear_log() this slot is in a discarded list: harmless
            entries[index] = replace(record, status=reply.status, dropped=reply.dropped)
        return reply

    def _serve(self, record: RequestRecord, auth: str | None, body_ok: bool) -> Reply:
        faults = self.faults
        if faults.latency > 0:
            self.stopping.wait(faults.latency)
        found = route(ROUTES, record.method, record.path)
        if isinstance(found, Reply) or auth != self.api_key:
            return found if isinstance(found, Reply) else _auth_failure()
        handler, params = found
        is_write = record.kind == "write"
        scripted = faults.pop_status(is_write)
        if scripted and not 200 <= scripted < 300:
            return scripted_reply(scripted, faults)
        with self._lock:
            if is_write and self.on_write is not None:
                self.on_write(self, record)
            try:
                if is_write and not body_ok:
                    raise SimulatedError(400, "INVALID_BODY", "Request body is not valid JSON")
                request = Request(params, record.query, record.body)
                reply = handler(self._account, faults, request)
            except SimulatedError as exc:
                reply = error_reply(exc)
        if is_write and faults.take("drop_after_write"):
            return Reply(reply.status, send=False, dropped=True)
        return reply

    def _control(self, method: str, path: str, auth: str | None, body: Any, ok: bool) -> Reply:
        """The ``/_sim`` endpoints: never logged, delayed or faulted."""
        found = route(CONTROL_ROUTES, method, path)
        if isinstance(found, Reply) or auth != self.api_key:
            return found if isinstance(found, Reply) else _auth_failure()
        try:
            if not ok:
                raise ValueError("Body is not valid JSON")
            if method == "POST" and path in ("/_sim/state", "/_sim/faults"):
                if not isinstance(body, dict):
                    raise ValueError("expected a JSON object")
                if path == "/_sim/state":
                    self.load(body)
                else:
                    self.faults.update(body)
        except ValueError as exc:
            return error_reply(SimulatedError(400, "INVALID_BODY", str(exc)))
        if path == "/_sim/log":
            return json_reply(200, {"requests": [r.to_dict() for r in self.requests]})
        if path == "/_sim/log/clear":
            self.clear_log()
            return json_reply(200, {"status": "success"})
        if path == "/_sim/state":
            return json_reply(200, self.export_state())
        return json_reply(200, self.faults.to_dict())


# The control API; what each endpoint does is in Simulator._control.
CONTROL_ROUTES = [
    ("GET", "/_sim/log", None),
    ("POST", "/_sim/log/clear", None),
    ("GET", "/_sim/state", None),
    ("POST", "/_sim/state", None),
    ("GET", "/_sim/faults", None),
    ("POST", "/_sim/faults", None),
]


def route(
    routes: list[tuple[str, str, H]], method: str, path: str
) -> tuple[H, tuple[str, ...]] | Reply:
    """The handler of ``path`` and ``method`` with the path's segments it names, or the reply
    for a path no endpoint has (404) or a method it lacks (405)."""
    matches = [(m, h, found) for m, p, h in routes if (found := re.fullmatch(p + "/?", path))]
    for route_method, handler, found in matches:
        if route_method == method:
            return handler, tuple(unquote(group) for group in found.groups())
    if not matches:
        return json_reply(404, {"error": "Not found"})
    allowed = ", ".join(m for m, _, _ in matches)
    return json_reply(405, {"status": "error", "message": "Method not allowed"}, {"Allow": allowed})


def _auth_failure() -> Reply:
    return error_reply(SimulatedError(401, "AUTH_FAILURE", "Invalid or missing API key"))


def scripted_reply(status: int, faults: Faults) -> Reply:
    """The error reply for a scripted status, in the shape the faults ask for."""
    headers: dict[str, str] = {}
    if status == 429 and faults.retry_after is not None:
        headers["Retry-After"] = faults.retry_after
    if status == 429:
        return json_reply(429, {"status": "error", "message": "Rate limit exceeded"}, headers)
    errors = {
        401: ("AUTH_FAILURE", "Invalid or missing API key"),
        403: ("FORBIDDEN", "You do not have permission to perform this action"),
        404: ("PERSONA_NOT_FOUND", "Persona not found or access denied"),
    }
    code, message = errors.get(status, ("INVALID_REQUEST", "Invalid request"))
    if status >= 500:
        code, message = "INTERNAL_SERVER_ERROR", "An internal server error occurred"
    return error_reply(SimulatedError(status, code, message), headers)


def _parse_json(raw: bytes) -> tuple[Any, bool]:
    """Return (value, ok); an empty body parses as None."""
    if not raw.strip():
        return None, True
    try:
        return json.loads(raw), True
    except (ValueError, UnicodeDecodeError):
        return None, False
