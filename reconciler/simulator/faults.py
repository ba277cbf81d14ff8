"""The simulator's fault switches: readings of the API the docs leave open, and its latency.

One instance serves every request thread while tests change it: a switch is replaced whole,
never changed in place, so it needs no lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from copy import copy
from dataclasses import dataclass, fields
from typing import Any


@dataclass(slots=True)
class Faults:
    """Misbehaviours the simulator injects. Every field may be changed at any time; there are
    slots for no others, so a switch misspelt (or only tests have) fails loudly."""

    latency: float = 0.0
    """Seconds added to every API request (control endpoints excluded)."""
    legacy_inbound_includes_persona: bool = False
    """GET /v1/inbound and GET /v1/inbound/{number} also report ``label`` and ``persona_id``."""
    inbound_shows_routing: bool = False
    """GET /v1/inbound reports each number's ``pathway_id`` and ``prompt`` (else ``prompt`` is
    null, as in the docs' example, and ``pathway_id`` absent)."""
    twins_listed: bool = False
    """GET /v1/personas lists the twin personas of v2 agents (tagged ``v2-agent:<id>``)."""
    twins_readable: bool = False
    """The v1 persona endpoints serve a twin persona by its id (else 404 PERSONA_NOT_FOUND)."""

    def switches(self) -> dict[str, str]:
        return {f.name: str(f.type) for f in fields(self) if f.init}

    def to_dict(self) -> dict[str, Any]:
        """Every fault and its value, as POST /_sim/faults answers."""
        return {name: copy(getattr(self, name)) for name in self.switches()}

    def update(self, changes: Mapping[str, Any]) -> None:
        """Validate every change first (ValueError), then apply them all (all or nothing)."""
        switches = self.switches()
        for name, value in changes.items():
            if name not in switches:
                raise ValueError(f"unknown fault {name!r}")
            if not self.accepts(name, value):
                raise ValueError(f"invalid value for fault {name!r}: {value!r}")
        for name, value in changes.items():
            setattr(self, name, float(value) if switches[name] == "float" else copy(value))

    def accepts(self, name: str, value: Any) -> bool:
        """Whether switch ``name`` takes ``value``: a bool for a flag, else seconds (0 or more)."""
        if self.switches()[name] == "bool":
            return isinstance(value, bool)
        return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
