"""HTTP side of the Bland API simulator: routing, auth, fault injection and the request log."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from .faults import Faults
from .state import Account, ApiError, JSONObject, persona_not_found

log = logging.getLogger(__name__)

Kind = Literal["read", "write"]
WRITE_METHODS = frozenset({"POST", "PATCH", "DELETE", "PUT"})
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
HTML_ERROR_PAGE = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
AUTH_MESSAGE = "Invalid or missing API key"


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
    kind: Kind
    persona_id: str | None
    dropped: bool = False

    def to_dict(self) -> JSONObject:
        return {
            "method": self.method,
            "path": self.path,
            "query": dict(self.query),
            "status": self.status,
            "kind": self.kind,
            "persona_id": self.persona_id,
            "body": self.body,
            "dropped": self.dropped,
        }


@dataclass
class _Reply:
    status: int
    payload: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # False = close the connection without writing anything (lost response or hang).
    send: bool = True
    dropped: bool = False


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _json_reply(status: int, value: Any, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, _json_bytes(value), headers=dict(headers or {}))


_NOT_FOUND = {"error": "Not found"}
_METHOD_NOT_ALLOWED = {"status": "error", "message": "Method not allowed"}

# (route name, allowed method) keyed by path shape; "*" marks a variable segment.
_ROUTES: dict[tuple[str, ...], tuple[str, str]] = {
    ("v1", "personas"): ("list_personas", "GET"),
    ("v1", "personas", "*"): ("get_persona", "GET"),
    ("v1", "personas", "*", "inbound", "attach"): ("attach", "POST"),
    ("v1", "personas", "*", "inbound", "detach"): ("detach", "POST"),
    ("v1", "personas", "*", "inbound", "*", "settings"): ("settings", "PATCH"),
    ("v1", "inbound"): ("list_inbound", "GET"),
}

_CONTROL_ROUTES: dict[str, tuple[str, str]] = {
    "/_sim/log": ("log", "GET"),
    "/_sim/log/clear": ("log_clear", "POST"),
    "/_sim/state": ("state", "GET|POST"),
    "/_sim/faults": ("faults", "GET|POST"),
    "/_sim/faults/reset": ("faults_reset", "POST"),
}


def _split_path(path: str) -> list[str]:
    trimmed = path[1:] if path.startswith("/") else path
    if trimmed.endswith("/"):
        trimmed = trimmed[:-1]
    return trimmed.split("/")


def _match(segments: list[str]) -> tuple[str, str] | None:
    if any(not s for s in segments):
        return None
    for shape, route in _ROUTES.items():
        if len(shape) == len(segments) and all(
            s == "*" or s == seg for s, seg in zip(shape, segments, strict=True)
        ):
            return route
    return None


def _persona_id_from(segments: list[str]) -> str | None:
    if len(segments) >= 3 and segments[0] == "v1" and segments[1] == "personas" and segments[2]:
        return unquote(segments[2])
    return None


def _parse_json(raw: bytes) -> tuple[Any, bool]:
    """Return (value, ok); an empty body parses as None."""
    if not raw.strip():
        return None, True
    try:
        return json.loads(raw), True
    except (ValueError, UnicodeDecodeError):
        return None, False


def _positive_int(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise ApiError(400, "INVALID_REQUEST", f"'{name}' must be a positive integer")
    return value


def _number_list(body: Any) -> list[str]:
    """Validate an attach/detach body; returns the trimmed numbers without duplicates."""
    numbers = body.get("inbound_numbers") if isinstance(body, dict) else None
    if not isinstance(numbers, list) or not numbers:
        raise ApiError(
            400, "INVALID_BODY", "'inbound_numbers' must be a non-empty array of strings"
        )
    out: dict[str, None] = {}
    for value in numbers:
        if not isinstance(value, str) or not value.strip():
            raise ApiError(
                400, "INVALID_BODY", "Each entry of 'inbound_numbers' must be a non-empty string"
            )
        out[value.strip()] = None
    return list(out)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 overflows when a client opens a burst of connections
    # (the reconciler reads up to 16 pages at once); the kernel then drops the SYN and the client
    # waits a second to retry, which made the simulator, not the client, set the pace.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Open keep-alive connections are tracked so stop() can cut them instead of leaving
        # handler threads blocked on idle sockets.
        sock = request if isinstance(request, socket.socket) else None
        if sock is not None:
            with self._connections_lock:
                self._connections.add(sock)
        try:
            super().finish_request(request, client_address)
        finally:
            if sock is not None:
                with self._connections_lock:
                    self._connections.discard(sock)

    def close_connections(self) -> None:
        with self._connections_lock:
            sockets = list(self._connections)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that vanish mid-response (timeouts, killed processes) are routine here.
        log.debug("error while serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "BlandSimulator/1.0"
    sys_version = ""
    # Buffer the response so status line, headers and a small body leave in one segment;
    # with an unbuffered stream the body waits on Nagle + the client's delayed ACK (~40 ms).
    wbufsize = 64 * 1024

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        return self.rfile.read(int(length))

    def _dispatch(self) -> None:
        simulator = cast(_Server, self.server).simulator
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        reply = simulator.handle(self.command, self.path, self.headers.get("authorization"), body)
        if not reply.send:
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.payload)
        self.wfile.flush()

    do_GET = _dispatch
    do_POST = _dispatch
    do_PATCH = _dispatch
    do_PUT = _dispatch
    do_DELETE = _dispatch


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
        self._account = Account.from_state(state or {}, state_source)
        self.api_key = api_key
        self.host = host
        self.port = port
        self.faults = faults if faults is not None else Faults()
        self.on_write: Callable[[Simulator, RequestRecord], None] | None = None
        # Reentrant so an on_write callback can call the mutation helpers below.
        self._lock = threading.RLock()
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._stop_event = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._inbound_cache: tuple[int, bytes] | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        self._stop_event = threading.Event()
        server = _Server((self.host, self.port), self)
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"bland-simulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stop_event.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=5)
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
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("simulator is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    # ----------------------------------------------------------------- request log

    @property
    def requests(self) -> list[RequestRecord]:
        with self._log_lock:
            return list(self._log)

    def reads(self) -> list[RequestRecord]:
        return [r for r in self.requests if r.kind == "read"]

    def writes(self) -> list[RequestRecord]:
        return [r for r in self.requests if r.kind == "write"]

    def clear_log(self) -> None:
        with self._log_lock:
            self._log = []

    def _log_arrival(self, record: RequestRecord) -> tuple[list[RequestRecord], int]:
        with self._log_lock:
            self._log.append(record)
            return self._log, len(self._log) - 1

    def _log_done(self, slot: tuple[list[RequestRecord], int], record: RequestRecord) -> None:
        with self._log_lock:
            entries, index = slot
            # After clear_log() the slot belongs to a discarded list; writing it is harmless.
            entries[index] = record

    # ----------------------------------------------------------------- state helpers

    @property
    def persona_count(self) -> int:
        with self._lock:
            return len(self._account.personas)

    @property
    def number_count(self) -> int:
        with self._lock:
            return len(self._account.numbers)

    def owners(self) -> dict[str, list[str]]:
        with self._lock:
            return self._account.owners()

    def persona_numbers(self, persona_id: str) -> list[str]:
        with self._lock:
            return sorted(self._account.personas[persona_id].numbers)

    def persona_settings(self, persona_id: str, phone_number: str) -> JSONObject | None:
        with self._lock:
            value = self._account.personas[persona_id].numbers[phone_number]
            return json.loads(json.dumps(value)) if value is not None else None

    def set_persona_settings(
        self, persona_id: str, phone_number: str, settings: Mapping[str, Any] | None
    ) -> None:
        with self._lock:
            numbers = self._account.personas[persona_id].numbers
            if phone_number not in numbers:
                raise KeyError(phone_number)
            numbers[phone_number] = None if settings is None else json.loads(json.dumps(settings))

    def add_persona(
        self, id: str, name: str, numbers: Iterable[str] = (), deleted: bool = False
    ) -> None:
        with self._lock:
            self._account.add_persona(id, name, numbers, deleted)

    def delete_persona(self, id: str, detach_numbers: bool = False) -> None:
        with self._lock:
            self._account.delete_persona(id, detach_numbers)

    def add_number(self, phone_number: str, label: str | None = None) -> None:
        with self._lock:
            self._account.add_number(phone_number, label)

    def set_owner(self, phone_number: str, persona_id: str | None) -> None:
        with self._lock:
            self._account.set_owner(phone_number, persona_id)

    def export_state(self) -> JSONObject:
        with self._lock:
            return self._account.export()

    def load(self, state: Mapping[str, Any]) -> None:
        """Replace the whole account (the request log and faults are kept)."""
        account = Account.from_state(state)
        with self._lock:
            self._account = account
            self._inbound_cache = None

    # ----------------------------------------------------------------- request handling

    def handle(self, method: str, target: str, auth: str | None, raw_body: bytes) -> _Reply:
        """Serve one request; runs on the connection's handler thread."""
        split = urlsplit(target)
        path = split.path
        if path == "/_sim" or path.startswith("/_sim/"):
            return self._control(method, path, auth, raw_body)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        body, body_ok = _parse_json(raw_body)
        segments = _split_path(path)
        kind: Kind = "write" if method in WRITE_METHODS and path.startswith("/v1/") else "read"
        record = RequestRecord(
            method=method,
            path=path,
            query=query,
            status=0,
            body=body,
            kind=kind,
            persona_id=_persona_id_from(segments),
        )
        slot = self._log_arrival(record)
        try:
            reply = self._serve(record, segments, auth, body_ok)
        except Exception:
            log.exception("simulator failed on %s %s", method, path)
            reply = self._error_reply(ApiError(500, "INTERNAL_SERVER_ERROR", "Simulator error"))
        self._log_done(slot, replace(record, status=reply.status, dropped=reply.dropped))
        return reply

    def _serve(
        self, record: RequestRecord, segments: list[str], auth: str | None, body_ok: bool
    ) -> _Reply:
        faults = self.faults
        if faults.latency > 0:
            self._stop_event.wait(faults.latency)
        if faults.take_hang(record.kind == "write"):
            self._stop_event.wait(faults.hang_timeout)
            return _Reply(0, send=False)
        route = _match(segments)
        if route is None:
            return _json_reply(404, _NOT_FOUND)
        name, allowed = route
        if record.method != allowed:
            return _json_reply(405, _METHOD_NOT_ALLOWED, {"Allow": allowed})
        if auth != self.api_key:
            return self._error_reply(ApiError(401, "AUTH_FAILURE", AUTH_MESSAGE))
        scripted = faults.pop_status(record.kind)
        if scripted and not 200 <= scripted < 300:
            return self._scripted_reply(scripted)
        with self._lock:
            if record.kind == "write" and self.on_write is not None:
                self.on_write(self, record)
            try:
                if record.kind == "write" and not body_ok:
                    raise ApiError(400, "INVALID_BODY", "Request body is not valid JSON")
                reply = self._route(name, segments, record)
            except ApiError as exc:
                reply = self._error_reply(exc)
        if record.kind == "write" and faults.take_drop():
            return _Reply(reply.status, send=False, dropped=True)
        return reply

    def _route(self, name: str, segments: list[str], record: RequestRecord) -> _Reply:
        account = self._account
        as_strings = self.faults.inbound_numbers_as_strings
        if name == "list_personas":
            page = _positive_int(record.query, "page", 1)
            limit = min(_positive_int(record.query, "limit", DEFAULT_LIMIT), MAX_LIMIT)
            data = [account.render_persona(p, as_strings) for p in account.page(page, limit)]
            return _json_reply(200, {"data": data, "errors": None})
        if name == "list_inbound":
            return _Reply(200, self._legacy_inbound())
        persona_id = record.persona_id or ""
        if name == "get_persona":
            persona = account.personas.get(persona_id)
            if persona is None:
                raise persona_not_found()
            return _json_reply(
                200, {"data": account.render_persona(persona, as_strings), "errors": None}
            )
        if name in ("attach", "detach"):
            numbers = _number_list(record.body)
            if name == "attach":
                persona = account.attach(persona_id, numbers, self.faults.attach_mode)
            else:
                persona = account.detach(persona_id, numbers)
            return _json_reply(
                200, {"data": account.render_persona(persona, as_strings), "errors": None}
            )
        # name == "settings"
        body = record.body
        if not isinstance(body, dict) or "persona_settings" not in body:
            raise ApiError(400, "INVALID_BODY", "'persona_settings' is required")
        settings = body["persona_settings"]
        if settings is not None and not isinstance(settings, dict):
            raise ApiError(400, "INVALID_BODY", "'persona_settings' must be an object or null")
        phone = unquote(segments[4]).strip()
        updated = account.update_settings(persona_id, phone, settings)
        return _json_reply(200, {"data": updated, "errors": None})

    def _legacy_inbound(self) -> bytes:
        account = self._account
        if self.faults.legacy_inbound_includes_persona:
            return account.render_legacy_inbound(include_persona=True)
        # The full-account listing is the one O(account) response; cache it between changes.
        cache = self._inbound_cache
        if cache is not None and cache[0] == account.numbers_version:
            return cache[1]
        payload = account.render_legacy_inbound(include_persona=False)
        self._inbound_cache = (account.numbers_version, payload)
        return payload

    # ----------------------------------------------------------------- error bodies

    def _envelope(self, exc: ApiError) -> JSONObject:
        errors: Any
        if self.faults.errors_as_string:
            errors = f"{exc.code}: {exc.message}"
        else:
            entry: JSONObject = {"error": exc.code, "message": exc.message}
            if exc.details is not None:
                entry["details"] = exc.details
            errors = [entry]
        return {"data": None, "errors": errors}

    def _error_reply(self, exc: ApiError) -> _Reply:
        return _json_reply(exc.status, self._envelope(exc))

    def _scripted_reply(self, status: int) -> _Reply:
        faults = self.faults
        headers: dict[str, str] = {}
        if status == 429 and faults.retry_after is not None:
            headers["Retry-After"] = faults.retry_after
        if faults.html_errors:
            return _Reply(status, HTML_ERROR_PAGE, "text/html; charset=utf-8", headers)
        if status == 429:
            return _json_reply(429, {"status": "error", "message": "Rate limit exceeded"}, headers)
        if status >= 500:
            exc = ApiError(status, "INTERNAL_SERVER_ERROR", "An internal server error occurred")
        elif status == 401:
            exc = ApiError(401, "AUTH_FAILURE", AUTH_MESSAGE)
        elif status == 403:
            exc = ApiError(403, "FORBIDDEN", "You do not have permission to perform this action")
        elif status == 404:
            exc = persona_not_found()
        else:
            exc = ApiError(status, "INVALID_REQUEST", "Invalid request")
        reply = self._error_reply(exc)
        reply.headers.update(headers)
        return reply

    # ----------------------------------------------------------------- control endpoints

    def _control(self, method: str, path: str, auth: str | None, raw_body: bytes) -> _Reply:
        path = path.rstrip("/") or "/"
        route = _CONTROL_ROUTES.get(path)
        if route is None:
            return _json_reply(404, _NOT_FOUND)
        name, allowed = route
        if method not in allowed.split("|"):
            return _json_reply(405, _METHOD_NOT_ALLOWED, {"Allow": allowed.replace("|", ", ")})
        if auth != self.api_key:
            return self._error_reply(ApiError(401, "AUTH_FAILURE", AUTH_MESSAGE))
        body, body_ok = _parse_json(raw_body)
        if not body_ok:
            return self._error_reply(ApiError(400, "INVALID_BODY", "Body is not valid JSON"))
        if name == "log":
            return _json_reply(200, {"requests": [r.to_dict() for r in self.requests]})
        if name == "log_clear":
            self.clear_log()
            return _json_reply(200, {"status": "success"})
        if name == "state":
            if method == "POST":
                if not isinstance(body, dict):
                    return self._error_reply(ApiError(400, "INVALID_BODY", "expected an object"))
                try:
                    self.load(body)
                except ValueError as exc:
                    return self._error_reply(ApiError(400, "INVALID_BODY", str(exc)))
            return _json_reply(200, self.export_state())
        if name == "faults_reset":
            self.faults.reset()
            return _json_reply(200, self.faults.to_dict())
        # name == "faults"
        if method == "POST":
            if not isinstance(body, dict):
                return self._error_reply(ApiError(400, "INVALID_BODY", "expected a JSON object"))
            try:
                self.faults.update(body)
            except ValueError as exc:
                return self._error_reply(ApiError(400, "INVALID_BODY", str(exc)))
        return _json_reply(200, self.faults.to_dict())
