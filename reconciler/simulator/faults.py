"""The simulator's fault switches: readings of the API the docs leave open, and misbehaviours.

One instance serves every request thread while tests change it: a counter or a scripted-status
list changes only under its lock; other fields are replaced whole, so a read needs no lock.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from copy import copy
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(slots=True)
class Faults:
    """Misbehaviours the simulator injects. Every field may be changed at any time; there are
    slots for no others, so a switch misspelt (or only tests have) fails loudly."""

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
    legacy_inbound_includes_persona: bool = False
    """GET /v1/inbound and GET /v1/inbound/{number} also report ``label`` and ``persona_id``."""
    inbound_shows_routing: bool = False
    """GET /v1/inbound reports each number's ``pathway_id`` and ``prompt`` (else ``prompt`` is
    null, as in the docs' example, and ``pathway_id`` absent)."""
    twins_listed: bool = False
    """GET /v1/personas lists the twin personas of v2 agents (tagged ``v2-agent:<id>``)."""
    twins_readable: bool = False
    """The v1 persona endpoints serve a twin persona by its id (else 404 PERSONA_NOT_FOUND)."""
    listing_spellings: dict[str, str] = field(default_factory=dict)
    """number -> how persona objects spell it (``+1 415 5550100``, ``14155550100``, any text)."""
    inbound_spellings: dict[str, str] = field(default_factory=dict)
    """number -> how GET /v1/inbound and GET /v1/inbound/{number} spell it. A write, and the
    path of GET /v1/inbound/{number}, may name a number in either spelling or the account's."""

    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def switches(self) -> dict[str, str]:
        """Each switch and its declared type."""
        return {f.name: str(f.type) for f in fields(self) if f.init}

    def to_dict(self) -> dict[str, Any]:
        """Every fault and its value, as served by GET /_sim/faults."""
        with self._lock:
            return {name: copy(getattr(self, name)) for name in self.switches()}

    def update(self, changes: Mapping[str, Any]) -> None:
        """Validate every change first (ValueError), then apply them all (all or nothing)."""
        switches = self.switches()
        for name, value in changes.items():
            if name not in switches:
                raise ValueError(f"unknown fault {name!r}")
            if not self.accepts(name, value):
                raise ValueError(f"invalid value for fault {name!r}: {value!r}")
        with self._lock:
            for name, value in changes.items():
                setattr(self, name, float(value) if switches[name] == "float" else copy(value))

    def accepts(self, name: str, value: Any) -> bool:
        """Whether switch ``name`` takes ``value``, by its declared type: a bool; a count (int)
        or seconds (float: any number), 0 or more; HTTP statuses (0 = none); non-blank texts
        for texts; a text or null."""
        kind = self.switches()[name]
        number = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
        if kind == "bool":
            return isinstance(value, bool)
        if kind in ("int", "float"):
            return number and (kind == "float" or isinstance(value, int))
        if kind == "list[int]":
            return isinstance(value, list) and all(
                type(status) is int and (status == 0 or 100 <= status <= 599) for status in value
            )
        if kind == "dict[str, str]":
            return isinstance(value, dict) and all(
                isinstance(text, str) and text.strip() for pair in value.items() for text in pair
            )
        return kind == "str | None" and (value is None or isinstance(value, str))

    def pop_status(self, is_write: bool) -> int:
        """Pop the next scripted status for a read or write; 0 when none is scripted."""
        with self._lock:
            queue = self.write_statuses if is_write else self.read_statuses
            return queue.pop(0) if queue else 0

    def take(self, name: str) -> bool:
        """Consume one token of the counter ``name`` (e.g. ``drop_after_write``), if any is left."""
        with self._lock:
            left = getattr(self, name)
            if left > 0:
                setattr(self, name, left - 1)
            return bool(left > 0)

    def stored_number(self, spelling: str) -> str:
        """The number a request names, spelled as the account stores it."""
        spelt = (self.inbound_spellings, self.listing_spellings)
        return next((n for s in spelt for n, shown in s.items() if shown == spelling), spelling)
