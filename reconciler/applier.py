"""Carry out a plan with the fewest writes, then read the account back and verify it converged.

One attach call per persona carries every number it gains (attach reassigns a number, so moves
ride along), one detach call per persona carries every number it loses. All attaches run before
any detach, so a number being moved is never left without a persona (make before break).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from reconciler.errors import ApiError, AuthError
from reconciler.model import LivePersona
from reconciler.plan import Action, Plan

log = logging.getLogger(__name__)

# Error codes that say the request itself was wrong, not that the number is held elsewhere.
_NOT_A_CONFLICT = frozenset({"INVALID_INBOUND_NUMBERS", "PERSONA_NOT_FOUND", "INVALID_BODY"})


class AccountWriter(Protocol):
    """What the applier needs from the client."""

    def attach(self, persona_id: str, numbers: Iterable[str]) -> LivePersona: ...

    def detach(self, persona_id: str, numbers: Iterable[str]) -> LivePersona: ...

    def get_persona(self, persona_id: str) -> LivePersona: ...

    def list_personas(self, pages_hint: int = 0) -> tuple[dict[str, LivePersona], int]: ...


@dataclass(frozen=True)
class Write:
    """One write call and how it ended."""

    persona_id: str
    persona_name: str
    action: str
    numbers: tuple[str, ...]
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the call succeeded."""
        return self.error is None


@dataclass
class ApplyResult:
    """Everything apply did: writes, the fixes verification needed, and what is still wrong."""

    writes: list[Write] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    verify_reads: int = 0

    @property
    def failed(self) -> list[Write]:
        """Writes that failed after retries."""
        return [write for write in self.writes if not write.ok]

    @property
    def converged(self) -> bool:
        """True when verification found the account exactly as planned."""
        return not self.mismatches and not self.failed and not self.skipped


Report = Callable[[str], None]


class _Run:
    def __init__(self, plan: Plan, client: AccountWriter, report: Report, parallelism: int) -> None:
        self.plan = plan
        self.client = client
        self.report = report
        self.parallelism = max(1, parallelism)
        self.result = ApplyResult()
        self.names = plan.persona_names()

    def record(self, write: Write) -> None:
        self.result.writes.append(write)
        verb = "attached" if write.action == "attach" else "detached"
        if write.ok:
            self.report(f"{write.persona_name}: {verb} {_count(write.numbers)}")
        else:
            self.report(f"{write.persona_name}: {write.action} failed: {write.error}")

    def write(self, action: str, persona_id: str, numbers: list[str]) -> Write:
        name = self.names.get(persona_id, persona_id)
        call = self.client.attach if action == "attach" else self.client.detach
        try:
            call(persona_id, numbers)
        except AuthError:
            raise
        except ApiError as error:
            if action == "attach" and self._is_conflict(error, persona_id, numbers):
                return self._attach_after_detaching(persona_id, numbers, error)
            return Write(persona_id, name, action, tuple(numbers), str(error))
        return Write(persona_id, name, action, tuple(numbers))

    def _is_conflict(self, error: ApiError, persona_id: str, numbers: list[str]) -> bool:
        moves = self._moves_into(persona_id, numbers)
        return bool(moves) and error.code not in _NOT_A_CONFLICT and error.status in range(400, 500)

    def _moves_into(self, persona_id: str, numbers: list[str]) -> dict[str, list[str]]:
        """Per source persona, the numbers the plan moves from it into persona_id."""
        wanted = set(numbers)
        sources: dict[str, list[str]] = {}
        for change in self.plan.changes:
            if (
                change.action is Action.MOVE
                and change.persona_id == persona_id
                and change.phone_number in wanted
                and change.from_persona_id is not None
            ):
                sources.setdefault(change.from_persona_id, []).append(change.phone_number)
        return sources

    def _attach_after_detaching(
        self, persona_id: str, numbers: list[str], refusal: ApiError
    ) -> Write:
        """The API refused to take numbers held elsewhere: free them there, then attach."""
        name = self.names.get(persona_id, persona_id)
        self.result.notes.append(
            f"{name}: the API refused to attach numbers held by another persona "
            f"({refusal.code or refusal.status}); detached them there first, then attached"
        )
        for source, moved in sorted(self._moves_into(persona_id, numbers).items()):
            self.record(self.write("detach", source, moved))
        try:
            self.client.attach(persona_id, numbers)
        except ApiError as error:
            if isinstance(error, AuthError):
                raise
            return Write(persona_id, name, "attach", tuple(numbers), str(error))
        return Write(persona_id, name, "attach", tuple(numbers))

    def phase(self, jobs: list[tuple[str, str, list[str]]]) -> list[Write]:
        if not jobs:
            return []
        with ThreadPoolExecutor(max_workers=min(self.parallelism, len(jobs))) as pool:
            futures = [pool.submit(self.write, *job) for job in jobs]
            writes = [future.result() for future in futures]
        for write in writes:
            self.record(write)
        return writes

    def run(self) -> ApplyResult:
        gains, losses = self.plan.gains(), self.plan.losses()
        order = sorted(set(gains) | set(losses), key=lambda pid: (self.names.get(pid, ""), pid))
        attached = self.phase([("attach", pid, gains[pid]) for pid in order if pid in gains])
        failed = {write.persona_id for write in attached if not write.ok}
        detach_jobs = []
        for pid in order:
            if pid not in losses:
                continue
            if pid in failed:
                # Make before break: without its new numbers, do not take its old ones away.
                self.result.skipped.append(
                    f"{self.names.get(pid, pid)}: detach of {_count(losses[pid])} skipped "
                    "because its attach failed"
                )
                continue
            detach_jobs.append(("detach", pid, losses[pid]))
        self.phase(detach_jobs)
        self.verify()
        return self.result

    def verify(self) -> None:
        """Read back what the plan touched, fix a move that left a number behind, and check."""
        touched = {change.persona_id for change in self.plan.changes}
        sources: dict[str, set[str]] = {}
        for change in self.plan.changes:
            if change.action is Action.MOVE and change.from_persona_id is not None:
                sources.setdefault(change.from_persona_id, set()).add(change.phone_number)
        personas = self.read(touched | set(sources))
        leftovers = {
            pid: sorted(numbers & personas[pid].numbers)
            for pid, numbers in sources.items()
            if pid in personas and numbers & personas[pid].numbers
        }
        if leftovers:
            for pid, numbers in sorted(leftovers.items()):
                self.result.notes.append(
                    f"{self.names.get(pid, pid)}: still had {_count(numbers)} after the move "
                    "(the API did not reassign them); detached them there"
                )
                self.record(self.write("detach", pid, numbers))
            for pid in leftovers:
                personas[pid] = self.client.get_persona(pid)
                self.result.verify_reads += 1
        self.check(personas, sources)

    def read(self, persona_ids: set[str]) -> dict[str, LivePersona]:
        """The fewest reads: one GET per persona, or a re-list when that takes fewer requests."""
        if self.plan.pages_read and self.plan.pages_read <= len(persona_ids):
            listed, pages = self.client.list_personas(pages_hint=self.plan.pages_read)
            self.result.verify_reads += pages
            return {pid: listed[pid] for pid in persona_ids if pid in listed}
        ids = sorted(persona_ids)
        if not ids:
            return {}
        # Concurrent like the writes: a thousand sequential reads would cost more than the apply.
        with ThreadPoolExecutor(max_workers=min(self.parallelism, len(ids))) as pool:
            outcomes = list(pool.map(self._read_one, ids))
        personas = {}
        for pid, outcome in zip(ids, outcomes, strict=True):
            self.result.verify_reads += 1
            if isinstance(outcome, ApiError):
                self.result.mismatches.append(
                    f"{self.names.get(pid, pid)}: cannot read back: {outcome}"
                )
            else:
                personas[pid] = outcome
        return personas

    def _read_one(self, persona_id: str) -> LivePersona | ApiError:
        try:
            return self.client.get_persona(persona_id)
        except AuthError:
            raise
        except ApiError as error:
            return error

    def check(self, personas: dict[str, LivePersona], sources: dict[str, set[str]]) -> None:
        for managed in self.plan.managed:
            persona = personas.get(managed.id)
            if persona is None:
                continue
            missing = managed.desired - persona.numbers
            extra = persona.numbers - managed.desired
            name = managed.name
            if missing:
                self.result.mismatches.append(f"{name}: still lacks {', '.join(sorted(missing))}")
            if extra:
                self.result.mismatches.append(f"{name}: still has {', '.join(sorted(extra))}")
        managed_ids = {managed.id for managed in self.plan.managed}
        for pid, numbers in sources.items():
            persona = personas.get(pid)
            if persona is not None and numbers & persona.numbers and pid not in managed_ids:
                held = ", ".join(sorted(numbers & persona.numbers))
                self.result.mismatches.append(f"{self.names.get(pid, pid)}: still has {held}")


def _count(numbers: Iterable[str]) -> str:
    items = sorted(numbers)
    noun = "number" if len(items) == 1 else "numbers"
    shown = ", ".join(items[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")
    return f"{len(items)} {noun} ({shown})"


def apply_plan(
    plan: Plan, client: AccountWriter, *, report: Report = log.info, parallelism: int = 4
) -> ApplyResult:
    """Make the plan's writes (batched, attaches first), then verify the account converged."""
    if plan.is_empty:
        return ApplyResult()
    return _Run(plan, client, report, parallelism).run()
