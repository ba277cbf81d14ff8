"""Read the account back after the writes and check it converged to what the plan wanted.

What is read back: every persona the run wrote to, every persona a touched number was on when
planned, and every managed persona that declares a touched number, so that a number taken off
the persona really holding it (a plan made on a wrong picture of the account) cannot go unseen.

Two things are put right in the same run. A declared number missing from its persona is attached
there again (one attach per persona, then one settings write per number that declares settings,
as the attach leaves it with none, then read back), unless it is now on a persona the plan did
not take it from; and a move the API did not complete (the number reached its new persona but
stayed on the old one) is finished with one detach. Everything still wrong is named in the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from reconciler.apply.declared import declared_mismatches
from reconciler.apply.result import ApplyResult, Write, counted_numbers
from reconciler.errors import ApiError, AuthError
from reconciler.model import LivePersona
from reconciler.plan import Action, Change, Plan
from reconciler.text import printable

# Sends one write ("attach" or "detach", persona id, numbers) and records how it ended.
Send = Callable[[str, str, list[str]], Write]
# Sends one settings write (a Change of Action.SETTINGS) and records how it ended.
SendSettings = Callable[[Change], Write]


class AccountReader(Protocol):
    """What verification reads from the client."""

    def get_persona(self, persona_id: str) -> LivePersona: ...

    def list_personas(self, pages_hint: int = 0) -> tuple[dict[str, LivePersona], int]: ...

    def list_inbound(self) -> dict[str, str | None]: ...


class Verification:
    """Reads back the personas a plan concerns, puts back what it can, records what is wrong."""

    def __init__(
        self,
        plan: Plan,
        client: AccountReader,
        result: ApplyResult,
        names: Mapping[str, str],
        parallelism: int,
        send: Send,
        send_settings: SendSettings,
    ) -> None:
        self.plan = plan
        self.client = client
        self.result = result
        self.names = names
        self.parallelism = parallelism
        self.send = send
        self.send_settings = send_settings

    def run(self) -> None:
        """Read back, put declared numbers back, finish moves that left a number behind, check."""
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
        personas = self._read(self._to_read_back(set(sources)))
        self._put_back_missing(personas)
        detached = self._finish_moves(personas, sources)
        if detached:
            # Read after the detaches: one that took a number off its new persona too is put
            # back here, as any declared number found missing.
            self._put_back_missing(personas, only=detached)
        self._check(personas, sources)
        self.result.mismatches.extend(declared_mismatches(self.plan, personas))

    def _to_read_back(self, sources: set[str]) -> set[str]:
        """The personas written to, and those a touched number was or had to be on."""
        numbers = {change.phone_number for change in self.plan.changes}
        written = {change.persona_id for change in self.plan.changes} | sources
        held_then = {owner for number in numbers for owner in self.plan.owners.get(number, ())}
        held_then.update(
            ref.id
            for found in self.plan.confirmed
            if found.phone_number in numbers
            for ref in found.seen_on
        )
        declaring = {persona.id for persona in self.plan.managed if persona.desired & numbers}
        return written | ((held_then | declaring) - self.plan.unlisted)

    def _put_back_missing(
        self, personas: dict[str, LivePersona], only: set[str] | None = None
    ) -> None:
        """Attach declared numbers missing from their persona again, then read those back.

        `only` limits this to those numbers (a second pass, after the moves were finished).
        """
        missing = self._missing(personas, only)
        if not missing:
            return
        elsewhere = self._held_elsewhere(personas, missing)
        protected = frozenset(self.plan.protected)
        unknown = self._look_for_holders(missing, elsewhere) & protected
        repairs: dict[str, list[str]] = {}
        for pid, numbers in sorted(missing.items()):
            taken_from = self._taken_from(pid)
            for number in numbers:
                if number in protected and self.plan.owners.get(number):
                    # It was on a persona when planned and is on none read back: someone may
                    # hold it now, unseen, and a protected number is never taken from anyone.
                    self.result.notes.append(
                        f"{self.names.get(pid, pid)}: lacks {number} after the writes; it is "
                        "protected and was on a persona when planned, so it is not attached "
                        "without knowing who holds it now"
                    )
                    continue
                if number in unknown:
                    self.result.notes.append(
                        f"{self.names.get(pid, pid)}: lacks {number} after the writes; it is "
                        "protected and the personas could not be listed to see who holds it "
                        "now, so it is not attached"
                    )
                    continue
                holders = elsewhere.get(number, set()) - {pid}
                unplanned = holders - taken_from.get(number, set())
                if unplanned:
                    # Someone else moved it there: taking it back would be a move no valve saw.
                    self.result.notes.append(
                        f"{self.names.get(pid, pid)}: lacks {number} after the writes, and it is "
                        f"on {self._named(unplanned)} now, which the plan did not take it from: "
                        "not taken back"
                    )
                    continue
                repairs.setdefault(pid, []).append(number)
        for pid, numbers in repairs.items():
            self.result.notes.append(
                f"{self.names.get(pid, pid)}: lacked {counted_numbers(numbers)} after the writes; "
                "attached them there"
            )
            if self.send("attach", pid, numbers).ok:
                self._write_declared_settings(pid, numbers)
        repaired = {number for numbers in repairs.values() for number in numbers}
        holders = {pid for pid, persona in personas.items() if persona.numbers & repaired}
        for pid in sorted(set(repairs) | holders):
            personas[pid] = self.client.get_persona(pid)
            self.result.verify_reads += 1

    def _write_declared_settings(self, persona_id: str, numbers: list[str]) -> None:
        """Give numbers just attached again the settings their persona declares for them.

        The attach left them with none (as a detach or a move does), so a number that declares
        settings gets one write; one that declares none or `null` already matches.
        """
        declared = next(
            (managed.settings for managed in self.plan.managed if managed.id == persona_id), {}
        )
        name = self.names.get(persona_id, persona_id)
        for number in numbers:
            wanted = declared.get(number)
            if wanted is not None:
                self.send_settings(
                    Change(Action.SETTINGS, persona_id, name, number, before=None, after=wanted)
                )

    def _missing(
        self, personas: dict[str, LivePersona], only: set[str] | None = None
    ) -> dict[str, list[str]]:
        """Per managed persona read back, the declared numbers it lacks that no failed or
        skipped attach of this run was to bring (those are reported as they are)."""
        unsent = {
            (write.persona_id, number)
            for write in [*self.result.failed, *self.result.skipped]
            if write.action == "attach"
            for number in write.numbers
        }
        missing: dict[str, list[str]] = {}
        for managed in self.plan.managed:
            persona = personas.get(managed.id)
            if persona is None or persona.deleted:
                continue
            lacking = sorted(
                number
                for number in managed.desired - persona.numbers
                if (managed.id, number) not in unsent and (only is None or number in only)
            )
            if lacking:
                missing[managed.id] = lacking
        return missing

    def _held_elsewhere(
        self, personas: dict[str, LivePersona], missing: dict[str, list[str]]
    ) -> dict[str, set[str]]:
        """Who holds each missing number now: the personas read back, and GET /v1/inbound where
        it names an owner (a persona no read covered: moved there during the apply)."""
        numbers = {number for lacking in missing.values() for number in lacking}
        held: dict[str, set[str]] = {}
        for pid, persona in personas.items():
            for number in persona.numbers & numbers:
                held.setdefault(number, set()).add(pid)
        try:
            inbound = self.client.list_inbound()
        except AuthError:
            raise
        except ApiError:
            inbound = {}  # no second source: the reads back are all there is to go on
        self.result.verify_reads += 1
        for number in numbers:
            owner = inbound.get(number)
            if owner is not None:
                held.setdefault(number, set()).add(owner)
        return held

    def _look_for_holders(
        self, missing: dict[str, list[str]], elsewhere: dict[str, set[str]]
    ) -> frozenset[str]:
        """Look for the holders of missing numbers that no read so far shows held.

        A number missing after the writes was taken by someone during the apply, or freed:
        attaching it again could take it from a persona no read back covers, a move no valve
        saw. The personas are listed once (only then) and every holder found goes into
        `elsewhere`. Returns the numbers whose holders stay unknown: the listing failed.
        """
        unseen = {
            number
            for numbers in missing.values()
            for number in numbers
            if not elsewhere.get(number)
        }
        if not unseen:
            return frozenset()
        try:
            listed, pages = self.client.list_personas(pages_hint=self.plan.pages_read)
        except AuthError:
            raise
        except ApiError:
            return frozenset(unseen)
        self.result.verify_reads += pages
        for pid, persona in listed.items():
            if persona.deleted:
                continue
            for number in persona.numbers & unseen:
                elsewhere.setdefault(number, set()).add(pid)
        return frozenset()

    def _taken_from(self, persona_id: str) -> dict[str, set[str]]:
        """Per number, the personas the plan takes it from: moved into persona_id, or detached."""
        taken: dict[str, set[str]] = {}
        for change in self.plan.changes:
            if change.action is Action.MOVE and change.persona_id == persona_id:
                taken.setdefault(change.phone_number, set()).add(change.from_persona_id or "")
            elif change.action is Action.DETACH:
                taken.setdefault(change.phone_number, set()).add(change.persona_id)
        return taken

    def _named(self, persona_ids: set[str]) -> str:
        return ", ".join(self.names.get(pid) or pid for pid in sorted(persona_ids))

    def _finish_moves(
        self, personas: dict[str, LivePersona], sources: dict[str, set[str]]
    ) -> set[str]:
        """Detach a moved number from its old persona when its new one holds it too.

        The old and the new personas are read again after the detaches: what the run vouches
        for is read after its last write to the number. Returns the numbers detached.
        """
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
        if not leftovers:
            return set()
        for pid, numbers in sorted(leftovers.items()):
            self.result.notes.append(
                f"{self.names.get(pid, pid)}: still had {counted_numbers(numbers)} after the "
                "move (the API did not reassign them); detached them there"
            )
            self.send("detach", pid, numbers)
        detached = {number for numbers in leftovers.values() for number in numbers}
        destinations = {
            change.persona_id
            for change in self.plan.changes
            if change.action is Action.MOVE and change.phone_number in detached
        }
        for pid in sorted(set(leftovers) | destinations):
            personas[pid] = self.client.get_persona(pid)
            self.result.verify_reads += 1
        return detached

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
