"""The simulator's HTTP/1.1 server on the standard library: replies, connections, keep-alive."""

from __future__ import annotations

import contextlib
import json
import logging
import selectors
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

log = logging.getLogger(__name__)

# Seconds a streamed body waits for a client that stopped reading before it gives up.
SEND_TIMEOUT = 10.0


@dataclass
class Reply:
    """One response, decided before anything is written to the socket."""

    status: int
    payload: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # False = close the connection without writing anything (lost response or hang).
    send: bool = True
    dropped: bool = False
    # Written instead of the payload, piece by piece, after the headers as they are (the
    # reply's own headers frame it); the connection closes afterwards. A seam for tests.
    stream: Iterator[bytes] | None = None


def json_reply(status: int, value: Any, headers: dict[str, str] | None = None) -> Reply:
    """A JSON reply, compactly encoded."""
    payload = json.dumps(value, separators=(",", ":")).encode("utf-8")
    return Reply(status, payload, headers=dict(headers or {}))


# (method, target, Authorization header, body) -> the reply; runs on the connection's thread.
Serve = Callable[[str, str, str | None, bytes], Reply]


class SimulatorHTTPServer(ThreadingHTTPServer):
    """One thread per connection, accepting on a daemon thread from the start; remembers open
    connections so that stop can cut them."""

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 overflows when a client opens a burst of connections
    # (the reconciler reads up to 16 pages at once); the kernel then drops the SYN and the client
    # waits a second to retry, which made the simulator, not the client, set the pace.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], answer: Serve) -> None:
        self.answer = answer
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
        answer = cast(SimulatorHTTPServer, self.server).answer
        reply = answer(self.command, self.path, self.headers.get("authorization"), body)
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
