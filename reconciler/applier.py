"""Carry out a plan with the fewest writes, then read the account back and verify it converged.

One attach call per persona carries every number it gains (attach reassigns a number, so moves
ride along), one detach call per persona carries every number it loses. All attaches run before
any detach, so a number being moved is never left without a persona (make before break).

A run can be cut short: a 401/403 stops it at once, and a `stop` event (set on SIGINT/SIGTERM)
lets the writes on the wire finish and sends nothing more. Either way every planned write ends
up in the result as done, failed or skipped, so the report can say exactly what happened.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Literal, Protocol

from reconciler.errors import AUTH_STOPPED, INTERRUPTED, ApiError, AuthError, NotSent
from reconciler.model import LivePersona, printable
from reconciler.plan import Action, Plan

log = logging.getLogger(__name__)

# Error codes that say the request itself was wrong, not that the number is held elsewhere.
# Words in an error code that say a number is held elsewhere.
_CONFLICT_WORDS = ("IN_USE", "ALREADY", "ATTACHED", "ASSIGNED", "CONFLICT")


class AccountWriter(Protocol):
    """What the applier needs from the client."""

    def attach(self, persona_id: str, numbers: Iterable[str]) -> LivePersona: ...

    def detach(self, persona_id: str, numbers: Iterable[str]) -> LivePersona: ...

    def get_persona(self, persona_id: str) -> LivePersona: ...

    def list_personas(self, pages_hint: int = 0) -> tuple[dict[str, LivePersona], int]: ...

    def list_account_numbers(self) -> frozenset[str]: ...

    def uninterruptible(self) -> AbstractContextManager[None]: ...


# refused: an attach the API refused because another persona holds a number; the fallback that
# frees the number first follows, and its own writes say how that ended.
Outcome = Literal["done", "failed", "skipped", "refused"]


@dataclass(frozen=True)
class Write:
    """One write call and how it ended; a skipped one was never sent and `error` says why."""

    persona_id: str
    persona_name: str
    action: str
    numbers: tuple[str, ...]
    error: str | None = None
    outcome: Outcome = "done"
    status: int | None = None
    code: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        """True when the call succeeded."""
        return self.outcome == "done"

    def failed_with(self, error: ApiError) -> Write:
        """This write, failed with the API's status, code and message."""
        return Write(
            self.persona_id,
            self.persona_name,
            self.action,
            self.numbers,
            str(error),
            "failed",
            error.status,
            error.code,
            error.api_message,
        )

    def refused_with(self, error: ApiError) -> Write:
        """This write, refused by the API because a number is held elsewhere."""
        failed = self.failed_with(error)
        return Write(
            self.persona_id,
            self.persona_name,
            self.action,
            self.numbers,
            failed.error,
            "refused",
            failed.status,
            failed.code,
            failed.message,
        )

    def skipped_because(self, reason: str) -> Write:
        """This write, not sent, for `reason`."""
        return Write(
            self.persona_id, self.persona_name, self.action, self.numbers, reason, "skipped"
        )


@dataclass
class ApplyResult:
    """Everything apply did: writes, the fixes verification needed, and what is still wrong."""

    writes: list[Write] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[Write] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    verify_reads: int = 0
    interrupted: bool = False
    stopped_by: AuthError | None = None

    @property
    def done(self) -> list[Write]:
        """Writes that succeeded."""
        return [write for write in self.writes if write.ok]

    @property
    def failed(self) -> list[Write]:
        """Writes that failed after retries."""
        return [write for write in self.writes if write.outcome == "failed"]

    @property
    def converged(self) -> bool:
        """True when verification found the account exactly as planned."""
        return (
            not self.mismatches
            and not self.failed
            and not self.skipped
            and not self.interrupted
            and self.stopped_by is None
        )


Report = Callable[[str], None]
OnWrite = Callable[[Write], None]


def describe(write: Write) -> str:
    """One line for a write: what was done, what failed and why, or what was skipped and why."""
    name = printable(write.persona_name)
    if write.outcome == "done":
        verb = "attached" if write.action == "attach" else "detached"
        return f"{name}: {verb} {_count(write.numbers)}"
    if write.outcome == "refused":
        return (
            f"{name}: {write.action} of {_count(write.numbers)} refused: {write.error}; "
            "freeing the numbers held elsewhere first"
        )
    return f"{name}: {write.action} of {_count(write.numbers)} {write.outcome}: {write.error}"


class _Run:
    def __init__(
        self,
        plan: Plan,
        client: AccountWriter,
        report: Report,
        parallelism: int,
        stop: threading.Event,
        on_write: OnWrite | None,
    ) -> None:
        self.plan = plan
        self.client = client
        self.report = report
        self.parallelism = max(1, parallelism)
        self.stop = stop
        self.on_write = on_write
        self.result = ApplyResult()
        # Names only ever reach messages here, so they are made printable once.
        self.names = {pid: printable(name) for pid, name in plan.persona_names().items()}
        self._lock = threading.Lock()

    def halted(self) -> bool:
        return self.stop.is_set() or self.result.stopped_by is not None

    def record(self, write: Write) -> None:
        # Workers finish in any order; one lock keeps the lines, the list and the callbacks whole.
        with self._lock:
            if write.outcome == "skipped":
                self.result.skipped.append(write)
            else:
                self.result.writes.append(write)
            self.report(describe(write))
            if self.on_write is not None:
                self.on_write(write)

    def planned(self, action: str, persona_id: str, numbers: list[str]) -> Write:
        return Write(persona_id, self.names.get(persona_id, persona_id), action, tuple(numbers))

    def write(
        self, action: str, persona_id: str, numbers: list[str], *, unit: bool = False
    ) -> Write:
        """One write call; `unit` for the writes of a fallback that must finish once begun."""
        planned = self.planned(action, persona_id, numbers)
        if self.halted() and not unit:
            return planned.skipped_because(self._halt_reason())
        call = self.client.attach if action == "attach" else self.client.detach
        try:
            call(persona_id, numbers)
        except NotSent as error:
            return planned.skipped_because(error.reason)
        except AuthError as error:
            with self._lock:
                self.result.stopped_by = self.result.stopped_by or error
            return planned.failed_with(error)
        except ApiError as error:
            if action == "attach" and self._is_conflict(error, persona_id, numbers):
                return self._attach_after_detaching(persona_id, numbers, error)
            return planned.failed_with(error)
        return planned

    def _halt_reason(self) -> str:
        return AUTH_STOPPED if self.result.stopped_by is not None else INTERRUPTED

    def _is_conflict(self, error: ApiError, persona_id: str, numbers: list[str]) -> bool:
        """Whether a failed attach says "refused: a number is held by another persona".

        Only then is freeing the number first worth the short unrouted window, and the docs name
        no code for it: a 409, or a code that says the number is in use, counts; so does
        INVALID_INBOUND_NUMBERS ("not found or not yours") when every number is still on the
        account. Anything else (throttled, timed out, missing, malformed) says nothing about
        owners, and the attach simply failed.
        """
        if not self._moves_into(persona_id, numbers) or error.status is None:
            return False
        if error.status == 409:
            return True
        code = (error.code or "").upper()
        if any(word in code for word in _CONFLICT_WORDS):
            return True
        if code == "INVALID_INBOUND_NUMBERS":
            try:
                return set(numbers) <= self.client.list_account_numbers()
            except ApiError:
                return False
        return False

    def _moves_into(self, persona_id: str, numbers: list[str]) -> dict[str, list[str]]:
        """Per source persona, the numbers the plan moves from it into persona_id."""
        wanted = set(numbers)
        sources: dict[str, list[str]] = {}
        for source, moves in self.plan.moves_by_source().items():
            moved = [
                move.phone_number
                for move in moves
                if move.persona_id == persona_id and move.phone_number in wanted
            ]
            if moved:
                sources[source] = moved
        return sources

    def _attach_after_detaching(
        self, persona_id: str, numbers: list[str], refusal: ApiError
    ) -> Write:
        """The API refused to take numbers held elsewhere: free them there, then attach.

        Once a number is freed, the attach and, if it fails, the way back are one unit that an
        interrupt or an authorisation error does not cut short: a refusal never leaves a number
        on no persona without saying so.
        """
        planned = self.planned("attach", persona_id, numbers)
        self.record(planned.refused_with(refusal))
        if self.halted():
            return planned.skipped_because(self._halt_reason())
        freed: dict[str, list[str]] = {}
        outcome = planned
        with self.client.uninterruptible():
            for source, moved in sorted(self._moves_into(persona_id, numbers).items()):
                detached = self.write("detach", source, moved, unit=True)
                self.record(detached)
                if detached.ok:
                    freed[source] = moved
            try:
                self.client.attach(persona_id, numbers)
            except ApiError as error:
                if isinstance(error, AuthError):
                    with self._lock:
                        self.result.stopped_by = self.result.stopped_by or error
                outcome = planned.failed_with(error)
            if outcome.ok:
                self.result.notes.append(
                    f"{self.names[persona_id]}: the API refused to attach numbers held by "
                    f"another persona ({refusal.code or refusal.status}); detached them there "
                    "first, then attached"
                )
                return outcome
            unrouted: list[str] = []
            for source, moved in sorted(freed.items()):
                restored = self.write("attach", source, moved, unit=True)
                self.record(restored)
                if not restored.ok:
                    unrouted.extend(moved)
        if unrouted:
            self.result.mismatches.append(
                f"{', '.join(sorted(unrouted))} freed for {self.names[persona_id]}, whose attach "
                "then failed, could not be attached back: they are on no persona now"
            )
        elif freed:
            self.result.notes.append(
                f"{self.names[persona_id]}: the attach failed after the numbers were freed, so "
                "they were attached back where they were"
            )
        return outcome

    def phase(self, jobs: list[tuple[str, str, list[str]]]) -> list[Write]:
        if not jobs:
            return []

        def run_one(action: str, persona_id: str, numbers: list[str]) -> Write:
            write = self.write(action, persona_id, numbers)
            self.record(write)
            return write

        with ThreadPoolExecutor(max_workers=min(self.parallelism, len(jobs))) as pool:
            futures = [pool.submit(run_one, *job) for job in jobs]
            return [future.result() for future in futures]

    def run(self) -> ApplyResult:
        gains, losses = self.plan.gains(), self.plan.losses()
        order = sorted(set(gains) | set(losses), key=lambda pid: (self.names.get(pid, ""), pid))
        attached = self.phase([("attach", pid, gains[pid]) for pid in order if pid in gains])
        not_attached = {write.persona_id for write in attached if not write.ok}
        detach_jobs = []
        for pid in order:
            if pid not in losses:
                continue
            if pid in not_attached and not self.halted():
                # Make before break: without its new numbers, do not take its old ones away.
                self.record(
                    self.planned("detach", pid, losses[pid]).skipped_because(
                        "its attach did not succeed (make before break)"
                    )
                )
                continue
            detach_jobs.append(("detach", pid, losses[pid]))
        self.phase(detach_jobs)
        self.result.interrupted = self.stop.is_set()
        if not self.halted():
            try:
                self.verify()
            except AuthError as error:
                self.result.stopped_by = error
            except ApiError as error:
                self.result.mismatches.append(f"cannot read the account back: {error}")
        return self.result

    def verify(self) -> None:
        """Read back what the plan touched, fix a move that left a number behind, and check."""
        touched = {change.persona_id for change in self.plan.changes}
        sources = {
            source: {move.phone_number for move in moves}
            for source, moves in self.plan.moves_by_source().items()
        }
        for pid in sorted(self.plan.unlisted & sources.keys()):
            # Known only from GET /v1/inbound: no list shows it and a GET may not find it.
            self.result.notes.append(
                f"{_count(sources.pop(pid))} came from {self.names.get(pid) or pid}, a persona "
                "the persona list does not show; it was not read back"
            )
        personas = self.read(touched | set(sources))
        # A number is left behind only if its new persona holds it too: when the attach failed,
        # detaching it from the old persona would leave it with none (make before break).
        arrived = {
            change.phone_number
            for change in self.plan.changes
            if change.action is Action.MOVE
            and change.persona_id in personas
            and change.phone_number in personas[change.persona_id].numbers
        }
        leftovers = {
            pid: sorted(numbers & personas[pid].numbers & arrived)
            for pid, numbers in sources.items()
            if pid in personas and numbers & personas[pid].numbers & arrived
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
            for pid in sorted(persona_ids - listed.keys()):
                self.result.mismatches.append(
                    f"{self.names.get(pid, pid)}: no longer in the list of personas"
                )
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
                continue  # not read back (untouched), or its read already failed
            name = printable(managed.name)
            if persona.deleted:
                self.result.mismatches.append(f"{name}: was deleted during the apply")
                continue
            missing = managed.desired - persona.numbers
            extra = persona.numbers - managed.desired
            if missing:
                self.result.mismatches.append(f"{name}: still lacks {', '.join(sorted(missing))}")
            if extra:
                self.result.mismatches.append(f"{name}: still has {', '.join(sorted(extra))}")
        managed_ids = {managed.id for managed in self.plan.managed}
        for change in self.plan.changes:
            # Detaches from personas the file does not manage (a number held twice).
            persona = personas.get(change.persona_id)
            if (
                change.action is Action.DETACH
                and change.persona_id not in managed_ids
                and persona is not None
                and change.phone_number in persona.numbers
            ):
                self.result.mismatches.append(
                    f"{self.names.get(change.persona_id, change.persona_id)}: "
                    f"still has {change.phone_number}"
                )
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
    plan: Plan,
    client: AccountWriter,
    *,
    report: Report = log.info,
    parallelism: int = 4,
    stop: threading.Event | None = None,
    on_write: OnWrite | None = None,
) -> ApplyResult:
    """Make the plan's writes (batched, attaches first), then verify the account converged.

    `report` gets one line per write as it ends; `on_write` the Write itself. Once `stop` is
    set, writes not yet sent are skipped and verification is left to the next plan.
    """
    if plan.is_empty:
        return ApplyResult()
    run = _Run(plan, client, report, parallelism, stop or threading.Event(), on_write)
    return run.run()
