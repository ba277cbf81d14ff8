"""Carry out a plan with the fewest writes.

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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from reconciler.apply.per_number import (
    intended_write,
    not_yet_attached,
    restore_changes,
    send_number_write,
    settings_before_detach,
)
from reconciler.apply.result import ApplyResult, Write, describe
from reconciler.client_protocols import AccountWriter
from reconciler.errors import AUTH_STOPPED, INTERRUPTED, ApiError, AuthError, NotSent
from reconciler.model import SeenSettings, owner_id, owner_kind
from reconciler.plan import Action, Change, Plan
from reconciler.text import printable

log = logging.getLogger(__name__)

# Words in an error code that say a number is held elsewhere.
_HELD_ELSEWHERE_WORDS = ("IN_USE", "ALREADY", "ATTACHED", "ASSIGNED", "CONFLICT")

Report = Callable[[str], None]
OnWrite = Callable[[Write], None]
# One write call: its action ("attach" or "detach"), the persona id and the numbers it carries.
_Call = tuple[str, str, list[str]]


class _PlanWriter:
    """Sends one plan's writes and records how each ended."""

    def __init__(
        self,
        plan: Plan,
        client: AccountWriter,
        report: Report,
        parallelism: int,
        stop: threading.Event,
        on_write: OnWrite | None,
        on_send: OnWrite | None = None,
    ) -> None:
        self.plan = plan
        self.on_send = on_send
        self.client = client
        self.report = report
        self.parallelism = max(1, parallelism)
        self.stop = stop
        self.on_write = on_write
        self.result = ApplyResult()
        # Names only ever reach messages here, so they are made printable once.
        self.names = {pid: printable(name) for pid, name in plan.persona_names().items()}
        self._lock = threading.Lock()
        self.failed_attaches: set[str] = set()
        self.moves = {
            (change.persona_id, change.phone_number)
            for change in plan.changes
            if change.action is Action.MOVE
        }

    def apply(self) -> ApplyResult:
        """Attaches, detaches, settings and labels."""
        self._send_attaches_then_detaches()
        self._send_number_writes()
        self.result.interrupted = self.stop.is_set()
        return self.result

    def halted(self) -> bool:
        """True once the run was interrupted or stopped by an authorisation error."""
        return self.stop.is_set() or self.result.stopped_by is not None

    def record(self, write: Write) -> None:
        """Add a write that ended to the result, the report and the on_write callback."""
        # Workers finish in any order; one lock keeps the lines, the list and the callbacks whole.
        with self._lock:
            if write.outcome == "skipped":
                self.result.skipped.append(write)
            else:
                self.result.writes.append(write)
            self.report(describe(write))
            if self.on_write is not None:
                self.on_write(write)

    def _send_attaches_then_detaches(self) -> None:
        gains, losses = self.plan.gains(), self.plan.losses()
        order = sorted(set(gains) | set(losses), key=lambda pid: (self.names.get(pid, ""), pid))
        attached = self._send_concurrently(
            [("attach", pid, gains[pid]) for pid in order if pid in gains]
        )
        not_attached = {write.persona_id for write in attached if not write.ok}
        self.failed_attaches = not_attached
        detaches: list[_Call] = []
        for pid in order:
            if pid not in losses:
                continue
            if pid in not_attached and not self.halted():
                # Make before break: without its new numbers, do not take its old ones away.
                self.record(
                    self._write_for("detach", pid, losses[pid]).skipped_because(
                        "its attach did not succeed (make before break)"
                    )
                )
                continue
            detaches.append(("detach", pid, losses[pid]))
        self._send_concurrently(detaches)

    def _send_concurrently(self, calls: list[_Call]) -> list[Write]:
        """Send the calls on up to `parallelism` threads; each is recorded as it ends."""
        return self._run_concurrently([partial(self._send, *call) for call in calls])

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

    def _send_number_writes(self) -> None:
        """Settings, then labels, one call per number, once the routing writes are done.

        A number whose attach did not succeed is not on its persona, where its settings go.
        """
        missing = not_yet_attached(self.plan, self.failed_attaches)
        for action in (Action.SETTINGS, Action.LABEL):
            sends: list[Callable[[], Write]] = []
            for change in self.plan.number_writes():
                if change.action is not action:
                    continue
                if (
                    action is Action.SETTINGS
                    and (change.persona_id, change.phone_number) in missing
                ):
                    write = intended_write(change, self._name(change.persona_id))
                    self.record(write.skipped_because("its attach did not succeed"))
                    continue
                sends.append(partial(self._send_number, change))
            self._run_concurrently(sends)

    def _name(self, persona_id: str) -> str:
        return self.names.get(persona_id, persona_id)

    def _send_number(self, change: Change, *, must_finish: bool = False) -> Write:
        """One settings or label call, and how it ended."""
        intended = intended_write(change, self._name(change.persona_id))
        spelled = self.plan.spelled([change.phone_number])[0]
        send = partial(send_number_write, self.client, change, spelled)
        return self._attempt(intended, send, must_finish)

    def _write_for(self, action: str, persona_id: str, numbers: list[str]) -> Write:
        """The write call for these numbers, as it reads once done (an attach says which of its
        numbers the plan moves there)."""
        moved = (
            tuple(n for n in numbers if (persona_id, n) in self.moves) if action == "attach" else ()
        )
        name = self.names.get(persona_id, persona_id)
        return Write(persona_id, name, action, tuple(numbers), moved=moved)

    def _send(
        self, action: str, persona_id: str, numbers: list[str], *, must_finish: bool = False
    ) -> Write:
        """One write call; `must_finish` for a fallback's writes, which must finish once begun."""
        call = partial(self._route, action)

        def after_refusal(error: ApiError) -> Write | None:
            if action == "attach" and self._is_refusal(error, persona_id, numbers):
                return self._free_then_attach(persona_id, numbers, error)
            return None

        intended = self._write_for(action, persona_id, numbers)
        return self._attempt(
            intended, partial(call, persona_id, numbers), must_finish, after_refusal
        )

    def _attempt(
        self,
        intended: Write,
        send: Callable[[], object],
        must_finish: bool,
        after_error: Callable[[ApiError], Write | None] = lambda _: None,
    ) -> Write:
        """Send one write unless the run halted (and it need not finish), and say how it ended.

        `after_error` may turn an API error into another outcome (a refusal's fallback).
        """
        if self.halted() and not must_finish:
            return intended.skipped_because(self._halt_reason())
        try:
            self._announce(intended)
            send()
        except NotSent as error:
            return intended.skipped_because(error.reason)
        except AuthError as error:
            self._stop_on(error)
            return intended.failed_with(error)
        except ApiError as error:
            fallback = after_error(error)
            return fallback if fallback is not None else intended.failed_with(error)
        return intended

    def _route(self, action: str, key: str, numbers: list[str]) -> None:
        """One attach or detach call to the owner a key names: a persona through v1, an agent
        through v2 (never its twin persona through v1), the numbers as the account spells them."""
        numbers = self.plan.spelled(numbers)
        if owner_kind(key) == "agent":
            agent = owner_id(key)
            if action == "attach":
                self.client.attach_to_agent(agent, numbers)
            else:
                self.client.detach_from_agent(agent, numbers)
        elif action == "attach":
            self.client.attach(key, numbers)
        else:
            self.client.detach(key, numbers)

    def _announce(self, intended: Write) -> None:
        """Tell on_send a write is about to go (the audit log's `sent` line)."""
        if self.on_send is not None:
            self.on_send(intended)

    def _halt_reason(self) -> str:
        return AUTH_STOPPED if self.result.stopped_by is not None else INTERRUPTED

    def _stop_on(self, error: AuthError) -> None:
        with self._lock:
            self.result.stopped_by = self.result.stopped_by or error

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

    def _free_then_attach(self, persona_id: str, numbers: list[str], refusal: ApiError) -> Write:
        """The API refused to take numbers held elsewhere: free them there, then attach.

        Once a number is freed, the attach and, if it fails, the way back are one unit that an
        interrupt or an authorisation error does not cut short: a refusal never leaves a number
        on no persona without saying so.
        """
        intended = self._write_for("attach", persona_id, numbers)
        self.record(intended.refused_with(refusal))
        if self.halted():
            return intended.skipped_because(self._halt_reason())
        with self.client.uninterruptible():
            freed = self._free(persona_id, numbers)
            outcome = intended
            try:
                self._announce(intended)
                self._route("attach", persona_id, numbers)
            except ApiError as error:
                if isinstance(error, AuthError):
                    self._stop_on(error)
                outcome = intended.failed_with(error)
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
        """Detach the numbers from the personas the plan moves them from.

        Per source persona whose detach succeeded, the numbers and the settings they had there
        (read just before: the detach clears them, and a put-back must restore them).
        """
        freed: dict[str, dict[str, SeenSettings]] = {}
        for source, moved in sorted(self._moves_into(persona_id, numbers).items()):
            settings = settings_before_detach(self.client, source, moved)
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
            writes, unknown = restore_changes(source, self._name(source), settings)
            for change in writes:
                self.record(self._send_number(change, must_finish=True))
            if unknown:
                self.result.mismatches.append(
                    f"{', '.join(unknown)} went back to {self._name(source)} without the "
                    "settings they had there: they could not be read before the detach"
                )
        return unrouted


def apply_plan(
    plan: Plan,
    client: AccountWriter,
    *,
    report: Report = log.info,
    parallelism: int = 4,
    stop: threading.Event | None = None,
    on_write: OnWrite | None = None,
    on_send: OnWrite | None = None,
) -> ApplyResult:
    """Make the plan's writes, batched, attaches first.

    `report` gets one line per write as it ends; `on_write` the Write itself; `on_send` each
    write just before it is sent. Once `stop` is set, writes not yet sent are skipped.
    """
    if plan.is_empty:
        return ApplyResult()
    writer = _PlanWriter(
        plan, client, report, parallelism, stop or threading.Event(), on_write, on_send
    )
    return writer.apply()
