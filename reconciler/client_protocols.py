"""What the core needs of the API client: one protocol to read the account, one to write it.

The client (api.BlandClient) is the one implementation; tests pass fakes of these.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Protocol

from reconciler.model import (
    AgentListing,
    InboundRoute,
    Live,
    LiveAgent,
    LivePersona,
    RoutingSettings,
    SeenLabel,
    SeenSettings,
)


class AccountReader(Protocol):
    """Where the client points, and the reads that make a picture of the account."""

    @property
    def base_url(self) -> str: ...

    def read_live(self, pages_hint: int = 0) -> Live: ...

    def get_persona(self, persona_id: str) -> LivePersona: ...

    def list_personas(self, pages_hint: int = 0) -> tuple[dict[str, LivePersona], int]: ...

    def list_account_numbers(self) -> frozenset[str]: ...

    def list_agents(self) -> AgentListing: ...

    def get_agent(self, agent_id: str) -> LiveAgent | None: ...

    def agent_twin(self, agent_id: str) -> str | None: ...

    def inbound_number(self, number: str) -> InboundRoute: ...


class AccountWriter(AccountReader, Protocol):
    """The writes of a plan: routing, settings and labels, and a scope no interrupt cuts short."""

    def attach(self, persona_id: str, numbers: Iterable[str]) -> LivePersona: ...

    def detach(self, persona_id: str, numbers: Iterable[str]) -> LivePersona: ...

    def update_settings(
        self, persona_id: str, number: str, settings: RoutingSettings | None
    ) -> SeenSettings: ...

    def update_label(
        self, number: str, label: str, *, persona_id: str | None = None
    ) -> SeenLabel: ...

    def attach_to_agent(self, agent_id: str, numbers: Iterable[str]) -> None: ...

    def detach_from_agent(self, agent_id: str, numbers: Iterable[str]) -> int | None: ...

    def uninterruptible(self) -> AbstractContextManager[None]: ...
