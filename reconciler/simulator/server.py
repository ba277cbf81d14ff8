"""The simulator as a whole: its lifecycle, the path of a request (and the faults on it), the
request log, the ``/_sim`` control API, and its HTTP/1.1 server on the standard library.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import selectors
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, TypeVar, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from .account import PERSONA_NOT_FOUND, JSONObject, SimulatedError, account_from_state, export_state
from .api import ROUTES, Call, Reply, error_reply, json_reply
from .faults import Faults

log = logging.getLogger(__name__)
H = TypeVar("H")
# Seconds a streamed body waits for a client that stopped reading before it gives up.
SEND_TIMEOUT = 10.0


@dataclass
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
        self.account = account_from_state(state or {})
        self.api_key = api_key
        self.host = host
        self.port = port
        self.faults = faults if faults is not None else Faults()
        self.on_write: Callable[[Simulator, RequestRecord], None] | None = None
        # Set while stopping: whatever waits (latency, a test's hang, a stream) wakes on it.
        self.stopping = threading.Event()
        # Held while the account is read or changed; reentrant, so that an on_write callback
        # may take it again.
        self.lock = threading.RLock()
        # Appended to by every request thread: a list's append and copy need no lock.
        self._log: list[RequestRecord] = []
        self._server: SimulatorHTTPServer | None = None

    def start(self) -> Simulator:
        """Start serving on a background thread (a no-op if already serving)."""
        if self._server is None:
            self.stopping = threading.Event()
            self._server = SimulatorHTTPServer((self.host, self.port), self)
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

    @property
    def requests(self) -> list[RequestRecord]:
        """Every API request so far, in arrival order (control requests excluded)."""
        return list(self._log)

    def clear_log(self) -> None:
        """Forget every logged request."""
        self._log = []

    def export_state(self) -> JSONObject:
        """The account in state-file form."""
        with self.lock:
            return export_state(self.account)

    def load(self, state: Mapping[str, Any]) -> None:
        """Replace the whole account (the request log and faults are kept)."""
        account = account_from_state(state)
        with self.lock:
            self.account = account

    def handle(self, method: str, target: str, auth: str | None, raw_body: bytes) -> Reply:
        """Serve one request; runs on the connection's handler thread."""
        _, _, path, query, _ = urlsplit(target)
        try:  # an empty body is None
            body, body_ok = (json.loads(raw_body) if raw_body.strip() else None), True
        except ValueError:
            body, body_ok = None, False
        if path == "/_sim" or path.startswith("/_sim/"):
            return self._control(method, path.rstrip("/") or "/", auth, body, body_ok)
        api_path = path.startswith(("/v1/", "/v2/")) or path == "/inbound/update_label"
        writes = method in ("POST", "PATCH", "DELETE", "PUT") and api_path
        kind: Literal["read", "write"] = "write" if writes else "read"
        persona = re.match(r"/v1/personas/([^/]+)", path)
        persona_id = unquote(persona[1]) if persona else None
        parameters = dict(parse_qsl(query, keep_blank_values=True))
        record = RequestRecord(method, path, parameters, 0, body, kind, persona_id)
        self._log.append(record)
        try:
            reply = self.serve(record, auth == self.api_key, body_ok)
        except Exception:
            log.exception("simulator failed on %s %s", method, path)
            reply = error_reply(SimulatedError(500, "INTERNAL_SERVER_ERROR", "Simulator error"))
        record.status = reply.status
        return reply

    def serve(self, record: RequestRecord, authorised: bool, body_ok: bool) -> Reply:
        """The reply to an API request once it is logged (a subclass may play others)."""
        faults = self.faults
        if faults.latency > 0:
            self.stopping.wait(faults.latency)
        found = route(ROUTES, record.method, record.path, authorised)
        if isinstance(found, Reply):
            return found
        endpoint, params = found
        is_write = record.kind == "write"
        scripted = faults.pop_status(is_write)
        if scripted and not 200 <= scripted < 300:
            return scripted_reply(scripted, faults)
        with self.lock:
            if is_write and self.on_write is not None:
                self.on_write(self, record)
            try:
                if is_write and not body_ok:
                    raise SimulatedError(400, "INVALID_BODY", "Request body is not valid JSON")
                reply = endpoint(Call(self.account, faults, params, record.query, record.body))
            except SimulatedError as exc:
                reply = error_reply(exc)
        if is_write and faults.take("drop_after_write"):
            record.dropped = True
            return Reply(reply.status, send=False)
        return reply

    def _control(self, method: str, path: str, auth: str | None, body: Any, ok: bool) -> Reply:
        """The ``/_sim`` endpoints: never logged, delayed or faulted."""
        found = route(CONTROL_ROUTES, method, path, auth == self.api_key)
        if isinstance(found, Reply):
            return found
        try:
            if not ok:
                raise ValueError("Body is not valid JSON")
            if method == "POST" and path != "/_sim/log/clear" and not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            if path == "/_sim/log/clear":
                self.clear_log()
            elif method == "POST" and path == "/_sim/state":
                self.load(body)
            elif method == "POST":
                self.faults.update(body)
        except ValueError as exc:
            return error_reply(SimulatedError(400, "INVALID_BODY", str(exc)))
        return json_reply(200, found[0](self))


# The control API, and what each endpoint answers once a POST has done its part above.
CONTROL_ROUTES: list[tuple[str, str, Callable[[Simulator], Any]]] = [
    ("GET", "/_sim/log", lambda sim: {"requests": [asdict(r) for r in sim.requests]}),
    ("POST", "/_sim/log/clear", lambda sim: {"status": "success"}),
    ("GET", "/_sim/state", lambda sim: sim.export_state()),
    ("POST", "/_sim/state", lambda sim: sim.export_state()),
    ("GET", "/_sim/faults", lambda sim: sim.faults.to_dict()),
    ("POST", "/_sim/faults", lambda sim: sim.faults.to_dict()),
]


def route(
    routes: list[tuple[str, str, H]], method: str, path: str, authorised: bool
) -> tuple[H, tuple[str, ...]] | Reply:
    """The handler of ``path`` and ``method`` with the path's segments it names, or the reply
    for a path no endpoint has (404), a method it lacks (405) or a wrong key (401)."""
    matches = [(m, h, found) for m, p, h in routes if (found := re.fullmatch(p + "/?", path))]
    if not matches:
        return json_reply(404, {"error": "Not found"})
    for route_method, handler, found in matches:
        if route_method == method:
            if not authorised:
                return error_reply(SimulatedError(401, *SCRIPTED_ERRORS[401]))
            return handler, tuple(unquote(group) for group in found.groups())
    allowed = ", ".join(m for m, _, _ in matches)
    return json_reply(405, {"status": "error", "message": "Method not allowed"}, {"Allow": allowed})


# What a scripted status answers besides 429 (a wrong key gets the 401); any other 5xx is the
# 500's error, any other status INVALID_REQUEST.
SCRIPTED_ERRORS = {
    401: ("AUTH_FAILURE", "Invalid or missing API key"),
    403: ("FORBIDDEN", "You do not have permission to perform this action"),
    404: PERSONA_NOT_FOUND,
    500: ("INTERNAL_SERVER_ERROR", "An internal server error occurred"),
}


def scripted_reply(status: int, faults: Faults) -> Reply:
    """The error reply for a scripted status, in the shape the faults ask for."""
    if status == 429:
        headers = {} if faults.retry_after is None else {"Retry-After": faults.retry_after}
        return json_reply(429, {"status": "error", "message": "Rate limit exceeded"}, headers)
    other = SCRIPTED_ERRORS[500] if status >= 500 else ("INVALID_REQUEST", "Invalid request")
    return error_reply(SimulatedError(status, *SCRIPTED_ERRORS.get(status, other)))


class SimulatorHTTPServer(ThreadingHTTPServer):
    """One thread per connection, accepting on a daemon thread from the start; remembers open
    connections so that stop can cut them."""

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 overflows when a client opens a burst of connections
    # (the reconciler reads up to 16 pages at once); the kernel then drops the SYN and the client
    # waits a second to retry, which made the simulator, not the client, set the pace.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        self.simulator = simulator
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        # stop() writes a byte here to end the accept loop at once: serve_forever would
        # notice a shutdown only at its next poll, which every stop (every test) waited for.
        self.wake_reader, self.wake_writer = socket.socketpair()
        super().__init__(address, RequestHandler)
        # A connection reset between select and accept must not block the loop in accept.
        self.socket.setblocking(False)
        name = f"simulator-{self.server_address[1]}"
        self.thread = threading.Thread(target=self._accept, name=name, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self.wake_reader, selectors.EVENT_READ)
            while all(key.fileobj is not self.wake_reader for key, _ in selector.select()):
                self.handle_request()

    def stop(self) -> None:
        """End the accept loop now, close the listener and cut every open connection, waking
        the threads blocked on them (a streamed body's next send fails)."""
        with contextlib.suppress(OSError):
            self.wake_writer.send(b"x")
        self.thread.join(timeout=5)
        self.server_close()
        self.wake_reader.close()
        self.wake_writer.close()
        with self.connections_lock:
            connections = list(self.connections)
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self.connections_lock:
                self.connections.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that vanish mid-response (timeouts, killed processes) are routine here.
        log.debug("error while serving %s", client_address, exc_info=True)


class RequestHandler(BaseHTTPRequestHandler):
    """Reads one request, asks the simulator what to answer, and writes it."""

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

    def _dispatch(self) -> None:
        try:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        except (ValueError, OSError):
            self.close_connection = True
            return
        simulator = cast(SimulatorHTTPServer, self.server).simulator
        reply = simulator.handle(self.command, self.path, self.headers.get("authorization"), body)
        self.close_connection |= not reply.send or reply.stream is not None
        if not reply.send:
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        if reply.stream is None:
            self.send_header("Content-Length", str(len(reply.payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(reply.payload if reply.stream is None else b"")
            self.wfile.flush()
            for piece in reply.stream or ():
                self.connection.settimeout(SEND_TIMEOUT)
                self.connection.sendall(piece)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _dispatch
