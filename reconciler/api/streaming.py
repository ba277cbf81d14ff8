"""Answers read whole, within bounds: a size limit, and the deadline of their request.

An httpx response read at once is held whole, however large, and its read timeout applies to
each piece of it, not to the body: a body trickling in a byte at a time never times out. So
bodies are streamed here and refused while they stream.

The size limit bounds what the client holds of all the answers it is reading at once, so that
pages read side by side cannot add up to several times the limit: an answer that says it is
larger than the limit is refused before any of it is read, and one that grows past what is
left of the limit as it comes is refused at that point. The deadline is checked as each piece
arrives, and no piece is waited for longer than the read timeout, so a trickle cannot hold a
run past the deadline by more than that.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx

from reconciler.api.sizes import shown_size
from reconciler.api.wire import ReadAnswer
from reconciler.errors import ApiError

# Only encodings whose decoding is bounded: deflate expands 64 KiB read off the network to at
# most about 64 MiB, the most the limit can be overrun by. Left to httpx, the list would grow
# with whatever decoders happen to be installed (brotli, zstd), some without such a bound.
ACCEPT_ENCODING = "gzip, deflate"


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
        answer itself alive for a while, and its bytes would not count here any more."""
        size = len(body)
        body.clear()
        with self._lock:
            self.held -= size


class BodyRefused(Exception):
    """An answer not read to its end: over the size limit (`too_large` says how), or late."""

    def __init__(self, *, limit: int, too_large: str | None = None) -> None:
        super().__init__(too_large or "late")
        self.limit = limit
        self.too_large = too_large

    def error(self, method: str, path: str, *, timeout: float, write: bool) -> ApiError:
        """The error the request ends with, naming its endpoint."""
        if self.too_large is not None:
            why = (
                f"the answer is over the {shown_size(self.limit)} limit ({self.too_large}); "
                "refused without reading it whole (raise --max-response-size or "
                "BLAND_MAX_RESPONSE_SIZE if the account is that large)"
            )
        else:
            why = (
                f"the request's deadline ({4 * timeout:g}s, 4 x --timeout) passed while its "
                "answer was still arriving; stopped reading it"
            )
        if write:
            why += "; the write may have taken effect"
        return ApiError(why, method=method, path=path)


def read_body(
    response: httpx.Response, budget: BodyBudget, past_deadline: Callable[[], bool]
) -> ReadAnswer:
    """The whole body of a streamed response, its bytes held in `budget` until given back.

    BodyRefused once the body is too large or late; its bytes are given back then.
    """
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > budget.limit:
        raise BodyRefused(limit=budget.limit, too_large=f"it says {int(declared):,} bytes")
    body = bytearray()
    try:
        for piece in response.iter_bytes():
            if not budget.take(len(piece)):
                size = len(body) + len(piece)
                too_large = (
                    f"{size:,} bytes had come"
                    if size > budget.limit
                    else f"with the answers read alongside it; {size:,} bytes of it had come"
                )
                raise BodyRefused(limit=budget.limit, too_large=too_large)
            body += piece
            if past_deadline():
                raise BodyRefused(limit=budget.limit)
    except BaseException:
        budget.give_back(body)
        raise
    return ReadAnswer(response.status_code, response.headers, body)
