"""The simulator's HTTP/1.1 server on the standard library: connections, keep-alive, bodies."""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from .api import Reply

log = logging.getLogger(__name__)

# (method, request target, authorization header, raw body) -> what to answer
Responder = Callable[[str, str, str | None, bytes], Reply]
# Seconds a streamed body waits for a client that stopped reading before it gives up.
SEND_TIMEOUT = 10.0


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
        # stop() writes a byte here to end the accept loop at once: serve_forever would
        # notice a shutdown only at its next poll, which every stop (every test) waited for.
        self._wake_reader, self._wake_writer = socket.socketpair()
        super().__init__(address, RequestHandler)
        # A connection reset between select and accept must not block the loop in accept.
        self.socket.setblocking(False)

    def start(self) -> None:
        """Accept connections on a daemon thread until :meth:`stop`."""
        name = f"simulator-{self.server_address[1]}"
        self._thread = threading.Thread(target=self._accept, name=name, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while all(key.fileobj is not self._wake_reader for key, _ in selector.select()):
                self.handle_request()

    def stop(self) -> None:
        """End the accept loop now, close the listener and cut every open connection, waking
        the threads blocked on them (and, through ``stopping``, those that wait)."""
        self.stopping.set()
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"x")
        self._thread.join(timeout=5)
        self.server_close()
        self._wake_reader.close()
        self._wake_writer.close()
        with self._connections_lock:
            connections = list(self._connections)
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(request)

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

    def _dispatch(self) -> None:
        server = cast(SimulatorHTTPServer, self.server)
        try:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        except (ValueError, OSError):
            self.close_connection = True
            return
        reply = server.respond(self.command, self.path, self.headers.get("authorization"), body)
        if not reply.send:
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        if reply.stream is None:
            self.send_header("Content-Length", str(len(reply.payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.close_connection = self.close_connection or reply.stream is not None
        with contextlib.suppress(OSError):
            if reply.stream is None:
                self.wfile.write(reply.payload)
            self.wfile.flush()
            if reply.stream is not None:
                self.connection.settimeout(SEND_TIMEOUT)
                for piece in reply.stream:
                    if server.stopping.is_set():
                        break
                    self.connection.sendall(piece)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _dispatch
