"""The simulator's HTTP/1.1 server on the standard library: connections, bodies, keep-alive."""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from .bodies import BodyFault, framing_headers, send_body
from .replies import Reply

log = logging.getLogger(__name__)

# (method, request target, authorization header, raw body) -> what to answer
Responder = Callable[[str, str, str | None, bytes], Reply]


class SimulatorHTTPServer(ThreadingHTTPServer):
    """One thread per connection; remembers open connections so they can be cut on stop."""

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 overflows when a client opens a burst of connections
    # (the reconciler reads up to 16 pages at once); the kernel then drops the SYN and the client
    # waits a second to retry, which made the simulator, not the client, set the pace.
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], respond: Responder, stopping: threading.Event
    ) -> None:
        self.respond = respond
        # Set when the simulator stops, so a body still being streamed gives up.
        self.stopping = stopping
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        # stop() writes a byte here to end serve_until_stopped at once: serve_forever would
        # notice a shutdown only at its next poll, which every stop (every test) waited for.
        self._wake_reader, self._wake_writer = socket.socketpair()
        super().__init__(address, RequestHandler)
        # A connection reset between select and accept must not block the loop in accept.
        self.socket.setblocking(False)

    def serve_until_stopped(self) -> None:
        """Accept connections until :meth:`wake` is called."""
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while True:
                ready = [key.fileobj for key, _ in selector.select()]
                if self._wake_reader in ready:
                    return
                self.handle_request()

    def wake(self) -> None:
        """End :meth:`serve_until_stopped` now."""
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"x")

    def server_close(self) -> None:
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

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
        """Shut down every open connection, waking the threads blocked on them."""
        with self._connections_lock:
            sockets = list(self._connections)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that vanish mid-response (timeouts, killed processes) are routine here.
        log.debug("error while serving %s", client_address, exc_info=True)


class RequestHandler(BaseHTTPRequestHandler):
    """Reads one request, asks the server's responder what to answer, and writes it."""

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
        server = cast(SimulatorHTTPServer, self.server)
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        reply = server.respond(self.command, self.path, self.headers.get("authorization"), body)
        if not reply.send:
            self.close_connection = True
            return
        if reply.body_fault is not None:
            self._send_faulty(reply, reply.body_fault, server.stopping)
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.payload)
        self.wfile.flush()

    def _send_faulty(self, reply: Reply, fault: BodyFault, stopping: threading.Event) -> None:
        self.close_connection = True
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        for name, value in {**framing_headers(fault, reply.payload), **reply.headers}.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.flush()
        except OSError:
            return
        send_body(self.connection, fault, reply.payload, stopping)

    do_GET = _dispatch
    do_POST = _dispatch
    do_PATCH = _dispatch
    do_PUT = _dispatch
    do_DELETE = _dispatch
