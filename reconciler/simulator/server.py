"""The simulator as a whole: its lifecycle, the path of a request (and the faults on it), the
request log, the ``/_sim`` control API, and its HTTP/1.1 server on plain sockets.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import InitVar, asdict, dataclass, field
from email.utils import formatdate
from http.client import responses
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from .account import JSONObject, SimulatedError, account_from_state, export_state
from .api import ROUTES, Call, Endpoint, Reply, error_reply, json_reply
from .faults import Faults

log = logging.getLogger(__name__)
H = TypeVar("H")


@dataclass
class RequestRecord:
    """One API request as the simulator saw it: ``status`` is 0 until it is answered."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    body: Any
    kind: Literal["read", "write"]


@dataclass(eq=False, repr=False)
class Simulator:
    """A fake Bland API server on 127.0.0.1, backed by an in-memory account."""

    state: InitVar[Mapping[str, Any] | None] = None
    api_key: str = "test-key"
    host: str = "127.0.0.1"
    port: int = 0
    faults: Faults = field(default_factory=Faults)
    # The base URL clients use, set when it starts listening.
    url: str = field(init=False)
    # Set while stopping: whatever waits (latency, a test's hang, a stream) wakes on it.
    stopping: threading.Event = field(default_factory=threading.Event, init=False)
    # Held while the account is read or changed; reentrant, so that a subclass's
    # ``perform`` may take it again.
    lock: threading.RLock = field(default_factory=threading.RLock, init=False)
    # Every API request so far, in arrival order (control requests excluded), appended to by
    # every request thread: a list's append needs no lock, nor do a set's add, discard and copy.
    requests: list[RequestRecord] = field(default_factory=list, init=False)
    _connections: set[socket.socket] = field(default_factory=set, init=False)
    _listener: socket.socket | None = field(default=None, init=False)
    _accepting: threading.Thread | None = field(default=None, init=False)

    def __post_init__(self, state: Mapping[str, Any] | None) -> None:
        self.account = account_from_state(state or {})

    def start(self) -> Simulator:
        self.stopping = threading.Event()
        # A backlog of 5 made the kernel drop SYNs of a client's burst of connections (16
        # pages read at once), and the client waited a second to retry.
        self._listener = listener = socket.create_server((self.host, self.port), backlog=128)
        self.port = listener.getsockname()[1]
        self.url = f"http://{self.host}:{self.port}"
        name = f"simulator-{self.port}"
        self._accepting = threading.Thread(target=self._accept, name=name, daemon=True)
        self._accepting.start()
        return self

    def stop(self) -> None:
        """Stop serving: wake hung requests, end the accept loop, close every connection."""
        listener, self._listener = self._listener, None
        if listener is None or self._accepting is None:
            return
        self.stopping.set()
        # A connection of its own wakes the accept loop, which then sees it is stopped.
        with contextlib.suppress(OSError), socket.create_connection(listener.getsockname()[:2]):
            pass
        self._accepting.join(timeout=5)
        for connection in self._connections.copy():
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def export_state(self) -> JSONObject:
        with self.lock:
            return export_state(self.account)

    def _accept(self) -> None:
        listener = self._listener
        assert listener is not None
        with listener:
            while True:
                with contextlib.suppress(OSError):  # a client gone before its accept
                    connection = listener.accept()[0]
                    if listener is not self._listener:
                        connection.close()
                        return
                    name = f"simulator-{self.port}-connection"
                    threading.Thread(target=self._connect, args=(connection,), name=name).start()

    def _connect(self, connection: socket.socket) -> None:
        """Answer a connection's requests until either side closes it (httpx keeps it open)."""
        self._connections.add(connection)
        try:
            # The answer leaves in one send: with Nagle on, a body sent apart from its head
            # waits for the client's delayed ACK (~40 ms).
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with connection.makefile("rb") as reader:
                while request_line := reader.readline().decode("latin-1"):
                    method, target, _ = request_line.split()
                    headers: dict[str, str] = {}
                    while (line := reader.readline().decode("latin-1")).strip():
                        name, _, value = line.partition(":")
                        headers.setdefault(name.strip().lower(), value.strip())
                    body = reader.read(int(headers.get("content-length") or 0))
                    reply = self.handle(method, target, headers.get("authorization"), body)
                    self.send(connection, reply)
        except Exception:  # a client gone, or a request that is not HTTP/1.1
            log.debug("connection ended", exc_info=True)
        finally:
            self._connections.discard(connection)
            connection.close()

    def send(self, connection: socket.socket, reply: Reply) -> None:
        """Write ``reply``, its payload framed by its length (a subclass may write others)."""
        framing = {"Content-Length": str(len(reply.payload))}
        connection.sendall(reply_head(reply, framing) + reply.payload)

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
        parameters = dict(parse_qsl(query, keep_blank_values=True))
        record = RequestRecord(method, path, parameters, 0, body, kind)
        self.requests.append(record)
        try:
            reply = self.serve(record, auth == self.api_key, body_ok)
        except Exception:
            log.exception("simulator failed on %s %s", method, path)
            reply = error_reply(500, "INTERNAL_SERVER_ERROR", "Simulator error")
        record.status = reply.status
        return reply

    def serve(self, record: RequestRecord, authorised: bool, body_ok: bool) -> Reply:
        """The reply to an API request once it is logged (a subclass may play others)."""
        self.stopping.wait(self.faults.latency)
        found = route(ROUTES, record.method, record.path, authorised)
        if isinstance(found, Reply):
            return found
        endpoint, params = found
        with self.lock:
            try:
                if record.kind == "write" and not body_ok:
                    raise SimulatedError(400, "INVALID_BODY", "Request body is not valid JSON")
                call = Call(self.account, self.faults, params, record.query, record.body)
                return self.perform(record, endpoint, call)
            except SimulatedError as exc:
                return error_reply(*exc.args)

    def perform(self, record: RequestRecord, endpoint: Endpoint, call: Call) -> Reply:
        """Run the endpoint of a request that passed its checks, with the lock held (a
        subclass may fail it, or change the account first as a user of the dashboard would)."""
        return endpoint(call)

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
                self.requests.clear()
            elif method == "POST":
                self.faults.update(body)
        except ValueError as exc:
            return error_reply(400, "INVALID_BODY", str(exc))
        return json_reply(200, found[0](self))


# The control API, and what each endpoint answers once a POST has done its part above.
CONTROL_ROUTES: list[tuple[str, str, Callable[[Simulator], Any]]] = [
    ("GET", "/_sim/log", lambda sim: {"requests": [asdict(r) for r in sim.requests]}),
    ("POST", "/_sim/log/clear", lambda sim: {"status": "success"}),
    ("GET", "/_sim/state", lambda sim: sim.export_state()),
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
                return error_reply(401, "AUTH_FAILURE", "Invalid or missing API key")
            return handler, tuple(unquote(group) for group in found.groups())
    allowed = ", ".join(m for m, _, _ in matches)
    return json_reply(405, {"status": "error", "message": "Method not allowed"}, {"Allow": allowed})


def reply_head(reply: Reply, framing: Mapping[str, str]) -> bytes:
    """The status line and headers of ``reply``, ``framing`` first among its own, as
    ``http.server`` writes them (its ``Server`` value ends in a space)."""
    lines = [f"HTTP/1.1 {reply.status} {responses.get(reply.status, '')}"]
    lines += ["Server: BlandSimulator/1.0 ", f"Date: {formatdate(usegmt=True)}"]
    headers = {"Content-Type": "application/json", **framing, **reply.headers}
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return "\r\n".join([*lines, "", ""]).encode("latin-1")
