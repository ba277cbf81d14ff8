"""The simulator as a whole: its lifecycle, the path of an API request, and state helpers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from functools import partial
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .account import copy_json
from .control import serve_control
from .faults import Faults, scripted_reply
from .httpd import SimulatorHTTPServer
from .replies import (
    METHOD_NOT_ALLOWED_BODY,
    NOT_FOUND_BODY,
    JSONObject,
    Reply,
    SimulatedError,
    auth_failure,
    error_reply,
    json_reply,
)
from .requestlog import RequestKind, RequestLog, RequestRecord
from .routes import LABEL_PATH, match_route, parse_json, persona_id_from, split_path
from .state_file import account_from_state, export_state

log = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PATCH", "DELETE", "PUT"})
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
        state_source: str = "state",
    ) -> None:
        self._account = account_from_state(state or {}, state_source)
        self.api_key = api_key
        self.host = host
        self.port = port
        self.faults = faults if faults is not None else Faults()
        self.on_write: Callable[[Simulator, RequestRecord], None] | None = None
        # Stands in front of the simulator's own way to serve an API request (after it is
        # logged): tests play answers the simulator itself has no switch for.
        self.intercept: Intercept | None = None
        # Reentrant so an on_write callback can call the mutation helpers below.
        self._lock = threading.RLock()
        self._log = RequestLog()
        self._stop_event = threading.Event()
        self._server: SimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> Simulator:
        """Start serving on a background thread (a no-op if already serving)."""
        if self._server is not None:
            return self
        self._stop_event = threading.Event()
        server = SimulatorHTTPServer((self.host, self.port), self.handle, self._stop_event)
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_until_stopped,
            name=f"bland-simulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: wake hung requests, close the listener and every open connection."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stop_event.set()
        server.wake()
        if thread is not None:
            thread.join(timeout=5)
        server.server_close()
        server.close_connections()
        self._server = None
        self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The simulator's own with-block: a test's simulator stops however the test ends.
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
        return self._log.records()

    def reads(self) -> list[RequestRecord]:
        """The logged requests that were reads."""
        return [r for r in self.requests if r.kind == "read"]

    def writes(self) -> list[RequestRecord]:
        """The logged requests that were writes."""
        return [r for r in self.requests if r.kind == "write"]

    def clear_log(self) -> None:
        """Forget every logged request."""
        self._log.clear()

    # ----------------------------------------------------------------- state helpers

    @property
    def persona_count(self) -> int:
        """How many personas the account has, deleted ones included."""
        with self._lock:
            return len(self._account.personas)

    @property
    def number_count(self) -> int:
        """How many inbound numbers the account has."""
        with self._lock:
            return len(self._account.numbers)

    def owners(self) -> dict[str, list[str]]:
        """Each number of the account and the personas it is attached to."""
        with self._lock:
            return self._account.owners()

    def persona_numbers(self, persona_id: str) -> list[str]:
        """The numbers attached to a persona, sorted."""
        with self._lock:
            return sorted(self._account.personas[persona_id].numbers)

    def persona_settings(self, persona_id: str, phone_number: str) -> JSONObject | None:
        """A copy of the persona_settings of one number of a persona."""
        with self._lock:
            value = self._account.personas[persona_id].numbers[phone_number]
            return copy_json(value)  # type: ignore[no-any-return]

    def set_persona_settings(
        self, persona_id: str, phone_number: str, settings: Mapping[str, Any] | None
    ) -> None:
        """Set the persona_settings of a number the persona has (KeyError otherwise)."""
        with self._lock:
            numbers = self._account.personas[persona_id].numbers
            if phone_number not in numbers:
                raise KeyError(phone_number)
            numbers[phone_number] = copy_json(settings)

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
            self._account.add_number(phone_number, label)

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

    # ----------------------------------------------------------------- request handling

    def handle(self, method: str, target: str, auth: str | None, raw_body: bytes) -> Reply:
        """Serve one request; runs on the connection's handler thread."""
        split = urlsplit(target)
        path = split.path
        if path == "/_sim" or path.startswith("/_sim/"):
            return serve_control(self, method, path, auth, raw_body)
        body, body_ok = parse_json(raw_body)
        segments = split_path(path)
        kind: RequestKind = (
            "write"
            if method in WRITE_METHODS and (path.startswith(("/v1/", "/v2/")) or path == LABEL_PATH)
            else "read"
        )
        record = RequestRecord(
            method=method,
            path=path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            status=0,
            body=body,
            kind=kind,
            persona_id=persona_id_from(segments),
        )
        slot = self._log.arrived(record)
        serve = partial(self._serve, segments=segments, auth=auth, body_ok=body_ok)
        try:
            reply = serve(record) if self.intercept is None else self.intercept(record, serve)
        except Exception:
            log.exception("simulator failed on %s %s", method, path)
            reply = error_reply(SimulatedError(500, "INTERNAL_SERVER_ERROR", "Simulator error"))
        self._log.answered(slot, replace(record, status=reply.status, dropped=reply.dropped))
        if reply.send:
            reply.body_fault = self.faults.body_fault()
        return reply

    def _serve(
        self, record: RequestRecord, segments: list[str], auth: str | None, body_ok: bool
    ) -> Reply:
        faults = self.faults
        if faults.latency > 0:
            self._stop_event.wait(faults.latency)
        if faults.take_hang(record.kind == "write"):
            self._stop_event.wait(faults.hang_timeout)
            return Reply(0, send=False)
        route = match_route(segments)
        if route is None:
            return json_reply(404, NOT_FOUND_BODY)
        if record.method != route.method:
            return json_reply(405, METHOD_NOT_ALLOWED_BODY, {"Allow": route.method})
        if auth != self.api_key:
            return error_reply(auth_failure())
        scripted = faults.pop_status(record.kind)
        if scripted and not 200 <= scripted < 300:
            return scripted_reply(scripted, faults)
        with self._lock:
            if record.kind == "write" and self.on_write is not None:
                self.on_write(self, record)
            try:
                if record.kind == "write" and not body_ok:
                    raise SimulatedError(400, "INVALID_BODY", "Request body is not valid JSON")
                reply = route.handler(self._account, faults, segments, record)
            except SimulatedError as exc:
                reply = error_reply(exc)
        if record.kind == "write" and faults.take_drop():
            return Reply(reply.status, send=False, dropped=True)
        return reply
