"""How large the answers may be, sizes as people write them (512M, 1G), and bodies read within.

The largest answer is GET /v1/inbound (the arithmetic of the default is in docs/commands.md,
"Reading the account"). httpx holds a body read at once whole, and its read timeout applies to
each piece, so a body trickling in never times out: bodies are streamed and refused while they
stream. The limit bounds every answer a client reads at once together, so that pages read side
by side cannot add up to several times it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import httpx

from reconciler.api.wire import ReadAnswer
from reconciler.errors import InputError

MiB = 1024**2
DEFAULT_MAX_RESPONSE_BYTES = 512 * MiB
# A limit below this is surely a slip (512 meant as megabytes): one page of personas is larger.
MIN_RESPONSE_BYTES = 1 * MiB
# Only encodings whose decoding is bounded: deflate expands 64 KiB read off the network to at
# most about 64 MiB. Left to httpx, the list would grow with whatever decoders are installed.
ACCEPT_ENCODING = "gzip, deflate"

_UNITS = {"": 1, "k": 1024, "m": MiB, "g": 1024**3}
_SIZE = re.compile(r"(\d+)\s*([kmg]?)(?:i?b)?", re.IGNORECASE)


def parse_size(text: str, source: str) -> int:
    """Bytes from a whole number, optionally with K, M or G (powers of 1024); `source` names
    the option or variable it came from in the one-line error."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise InputError(
            f"{source} {text!r} is not a size: give bytes, or a whole number with K, M or G "
            "(for instance 512M)"
        )
    size = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if size < MIN_RESPONSE_BYTES:
        raise InputError(
            f"{source} {text!r} is {size} bytes, less than the least allowed (1M): "
            "sizes are in bytes unless K, M or G follows (for instance 512M)"
        )
    return size


def shown_size(size: int) -> str:
    """A byte count as the error messages show it: in GiB or MiB when a whole number of them."""
    if size % (1024 * MiB) == 0:
        return f"{size // (1024 * MiB)} GiB"
    return f"{size // MiB} MiB" if size % MiB == 0 else f"{size:,} bytes"


class BodyBudget:
    """Bytes of answers held at once by every request of a client together: at most `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        """Hold `size` more bytes, if that stays within the limit."""
        with self._lock:
            if self.held + size > self.limit:
                return False
            self.held += size
            return True

    def give_back(self, body: bytearray) -> None:
        """Free the bytes of an answer done with, now: an error's traceback may keep the
        answer alive for a while, and its bytes would not count here any more."""
        size = len(body)
        body.clear()
        with self._lock:
            self.held -= size


class BodyRefused(Exception):
    """An answer not read to its end: over the limit (the message says how), or late (none)."""


def read_body(
    response: httpx.Response, budget: BodyBudget, past_deadline: Callable[[], bool]
) -> ReadAnswer:
    """The whole body of a streamed response, its bytes held in `budget` until given back;
    BodyRefused, its bytes given back, once it is too large or late."""
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > budget.limit:
        raise BodyRefused(f"it says {int(declared):,} bytes")
    body = bytearray()
    try:
        for piece in response.iter_bytes():
            if not budget.take(len(piece)):
                size = len(body) + len(piece)
                if size > budget.limit:
                    raise BodyRefused(f"{size:,} bytes had come")
                raise BodyRefused(
                    f"with the answers read alongside it; {size:,} bytes of it had come"
                )
            body += piece
            if past_deadline():
                raise BodyRefused()
    except BaseException:
        budget.give_back(body)
        raise
    return ReadAnswer(response.status_code, response.headers, body)
