"""Carry out a plan with the fewest writes: per persona one attach call for the numbers it gains
(moves ride along) and one detach call for those it loses, every attach before any detach (make
before break); then settings and labels, one call per number. A 401/403 or the `stop` event
(SIGINT/SIGTERM) sends nothing more. Every write ends in the result: done, failed or skipped."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.apply.result import ApplyResult, Write
from reconciler.client_protocols import AccountWriter
from reconciler.errors import AUTH_STOPPED, INTERRUPTED, ApiError, AuthError, LogFailed, NotSent
from reconciler.model import UNREAD, SeenSettings, owner_id, owner_kind, routing_settings
from reconciler.plan import Action, Plan, value_json
from reconciler.text import printable

_HELD_ELSEWHERE_WORDS = ("IN_USE", "ALREADY", "ATTACHED", "ASSIGNED", "CONFLICT")

OnWrite = Callable[[Write], None]


@dataclass
class PlanWriter:
    """Sends one plan's writes, each added to `result` as it ends (a repair's to the first
    plan's) and handed to `on_write` as it goes to the wire (outcome `sent`) and as it ends."""

    plan: Plan
    client: AccountWriter
    result: ApplyResult
    parallelism: int = 4
    stop: threading.Event = field(default_factory=threading.Event)
    on_write: OnWrite = lambda _write: None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # Names only ever reach messages here, so they are made printable once.
        self.names = {pid: printable(name) for pid, name in self.plan.persona_names().items()}
        self.moves = {
            (c.persona_id, c.phone_number) for c in self.plan.changes if c.action is Action.MOVE
        }

    def apply(self) -> None:
        """Attaches, then detaches (make before break), then settings, then labels."""
        self.result.plans.append(self.plan)
        gains, losses = self.plan.gains(), self.plan.losses()
        order = sorted(set(gains) | set(losses), key=lambda pid: (self.names.get(pid, ""), pid))
        attaches = [self._write("attach", pid, gains[pid]) for pid in order if pid in gains]
        failed = {write.persona_id for write in self._send_all(attaches) if not write.ok}
        # Without its new numbers, a persona keeps its old ones.
        self._send_all(
            [self._write("detach", pid, losses[pid]) for pid in order if pid in losses],
            lambda write: write.persona_id in failed and not self.halted(),
            "its attach did not succeed (make before break)",
        )
        # Settings live on the attachment an attach that failed did not make (a label lives on
        # the number itself).
        unmade = {(pid, number) for pid in failed for number in gains[pid]}
        number_writes = [
            self._write(c.action.value, c.persona_id, [c.phone_number], value_json(c.after))
            for c in self.plan.number_writes()
        ]
        self._send_all(
            [write for write in number_writes if write.action == "settings"],
            lambda write: (write.persona_id, write.numbers[0]) in unmade,
            "its attach did not succeed",
        )
        self._send_all([write for write in number_writes if write.action == "label"])
        self.result.interrupted = self.stop.is_set()

    def halted(self) -> str | None:
        """Why nothing more is sent, once the run was interrupted or stopped; else None."""
        if (stopped_by := self.result.stopped_by) is not None:
            return str(stopped_by) if isinstance(stopped_by, LogFailed) else AUTH_STOPPED
        return INTERRUPTED if self.stop.is_set() else None

    def record(self, write: Write) -> Write:
        # Workers finish in any order; one lock keeps the list and the callbacks whole.
        result = self.result
        with self._lock:
            (result.skipped if write.outcome == "skipped" else result.writes).append(write)
            try:
                self.on_write(write)
            except LogFailed as error:
                result.stopped_by = result.stopped_by or error
            except NotSent:  # its line found the log's pipe full once the run was stopped
                pass
        return write

    def _send_all(
        self,
        writes: list[Write],
        held_back: Callable[[Write], bool] = lambda _write: False,
        because: str = "",
    ) -> list[Write]:
        """Send the writes on up to `parallelism` threads, each recorded as it ends; those
        `held_back` are recorded first, skipped `because`. The writes sent, as they ended."""
        sends: list[Write] = []
        for write in writes:
            if held_back(write):
                self.record(write.skipped_because(because))
            else:
                sends.append(write)
        with ThreadPoolExecutor(max_workers=min(self.parallelism, len(sends)) or 1) as pool:
            return list(pool.map(lambda write: self.record(self._send(write)), sends))

    def _write(self, action: str, persona_id: str, numbers: list[str], value: Any = None) -> Write:
        """A write as it reads once done: an attach names the numbers the plan moves there; a
        settings or label write carries `value`, what it writes as JSON."""
        moved = tuple(n for n in numbers if action == "attach" and (persona_id, n) in self.moves)
        name = self.names.get(persona_id, persona_id)
        return Write(persona_id, name, action, tuple(numbers), moved=moved, value=value)

    def _send(self, intended: Write, *, must_finish: bool = False) -> Write:
        """Make one write's call unless the run halted, and say how it ended; `must_finish`: a
        refusal's fallback write, sent whatever happens, never falling back again."""
        if (halted := self.halted()) and not must_finish:
            return intended.skipped_because(halted)

        def sent() -> None:
            """The audit's `sent` line, as the call goes out: one not written keeps the write
            unsent, but for a fallback's, whose number must not be left on no persona."""
            try:
                self.on_write(replace(intended, outcome="sent"))
            except (LogFailed, NotSent):
                if not must_finish:
                    raise

        try:
            with self.client.before_wire(sent):
                self._call(intended)
        except NotSent as error:
            return intended.skipped_because(error.reason)
        except (AuthError, LogFailed) as error:  # the run stops
            with self._lock:
                self.result.stopped_by = self.result.stopped_by or error
            if isinstance(error, LogFailed):  # its `sent` line could not be written: never sent
                return intended.skipped_because(str(error))
            return intended.failed_with(error)
        except ApiError as error:
            if not must_finish and (sources := self._refused_from(error, intended)):
                return self._free_then_attach(intended, error, sources)
            return intended.failed_with(error)
        return intended

    def _call(self, write: Write) -> None:
        """The call a write makes, the numbers as the account spells them. An agent's numbers are
        attached and detached through v2, never through its twin persona in v1."""
        key, numbers, client = write.persona_id, self.plan.spelled(write.numbers), self.client
        if write.action == "settings":
            client.update_settings(key, numbers[0], routing_settings(write.value))
        elif write.action == "label":
            # The label is read back from the persona holding the number: an agent's is hidden.
            holder = key if owner_kind(key) == "persona" else None
            client.update_label(numbers[0], write.value, persona_id=holder)
        elif owner_kind(key) == "agent":
            attach = write.action == "attach"
            (client.attach_to_agent if attach else client.detach_from_agent)(owner_id(key), numbers)
        else:
            (client.attach if write.action == "attach" else client.detach)(key, numbers)

    def _refused_from(self, error: ApiError, write: Write) -> dict[str, list[str]]:
        """Per owner, the numbers to free there when the API refused an attach as held by another
        persona: a 409, a code that says "in use", or INVALID_INBOUND_NUMBERS while every number
        is on the account (the docs name no code). Empty for any other failure, and for a pathway,
        a prompt, or a persona only GET /v1/inbound names (it may be an agent's hidden twin)."""
        if write.action != "attach" or error.status is None:
            return {}
        sources: dict[str, list[str]] = {}
        for source, moves in self.plan.moves_by_source().items():
            kind = owner_kind(source)
            moved = [m.phone_number for m in moves if m.phone_number in write.moved]
            if moved and (kind == "agent" or (kind == "persona" and moves[0].from_persona_name)):
                sources[source] = moved
        code = (error.code or "").upper()
        if not sources or error.status == 409 or any(w in code for w in _HELD_ELSEWHERE_WORDS):
            return sources
        if code != "INVALID_INBOUND_NUMBERS":
            return {}
        try:
            return sources if set(write.numbers) <= self.client.list_account_numbers() else {}
        except ApiError:
            return {}

    def _free_then_attach(
        self, intended: Write, refusal: ApiError, sources: dict[str, list[str]]
    ) -> Write:
        """Free the numbers where they are held (`sources`), then attach; if that fails, attach
        them back with the settings read before the detach (docs/safety.md). Once one is freed,
        no interrupt or authorisation error cuts this short, nor leaves it unrouted unsaid."""
        name = intended.persona_name
        self.record(intended.failed_with(refusal, "refused"))
        if halted := self.halted():
            return intended.skipped_because(halted)
        freed: dict[str, dict[str, SeenSettings]] = {}  # per source freed, its numbers' settings
        unrouted: list[str] = []
        with self.client.uninterruptible():
            for source, moved in sorted(sources.items()):
                # The settings a detach clears, for a put-back to write again (an agent's
                # numbers carry none); unknown if they cannot be read.
                settings: dict[str, SeenSettings] = dict.fromkeys(moved)
                try:
                    if owner_kind(source) == "persona":
                        held = self.client.get_persona(source)
                        settings = {number: held.settings_of(number) for number in moved}
                except ApiError as error:
                    if isinstance(error, AuthError) and not freed:  # none freed yet: send no more
                        self.result.stopped_by = self.result.stopped_by or error
                        return intended.skipped_because(AUTH_STOPPED)
                    settings = dict.fromkeys(moved, UNREAD)
                if self._fallback("detach", source, moved).ok:
                    freed[source] = settings
            outcome = self._send(intended, must_finish=True)
            if outcome.ok:
                self.result.notes.append(
                    f"{name}: the API refused to attach numbers held by another persona "
                    f"({refusal.code or refusal.status}); detached them there first, then attached"
                )
                return outcome
            for source, settings in sorted(freed.items()):
                if not self._fallback("attach", source, sorted(settings)).ok:
                    unrouted.extend(sorted(settings))
                    continue
                for number, seen in sorted(settings.items()):
                    if seen is not UNREAD and seen is not None:
                        self._fallback("settings", source, [number], value_json(seen))
                if unknown := sorted(number for number, seen in settings.items() if seen is UNREAD):
                    self.result.mismatches.append(
                        f"{', '.join(unknown)} went back to {self.names.get(source, source)} "
                        "without the settings they had there: they could not be read before the "
                        "detach"
                    )
        if unrouted:
            self.result.mismatches.append(
                f"{', '.join(sorted(unrouted))} freed for {name}, whose attach then failed, could "
                "not be attached back where they were (another change may hold them now): the "
                "plan after the writes says where they are"
            )
        elif freed:
            self.result.notes.append(
                f"{name}: the attach failed after the numbers were freed, so they were attached "
                "back where they were"
            )
        return outcome

    def _fallback(self, action: str, owner: str, numbers: list[str], value: Any = None) -> Write:
        """One write of a refusal's fallback, sent whatever happens once begun, and recorded."""
        return self.record(self._send(self._write(action, owner, numbers, value), must_finish=True))
