"""Read the account back after the writes and check it converged to what the plan wanted.

A move the API did not complete (the number reached its new persona but stayed on the old one)
is fixed here with one detach; everything else that is still wrong is named in the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from reconciler.apply.declared import declared_mismatches
from reconciler.apply.result import ApplyResult, counted_numbers
from reconciler.errors import ApiError, AuthError
from reconciler.model import LivePersona
from reconciler.plan import Action, Plan
from reconciler.text import printable

# Detaches numbers from a persona and records how that ended.
Detach = Callable[[str, list[str]], None]


class AccountReader(Protocol):
    """What verification reads from the client."""

    def get_persona(self, persona_id: str) -> LivePersona: ...

    def list_personas(self, pages_hint: int = 0) -> tuple[dict[str, LivePersona], int]: ...


class Verification:
    """Reads back the personas a plan touched and records in `result` what is still wrong."""

    def __init__(
        self,
        plan: Plan,
        client: AccountReader,
        result: ApplyResult,
        names: Mapping[str, str],
        parallelism: int,
        detach: Detach,
    ) -> None:
        self.plan = plan
        self.client = client
        self.result = result
        self.names = names
        self.parallelism = parallelism
        self.detach = detach

    def run(self) -> None:
        """Read back what the plan touched, fix a move that left a number behind, and check."""
        touched = {change.persona_id for change in self.plan.changes}
        sources = {
            source: {move.phone_number for move in moves}
            for source, moves in self.plan.moves_by_source().items()
        }
        for pid in sorted(self.plan.unlisted & sources.keys()):
            # Known only from GET /v1/inbound: no list shows it and a GET may not find it.
            self.result.notes.append(
                f"{counted_numbers(sources.pop(pid))} came from {self.names.get(pid) or pid}, "
                "a persona the persona list does not show; it was not read back"
            )
        personas = self._read(touched | set(sources))
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
                    f"{self.names.get(pid, pid)}: still had {counted_numbers(numbers)} after the "
                    "move (the API did not reassign them); detached them there"
                )
                self.detach(pid, numbers)
            for pid in leftovers:
                personas[pid] = self.client.get_persona(pid)
                self.result.verify_reads += 1
        self._check(personas, sources)
        self.result.mismatches.extend(declared_mismatches(self.plan, personas))

    def _read(self, persona_ids: set[str]) -> dict[str, LivePersona]:
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

    def _check(self, personas: dict[str, LivePersona], sources: dict[str, set[str]]) -> None:
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
