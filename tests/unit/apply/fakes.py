"""An account in memory for the applier's unit tests: it answers calls and records them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from reconciler.api.wire import build_live
from reconciler.errors import ApiError, NotSent
from reconciler.model import (
    InboundRoute,
    Live,
    LiveAgent,
    LivePersona,
    RoutingSettings,
    SeenLabel,
    SeenSettings,
)
from reconciler.plan import Action, Change, ManagedPersona, Plan

SUPPORT, IVR, SALES = "p-support", "p-ivr", "p-sales"
N100, N101, N102, N103 = "+14155550100", "+14155550101", "+14155550102", "+14155550103"
N110, N130 = "+14155550110", "+14155550130"

Call = tuple[str, str, tuple[str, ...]]


class FakeAccount:
    """Personas and their numbers; attach takes a number off any other persona (as the API does).

    `fail(action, persona, error, ...)` queues errors that the next calls of that action on that
    persona raise instead of writing ("get" and "list" for the reads; "label" takes the number in
    place of the persona). `after_write` runs after each successful write, to change the account
    mid-apply. Per-number settings are cleared by a detach or a move, as the API does; with
    `shows_extras` False the reads list numbers without their settings and labels.
    """

    def __init__(
        self,
        personas: dict[str, tuple[str, Iterable[str]]],
        free: Iterable[str] = (),
        *,
        reassigns: bool = True,
    ) -> None:
        self.names = {pid: name for pid, (name, _) in personas.items()}
        self.numbers = {pid: set(numbers) for pid, (_, numbers) in personas.items()}
        self.deleted: set[str] = set()
        self.account_numbers = set(free).union(*self.numbers.values())
        self.reassigns = reassigns
        self.settings: dict[str, dict[str, RoutingSettings | None]] = {
            pid: dict.fromkeys(numbers) for pid, numbers in self.numbers.items()
        }
        self.labels: dict[str, str | None] = {}
        self.shows_extras = True
        self.number_calls: list[tuple[str, str, str, object]] = []
        # Every write in the order it was made: (action, persona id or number).
        self.timeline: list[tuple[str, str]] = []
        self.inbound_gives_owners = False
        self.calls: list[Call] = []
        self.calls_in_unit: list[Call] = []
        self.reads: list[str] = []
        self.after_write: Callable[[str, str], None] | None = None
        self._errors: dict[tuple[str, str], list[Exception]] = {}
        self._lock = threading.Lock()
        self._unit = threading.local()

    def fail(self, action: str, persona_id: str, *errors: Exception) -> None:
        self._errors.setdefault((action, persona_id), []).extend(errors)

    def _raise_queued(self, action: str, persona_id: str) -> None:
        queued = self._errors.get((action, persona_id))
        if queued:
            raise queued.pop(0)

    def persona(self, persona_id: str) -> LivePersona:
        numbers = frozenset(self.numbers[persona_id])
        shown = self.shows_extras
        return LivePersona(
            persona_id,
            self.names[persona_id],
            numbers,
            persona_id in self.deleted,
            settings={n: self.settings[persona_id].get(n) for n in numbers} if shown else {},
            labels={n: self.labels.get(n) for n in numbers} if shown else {},
        )

    def update_settings(
        self, persona_id: str, number: str, settings: RoutingSettings | None
    ) -> SeenSettings:
        with self._lock:
            self._on_wire("settings", persona_id)
            self.number_calls.append(("settings", persona_id, number, settings))
            self.timeline.append(("settings", number))
            self._raise_queued("settings", persona_id)
            if number not in self.numbers[persona_id]:
                raise ApiError("INBOUND_NOT_FOUND", status=404, code="INBOUND_NOT_FOUND")
            self.settings[persona_id][number] = settings
            return settings

    def update_label(self, number: str, label: str, *, persona_id: str | None = None) -> SeenLabel:
        with self._lock:
            self._on_wire("label", number)
            self.number_calls.append(("label", persona_id or "", number, label))
            self.timeline.append(("label", number))
            self._raise_queued("label", number)
            if number not in self.account_numbers:
                raise ApiError("Phone number not found", status=404)
            self.labels[number] = label or None
            return label

    def attach(self, persona_id: str, numbers: Iterable[str]) -> LivePersona:
        return self._write("attach", persona_id, tuple(numbers))

    def detach(self, persona_id: str, numbers: Iterable[str]) -> LivePersona:
        return self._write("detach", persona_id, tuple(numbers))

    def _write(self, action: str, persona_id: str, numbers: tuple[str, ...]) -> LivePersona:
        with self._lock:
            self._on_wire(action, persona_id)
            self.calls.append((action, persona_id, numbers))
            self.timeline.append((action, persona_id))
            if getattr(self._unit, "depth", 0):
                self.calls_in_unit.append((action, persona_id, numbers))
            self._raise_queued(action, persona_id)
            if action == "attach":
                if self.reassigns:
                    for pid, held in self.numbers.items():
                        if pid != persona_id:
                            held.difference_update(numbers)
                            for number in numbers:
                                self.settings[pid].pop(number, None)
                for number in numbers:
                    if number not in self.numbers[persona_id]:
                        self.settings[persona_id][number] = None
                self.numbers[persona_id].update(numbers)
            else:
                self.numbers[persona_id].difference_update(numbers)
                for number in numbers:
                    self.settings[persona_id].pop(number, None)
            written = self.persona(persona_id)
        if self.after_write is not None:
            self.after_write(action, persona_id)
        return written

    def get_persona(self, persona_id: str) -> LivePersona:
        with self._lock:
            self.reads.append(f"get {persona_id}")
            self._raise_queued("get", persona_id)
            return self.persona(persona_id)

    def list_personas(self, pages_hint: int = 0) -> tuple[dict[str, LivePersona], int]:
        with self._lock:
            self.reads.append("list")
            self._raise_queued("list", "")
            return {pid: self.persona(pid) for pid in self.names}, 1

    def list_inbound(self) -> dict[str, str | None]:
        """Every number; with its one owner only when `inbound_gives_owners` (the docs do not
        promise GET /v1/inbound names owners)."""
        with self._lock:
            self.reads.append("inbound")
            self._raise_queued("inbound", "")
            owners: dict[str, str | None] = dict.fromkeys(self.account_numbers)
            if self.inbound_gives_owners:
                for pid, numbers in self.numbers.items():
                    owners.update(dict.fromkeys(numbers, pid))
            return owners

    base_url = "https://api.bland.ai"

    def read_live(self, pages_hint: int = 0) -> Live:
        """The whole account as the client reads it: the persona list and GET /v1/inbound."""
        personas, pages = self.list_personas(pages_hint)
        return build_live(personas, pages, self.list_inbound())

    def list_agents(self) -> tuple[list[LiveAgent], bool]:
        raise ApiError("Not found", status=404)  # an API without agents

    def inbound_number(self, number: str) -> InboundRoute:
        """GET /v1/inbound/{number}: the persona that answers it, if any."""
        with self._lock:
            self.reads.append(f"route {number}")
            held = [pid for pid, numbers in self.numbers.items() if number in numbers]
            return InboundRoute(number, None, None, held[0] if held else None)

    def list_account_numbers(self) -> frozenset[str]:
        with self._lock:
            self.reads.append("numbers")
            self._raise_queued("numbers", "")
            return frozenset(self.account_numbers)

    @contextmanager
    def before_wire(self, hook: Callable[[], None]) -> Iterator[None]:
        """As the client: `hook` is called as the next write goes out, unless it raises first."""
        self._unit.before_wire = hook
        try:
            yield
        finally:
            self._unit.before_wire = None

    def _on_wire(self, action: str, key: str) -> None:
        """A queued NotSent refuses the write before the wire, as the client's stop check does;
        any other write goes out, and the hook is called."""
        queued = self._errors.get((action, key))
        if queued and isinstance(queued[0], NotSent):
            raise queued.pop(0)
        hook = getattr(self._unit, "before_wire", None)
        self._unit.before_wire = None
        if hook is not None:
            hook()

    @contextmanager
    def uninterruptible(self) -> Iterator[None]:
        self._unit.depth = getattr(self._unit, "depth", 0) + 1
        try:
            yield
        finally:
            self._unit.depth -= 1


def example_account(*, reassigns: bool = True) -> FakeAccount:
    """Support holds 100 and 103, the IVR 102 and 130, Sales nothing; 101 and 110 are free."""
    return FakeAccount(
        {
            SUPPORT: ("Support", [N100, N103]),
            IVR: ("Legacy IVR", [N102, N130]),
            SALES: ("Sales", []),
        },
        free=[N101, N110],
        reassigns=reassigns,
    )


# Support gains 101 (free) and 102 (moved from the IVR) and loses 103; Sales gains 110.
EXAMPLE_PLAN = Plan(
    changes=(
        Change(Action.ATTACH, SALES, "Sales", N110),
        Change(Action.ATTACH, SUPPORT, "Support", N101),
        Change(Action.MOVE, SUPPORT, "Support", N102, IVR, "Legacy IVR"),
        Change(Action.DETACH, SUPPORT, "Support", N103),
    ),
    managed=(
        ManagedPersona(SUPPORT, "Support", frozenset({N100, N103}), frozenset({N100, N101, N102})),
        ManagedPersona(SALES, "Sales", frozenset(), frozenset({N110})),
    ),
    owners={N100: (SUPPORT,), N103: (SUPPORT,), N102: (IVR,), N130: (IVR,)},
)

# Support takes 102 from the IVR and nothing else: the attach that can be refused.
MOVE_PLAN = Plan(
    changes=(Change(Action.MOVE, SUPPORT, "Support", N102, IVR, "Legacy IVR"),),
    managed=(
        ManagedPersona(SUPPORT, "Support", frozenset({N100, N103}), frozenset({N100, N103, N102})),
    ),
    owners={N100: (SUPPORT,), N103: (SUPPORT,), N102: (IVR,), N130: (IVR,)},
)
