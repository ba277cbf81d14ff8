"""Fault injection knobs for the Bland API simulator.

A single :class:`Faults` instance is shared by every request thread of a running simulator, and
tests mutate it while requests are in flight, so every read-modify-write of a counter or a
scripted-status list happens under the instance's own lock. Fields are replaced, never changed
in place, so a request thread may read any field without the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from .bodies import DEFAULT_ENDLESS_CAP, BodyFault
from .fault_values import (
    FAULT_CHECKS,
    AttachMode,
    ListingMove,
    clean_fault_value,
    shown_fault_value,
)
from .replies import (
    Reply,
    SimulatedError,
    auth_failure,
    error_reply,
    json_reply,
    persona_not_found,
)

# Upper bound on how long a "hung" request waits; stop() wakes it earlier.
DEFAULT_HANG_TIMEOUT = 600.0
HTML_ERROR_PAGE = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


@dataclass
class Faults:
    """Misbehaviours the simulator injects. Every field may be changed at any time."""

    latency: float = 0.0
    """Seconds added to every API request (control endpoints excluded)."""
    read_statuses: list[int] = field(default_factory=list)
    """Scripted statuses for the next reads; one is popped per read. 0 or 2xx = serve normally."""
    write_statuses: list[int] = field(default_factory=list)
    """Scripted statuses for the next writes; a scripted error does not perform the write."""
    retry_after: str | None = None
    """Retry-After header value sent with scripted 429 responses."""
    drop_after_write: int = 0
    """The next N writes are applied, then the connection is closed without a response."""
    hang: int = 0
    """The next N API requests never get an answer."""
    hang_writes_after: int | None = None
    """Once this many writes have been served (counted from when the field was set), every
    later write hangs."""
    html_errors: bool = False
    """Scripted error bodies are an HTML gateway page instead of JSON."""
    inbound_numbers_as_strings: bool = False
    """Persona objects list ``inbound_numbers`` as bare strings."""
    attach_mode: AttachMode = "steal"
    """What attaching a number held by another persona does: move it, refuse (409
    INBOUND_NUMBER_IN_USE), refuse as the one documented attach error (400
    INVALID_INBOUND_NUMBERS, "not found or not yours"), or add it while leaving it on the old
    persona too."""
    legacy_inbound_includes_persona: bool = False
    """GET /v1/inbound and GET /v1/inbound/{number} also report ``label`` and ``persona_id``
    (the docs do not promise them)."""
    inbound_shows_routing: bool = False
    """GET /v1/inbound reports each number's ``pathway_id`` and ``prompt`` (else ``prompt`` is
    null, as in the docs' example, and ``pathway_id`` absent)."""
    twins_listed: bool = False
    """GET /v1/personas lists the twin personas of v2 agents (tagged ``v2-agent:<id>``)."""
    twins_readable: bool = False
    """The v1 persona endpoints serve a twin persona by its id (else 404 PERSONA_NOT_FOUND)."""
    hang_timeout: float = DEFAULT_HANG_TIMEOUT
    """Cap on how long a hung request waits before its connection is closed."""
    move_during_listing: ListingMove | None = None
    """Once the given page of GET /v1/personas is served, move a number to another persona,
    so that a client reading on sees the number on two personas (a one-time change)."""
    trickle_seconds: float = 0.0
    """API response bodies are sent one byte at a time, this many seconds apart (0 = off)."""
    endless_body: bool = False
    """API response bodies never end (chunked whitespace, cut off at ``endless_body_cap``)."""
    endless_body_cap: int = DEFAULT_ENDLESS_CAP
    """Bytes after which an endless body is cut off, should no client hang up before."""
    large_body_bytes: int = 0
    """API response bodies are padded with whitespace up to this many bytes (0 = off)."""
    listing_spellings: dict[str, str] = field(default_factory=dict)
    """number -> how persona objects (the listing, GET /v1/personas/{id}, the attach and
    detach answers) spell it, e.g. ``+1 415 5550100``, ``14155550100`` or one that is no
    number at all. A write may name a number in this spelling or in the account's."""
    inbound_spellings: dict[str, str] = field(default_factory=dict)
    """number -> how GET /v1/inbound and GET /v1/inbound/{number} spell it: the account's own
    spelling, which every write (and the path of GET /v1/inbound/{number}) may then use."""

    # What each fault accepts; a subclass with faults of its own extends it.
    CHECKS: ClassVar[Mapping[str, Callable[[object], bool]]] = FAULT_CHECKS

    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )
    _writes_served: int = field(default=0, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        # Arming hang_writes_after starts a fresh count, so "hang after k writes" means k more
        # writes from now, not k writes since the simulator started.
        if name == "hang_writes_after":
            object.__setattr__(self, "_writes_served", 0)
        object.__setattr__(self, name, value)

    @classmethod
    def field_names(cls) -> list[str]:
        """The public fault names, in declaration order."""
        return [f.name for f in fields(cls) if not f.name.startswith("_")]

    def to_dict(self) -> dict[str, Any]:
        """Every fault and its value, as served by GET /_sim/faults."""
        with self._lock:
            return {name: shown_fault_value(getattr(self, name)) for name in self.field_names()}

    def update(self, changes: Mapping[str, Any]) -> None:
        """Validate every change first, then apply them all (all or nothing)."""
        cleaned = {
            name: clean_fault_value(self.CHECKS, name, value) for name, value in changes.items()
        }
        with self._lock:
            for name, value in cleaned.items():
                setattr(self, name, value)

    def reset(self) -> None:
        """Put every fault back to its default."""
        self.update(type(self)().to_dict())

    def pop_status(self, kind: str) -> int:
        """Pop the next scripted status for a read or write; 0 when none is scripted."""
        with self._lock:
            queue = self.write_statuses if kind == "write" else self.read_statuses
            if not queue:
                return 0
            return queue.pop(0)

    def take_hang(self, is_write: bool) -> bool:
        """Decide whether this request hangs, consuming one ``hang`` token if so."""
        with self._lock:
            if self.hang > 0:
                self.hang -= 1
                return True
            if is_write and self.hang_writes_after is not None:
                if self._writes_served >= self.hang_writes_after:
                    return True
                object.__setattr__(self, "_writes_served", self._writes_served + 1)
            return False

    def take_drop(self) -> bool:
        """Consume one ``drop_after_write`` token, if any is left."""
        with self._lock:
            if self.drop_after_write > 0:
                self.drop_after_write -= 1
                return True
            return False

    def take_listing_move(self, page: int) -> ListingMove | None:
        """The move due now that ``page`` of the listing was served, if any; it fires once."""
        with self._lock:
            move = self.move_during_listing
            if move is None or move.after_page != page:
                return None
            self.move_during_listing = None
            return move

    def stored_number(self, spelling: str) -> str:
        """The number a request names, spelled as the account stores it."""
        for spellings in (self.inbound_spellings, self.listing_spellings):
            for number, shown in spellings.items():
                if shown == spelling:
                    return number
        return spelling

    def body_fault(self) -> BodyFault | None:
        """How API response bodies are to be misdelivered now; None = normally."""
        trickle, pad, endless = self.trickle_seconds, self.large_body_bytes, self.endless_body
        if trickle <= 0 and pad <= 0 and not endless:
            return None
        return BodyFault(trickle, pad, endless, self.endless_body_cap)


def scripted_reply(status: int, faults: Faults) -> Reply:
    """The error reply for a scripted status, in the shape the faults ask for."""
    headers: dict[str, str] = {}
    if status == 429 and faults.retry_after is not None:
        headers["Retry-After"] = faults.retry_after
    if faults.html_errors:
        return Reply(status, HTML_ERROR_PAGE, "text/html; charset=utf-8", headers)
    if status == 429:
        return json_reply(429, {"status": "error", "message": "Rate limit exceeded"}, headers)
    if status >= 500:
        exc = SimulatedError(status, "INTERNAL_SERVER_ERROR", "An internal server error occurred")
    elif status == 401:
        exc = auth_failure()
    elif status == 403:
        exc = SimulatedError(403, "FORBIDDEN", "You do not have permission to perform this action")
    elif status == 404:
        exc = persona_not_found()
    else:
        exc = SimulatedError(status, "INVALID_REQUEST", "Invalid request")
    reply = error_reply(exc)
    reply.headers.update(headers)
    return reply
