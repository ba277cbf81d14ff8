"""Faulty response bodies: trickled a byte at a time, padded to a large size, or endless.

A faulty body is written straight to the socket after the headers, and its connection is
closed afterwards. The writer always ends by itself: when the client disconnects, when the
client stops reading for ``SEND_TIMEOUT`` seconds, when the simulator stops, or, for an
endless body, once ``endless_cap`` bytes have been sent.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

PIECE_SIZE = 64 * 1024
SEND_TIMEOUT = 10.0
DEFAULT_ENDLESS_CAP = 2 * 1024**3
# An endless body starts like a persona listing, then pads it with whitespace for ever.
ENDLESS_PREFIX = b'{"data":['


@dataclass(frozen=True)
class BodyFault:
    """How to misdeliver one response body."""

    trickle_seconds: float = 0.0
    """Send one byte, then wait this long, and so on (0 = send at full speed)."""
    pad_to: int = 0
    """Pad the body with trailing whitespace (still valid JSON) up to this many bytes."""
    endless: bool = False
    """Ignore the real body: stream a chunked body that never ends."""
    endless_cap: int = DEFAULT_ENDLESS_CAP
    """Bytes after which an endless body is cut off (without its last chunk)."""


def framing_headers(fault: BodyFault, payload: bytes) -> dict[str, str]:
    """Content-Length, or chunked for an endless body; the connection closes afterwards."""
    if fault.endless:
        return {"Transfer-Encoding": "chunked", "Connection": "close"}
    return {"Content-Length": str(max(len(payload), fault.pad_to)), "Connection": "close"}


def send_body(
    sock: socket.socket, fault: BodyFault, payload: bytes, stopping: threading.Event
) -> None:
    """Write the body as ``fault`` says; returns on completion, disconnect, stall or stop."""
    sock.settimeout(SEND_TIMEOUT)
    sent = 0
    with contextlib.suppress(OSError):
        for piece in _pieces(fault, payload):
            for part in _paced(piece, fault.trickle_seconds):
                if stopping.is_set() or _peer_closed(sock):
                    return
                if fault.endless:
                    if sent >= fault.endless_cap:
                        return
                    sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
                else:
                    sock.sendall(part)
                sent += len(part)
                if fault.trickle_seconds > 0 and stopping.wait(fault.trickle_seconds):
                    return


def _pieces(fault: BodyFault, payload: bytes) -> Iterator[bytes]:
    if fault.endless:
        yield ENDLESS_PREFIX
        filler = b" " * PIECE_SIZE
        while True:
            yield filler
    yield payload
    missing = fault.pad_to - len(payload)
    while missing > 0:
        size = min(missing, PIECE_SIZE)
        yield b" " * size
        missing -= size


def _paced(piece: bytes, trickle_seconds: float) -> Iterator[bytes]:
    if trickle_seconds <= 0:
        yield piece
        return
    for index in range(len(piece)):
        yield piece[index : index + 1]


def _peer_closed(sock: socket.socket) -> bool:
    # A client that hung up has sent FIN: the socket turns readable and a peek reads b"".
    # Without this check the next send would still succeed, and only the one after the
    # peer's reset would fail.
    if not _readable_now(sock):
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (BlockingIOError, TimeoutError):
        return False
    except OSError:
        return True


def _readable_now(sock: socket.socket) -> bool:
    if hasattr(select, "poll"):  # no limit on the descriptor's number, unlike select()
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock], [], [], 0)[0])
