"""Carry out a plan with the fewest writes.

One attach call per persona carries every number it gains (moves ride along), one detach call
every number it loses, all attaches before any detach (make before break). Then settings and
labels, one call per number. A 401/403 stops the run at once; a `stop` event (SIGINT/SIGTERM)
lets the writes on the wire finish and sends nothing more. Either way every planned write ends
up in the result as done, failed or skipped, so the report can say exactly what happened.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial

from reconciler.apply.result import ApplyResult, Write
from reconciler.client_protocols import AccountWriter
from reconciler.errors import AUTH_STOPPED, INTERRUPTED, ApiError, AuthError, LogFailed, NotSent
from reconciler.model import UNREAD, SeenSettings, owner_id, owner_kind
from reconciler.plan import Action, Change, Plan, value_json
from reconciler.text import printable

# Words in an error code that say a number is held elsewhere.
_HELD_ELSEWHERE_WORDS = ("IN_USE", "ALREADY", "ATTACHED", "ASSIGNED", "CONFLICT")

OnWrite = Callable[[Write], None]


@dataclass
class _PlanWriter:
    """Sends one plan's writes and records how each ended."""

    plan: Plan
    client: AccountWriter
    parallelism: int
    stop: threading.Event
    on_write: OnWrite
    result: ApplyResult = field(default_factory=ApplyResult)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # Names only ever reach messages here, so they are made printable once.
        self.names = {pid: printable(name) for pid, name in self.plan.persona_names().items()}
        self.moves = {
            (c.persona_id, c.phone_number) for c in self.plan.changes if c.action is Action.MOVE
        }

    def apply(self) -> ApplyResult:
        """Attaches, then detaches (make before break), then settings, then labels."""
        gains, losses = self.plan.gains(), self.plan.losses()
        order = sorted(set(gains) | set(losses), key=lambda pid: (self.names.get(pid, ""), pid))
        attached = self._run_concurrently(
            [partial(self._send, "attach", pid, gains[pid]) for pid in order if pid in gains]
        )
        failed = {write.persona_id for write in attached if not write.ok}
        detaches: list[Callable[[], Write]] = []
        for pid in (pid for pid in order if pid in losses):
            if pid in failed and not self.halted():
                # Without its new numbers, a persona keeps its old ones.
                write = self._write_for("detach", pid, losses[pid])
                self.record(write.skipped_because("its attach did not succeed (make before break)"))
            else:
                detaches.append(partial(self._send, "detach", pid, losses[pid]))
        self._run_concurrently(detaches)
        for action in (Action.SETTINGS, Action.LABEL):
            sends: list[Callable[[], Write]] = []
            for change in (c for c in self.plan.number_writes() if c.action is action):
                # Settings live on the attachment an attach that failed did not make (a label
                # lives on the number itself).
                pid, number = change.persona_id, change.phone_number
                if action is Action.SETTINGS and pid in failed and number in gains[pid]:
                    write = self._number_write(change)
                    self.record(write.skipped_because("its attach did not succeed"))
                else:
                    sends.append(partial(self._send_number, change))
            self._run_concurrently(sends)
        self.result.interrupted = self.stop.is_set()
        return self.result

    def halted(self) -> bool:
        """True once the run was interrupted or stopped by an authorisation error."""
        return self.stop.is_set() or self.result.stopped_by is not None

    def record(self, write: Write) -> None:
        """Add a write that ended to the result and hand it to on_write."""
        # Workers finish in any order; one lock keeps the list and the callbacks whole.
        with self._lock:
            if write.outcome == "skipped":
                self.result.skipped.append(write)
            else:
                self.result.writes.append(write)
            try:
                self.on_write(write)
            except LogFailed as error:
                self.result.stopped_by = self.result.stopped_by or error

    def _run_concurrently(self, sends: list[Callable[[], Write]]) -> list[Write]:
        """Run the sends on up to `parallelism` threads; each write is recorded as it ends."""
        if not sends:
            return []

        def send_and_record(send: Callable[[], Write]) -> Write:
            write = send()
            self.record(write)
            return write

        with ThreadPoolExecutor(max_workers=min(self.parallelism, len(sends))) as pool:
            futures = [pool.submit(send_and_record, send) for send in sends]
            return [future.result() for future in futures]

    def _name(self, persona_id: str) -> str:
        return self.names.get(persona_id, persona_id)

    def _write_for(self, action: str, persona_id: str, numbers: list[str]) -> Write:
        """The attach or detach call for these numbers, as it reads once done (an attach says
        which of its numbers the plan moves there)."""
        moved = (
            tuple(n for n in numbers if (persona_id, n) in self.moves) if action == "attach" else ()
        )
        return Write(persona_id, self._name(persona_id), action, tuple(numbers), moved=moved)

    def _number_write(self, change: Change) -> Write:
        """The settings or label call of a change, as it reads once done."""
        name, numbers = self._name(change.persona_id), (change.phone_number,)
        return Write(
            change.persona_id, name, change.action.value, numbers, value=value_json(change.after)
        )

    def _send_number(self, change: Change, *, must_finish: bool = False) -> Write:
        """One settings or label call, the number as the account spells it."""
        spelled = self.plan.spelled([change.phone_number])[0]

        def call() -> None:
            if change.action is Action.SETTINGS:
                assert not isinstance(change.after, str)
                self.client.update_settings(change.persona_id, spelled, change.after)
                return
            assert isinstance(change.after, str)
            # The label is read back from the persona holding the number: an agent's is hidden.
            holder = change.persona_id if owner_kind(change.persona_id) == "persona" else None
            self.client.update_label(spelled, change.after, persona_id=holder)

        return self._attempt(self._number_write(change), call, must_finish)

    def _send(
        self, action: str, persona_id: str, numbers: list[str], *, must_finish: bool = False
    ) -> Write:
        """One attach or detach call."""
        call = partial(self._route, action, persona_id, numbers)
        return self._attempt(self._write_for(action, persona_id, numbers), call, must_finish)

    def _attempt(self, intended: Write, call: Callable[[], object], must_finish: bool) -> Write:
        """Make one call unless the run halted, and say how it ended. `must_finish` marks a
        refusal's fallback writes: they are sent whatever happens once begun, and never fall
        back again."""
        if self.halted() and not must_finish:
            return intended.skipped_because(self._halt_reason())
        try:
            # The client says when the call goes to the wire (after its last check for a stop):
            # a write refused unsent never gets the audit's `sent` line.
            with self.client.before_wire(partial(self.on_write, replace(intended, outcome="sent"))):
                call()
        except NotSent as error:
            return intended.skipped_because(error.reason)
        except LogFailed as error:  # its `sent` line could not be written: never sent
            with self._lock:
                self.result.stopped_by = self.result.stopped_by or error
            return intended.skipped_because(str(error))
        except AuthError as error:
            with self._lock:
                self.result.stopped_by = self.result.stopped_by or error
            return intended.failed_with(error)
        except ApiError as error:
            pid, numbers = intended.persona_id, list(intended.numbers)
            if (
                intended.action == "attach"
                and not must_finish
                and self._is_refusal(error, pid, numbers)
            ):
                return self._free_then_attach(intended, error)
            return intended.failed_with(error)
        return intended

    def _route(self, action: str, key: str, numbers: list[str]) -> None:
        """One attach or detach call to the owner a key names: a persona through v1, an agent
        through v2 (never its twin persona through v1), the numbers as the account spells them."""
        numbers = self.plan.spelled(numbers)
        if owner_kind(key) == "agent":
            to_agent = (
                self.client.attach_to_agent if action == "attach" else self.client.detach_from_agent
            )
            to_agent(owner_id(key), numbers)
        else:
            to_persona = self.client.attach if action == "attach" else self.client.detach
            to_persona(key, numbers)

    def _halt_reason(self) -> str:
        stopped_by = self.result.stopped_by
        if isinstance(stopped_by, LogFailed):
            return str(stopped_by)
        return AUTH_STOPPED if stopped_by is not None else INTERRUPTED

    def _is_refusal(self, error: ApiError, persona_id: str, numbers: list[str]) -> bool:
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
        if any(word in code for word in _HELD_ELSEWHERE_WORDS):
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
            if owner_kind(source) not in ("persona", "agent"):
                continue  # a pathway or a prompt: nothing to detach from
            if owner_kind(source) == "persona" and not moves[0].from_persona_name:
                # Named only by GET /v1/inbound, never listed: it may be an agent's hidden twin,
                # which only the agent API may change. Its numbers are not freed through v1.
                continue
            moved = [
                move.phone_number
                for move in moves
                if move.persona_id == persona_id and move.phone_number in wanted
            ]
            if moved:
                sources[source] = moved
        return sources

    def _free_then_attach(self, intended: Write, refusal: ApiError) -> Write:
        """The API refused to take numbers held elsewhere: free them there, then attach.

        Once a number is freed, the attach and, if it fails, the way back are one unit that an
        interrupt or an authorisation error does not cut short: a refusal never leaves a number
        on no persona without saying so.
        """
        persona_id, numbers = intended.persona_id, list(intended.numbers)
        self.record(intended.failed_with(refusal, "refused"))
        if self.halted():
            return intended.skipped_because(self._halt_reason())
        with self.client.uninterruptible():
            freed = self._free(persona_id, numbers)
            outcome = self._send("attach", persona_id, numbers, must_finish=True)
            if outcome.ok:
                self.result.notes.append(
                    f"{self.names[persona_id]}: the API refused to attach numbers held by "
                    f"another persona ({refusal.code or refusal.status}); detached them there "
                    "first, then attached"
                )
                return outcome
            unrouted = self._put_back(freed)
        if unrouted:
            self.result.mismatches.append(
                f"{', '.join(sorted(unrouted))} freed for {self.names[persona_id]}, whose attach "
                "then failed, could not be attached back where they were (another change may "
                "hold them now): the plan after the writes says where they are"
            )
        elif freed:
            self.result.notes.append(
                f"{self.names[persona_id]}: the attach failed after the numbers were freed, so "
                "they were attached back where they were"
            )
        return outcome

    def _free(self, persona_id: str, numbers: list[str]) -> dict[str, dict[str, SeenSettings]]:
        """Detach the numbers from the personas the plan moves them from: per source persona
        whose detach succeeded, the numbers and the settings they had there."""
        freed: dict[str, dict[str, SeenSettings]] = {}
        for source, moved in sorted(self._moves_into(persona_id, numbers).items()):
            settings = _settings_before_detach(self.client, source, moved)
            detached = self._send("detach", source, moved, must_finish=True)
            self.record(detached)
            if detached.ok:
                freed[source] = settings
        return freed

    def _put_back(self, freed: dict[str, dict[str, SeenSettings]]) -> list[str]:
        """Attach freed numbers back where they were, with their settings; those that could not."""
        unrouted: list[str] = []
        for source, settings in sorted(freed.items()):
            moved = sorted(settings)
            restored = self._send("attach", source, moved, must_finish=True)
            self.record(restored)
            if not restored.ok:
                unrouted.extend(moved)
                continue
            for number, seen in sorted(settings.items()):
                if seen is not UNREAD and seen is not None:
                    name = self._name(source)
                    change = Change(Action.SETTINGS, source, name, number, before=None, after=seen)
                    self.record(self._send_number(change, must_finish=True))
            unknown = sorted(number for number, seen in settings.items() if seen is UNREAD)
            if unknown:
                self.result.mismatches.append(
                    f"{', '.join(unknown)} went back to {self._name(source)} without the "
                    "settings they had there: they could not be read before the detach"
                )
        return unrouted


def _settings_before_detach(
    client: AccountWriter, persona_id: str, numbers: list[str]
) -> dict[str, SeenSettings]:
    """The settings the numbers have on a persona, read just before a detach clears them, for a
    put-back to write again; unknown if the read fails."""
    if owner_kind(persona_id) != "persona":
        return dict.fromkeys(numbers, None)  # an agent's numbers carry no persona settings
    try:
        persona = client.get_persona(persona_id)
    except ApiError:
        return dict.fromkeys(numbers, UNREAD)
    return {number: persona.settings_of(number) for number in numbers}


def apply_plan(
    plan: Plan,
    client: AccountWriter,
    *,
    parallelism: int = 4,
    stop: threading.Event | None = None,
    on_write: OnWrite = lambda _write: None,
) -> ApplyResult:
    """Make the plan's writes, batched, attaches first.

    `on_write` gets each write as it goes to the wire (its outcome `sent`) and as it ends. Once
    `stop` is set, writes not yet sent are skipped.
    """
    if plan.is_empty:
        return ApplyResult()
    stop = stop or threading.Event()
    return _PlanWriter(plan, client, max(1, parallelism), stop, on_write).apply()
