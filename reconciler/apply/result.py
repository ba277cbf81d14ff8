"""What applying a plan did: each write call and how it ended, and the line that reports it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from reconciler.errors import ApiError, AuthError, LogFailed
from reconciler.plan import Action, Plan
from reconciler.render import plan_document
from reconciler.text import and_more, counted, printable

# refused: an attach refused as another persona holds a number (the fallback's own writes say
# how freeing it first ended); sent: a write going to the wire, handed on before it ends.
Outcome = Literal["done", "failed", "skipped", "refused", "sent"]


@dataclass(frozen=True)
class Write:
    """One write call and how it ended (a skipped one was never sent: `error` says why). A
    `settings` or `label` write carries one number and `value`, what it writes, as JSON. The
    fields are in the order of the JSON report, which shows all but `message`."""

    persona_id: str
    persona_name: str
    action: str
    numbers: tuple[str, ...]
    # The numbers of an attach that the plan moves there from another owner.
    moved: tuple[str, ...] = ()
    outcome: Outcome = "done"
    error: str | None = None
    status: int | None = None
    code: str | None = None
    value: Any = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "done"

    def failed_with(self, error: ApiError, outcome: Outcome = "failed") -> Write:
        return replace(
            self,
            outcome=outcome,
            error=str(error),
            status=error.status,
            code=error.code,
            message=error.api_message,
        )

    def skipped_because(self, reason: str) -> Write:
        return replace(self, outcome="skipped", error=reason)


@dataclass
class ApplyResult:
    """Everything apply did: its writes, what it noted, and what is still wrong."""

    writes: list[Write] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[Write] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    verify_reads: int = 0
    settled: bool = False  # the plan after the writes (or before them: nothing to do) was empty
    # The plans whose writes were sent (the first; the repair, if one ran), and what the repair
    # did that a plan would have said (announced before its writes).
    plans: list[Plan] = field(default_factory=list)
    repair_notes: list[str] = field(default_factory=list)
    interrupted: bool = False
    stopped_by: AuthError | LogFailed | None = None  # the key refused, or the log file failing

    @property
    def halted(self) -> bool:
        """True when the run was interrupted or stopped: nothing more is sent or read."""
        return self.interrupted or self.stopped_by is not None

    @property
    def done(self) -> list[Write]:
        return [write for write in self.writes if write.ok]

    @property
    def failed(self) -> list[Write]:
        return [write for write in self.writes if write.outcome == "failed"]

    @property
    def converged(self) -> bool:
        """True when the account ended as the config wants, whatever failed on the way."""
        return self.settled and not self.mismatches


def describe(write: Write) -> str:
    """One line for a write: what was done, what failed and why, or what was skipped and why."""
    name = printable(write.persona_name)
    number_write = write.action in ("settings", "label")
    what = f"the {write.action} of {', '.join(write.numbers)}"
    numbers = counted_numbers(write.numbers)
    if write.outcome != "done":
        freeing = "; freeing the numbers held elsewhere first" if write.outcome == "refused" else ""
        call = f"writing {what}" if number_write else f"{write.action} of {numbers}"
        return f"{name}: {call} {write.outcome}: {write.error}{freeing}"
    if number_write and write.value in (None, ""):
        return f"{name}: cleared {what}"
    if number_write:
        return f"{name}: set {what} to {printable(json.dumps(write.value, ensure_ascii=False))}"
    if write.action == "detach":
        return f"{name}: detached {numbers}"
    attached = [number for number in write.numbers if number not in write.moved]
    done = [f"attached {counted_numbers(attached)}"] if attached or not write.moved else []
    done += [f"moved {counted_numbers(write.moved)} here"] if write.moved else []
    return f"{name}: {', '.join(done)}"


def counted_numbers(numbers: Iterable[str]) -> str:
    """How many numbers, and the first five of them: `2 numbers (+1..., +1...)`."""
    items = sorted(numbers)
    return f"{counted(len(items), 'number')} ({and_more(items, 5)})"


def report_json(
    plan: Plan | None, result: ApplyResult, exit_status: int, error: str | None = None
) -> dict[str, Any]:
    """The whole apply as one JSON object (`apply --format json`): the plan, every write and
    how it ended, what the checks after the writes found, and the exit status."""
    return {
        "plan": plan_document(plan) if plan is not None else None,
        "writes": [
            {name: value for name, value in asdict(write).items() if name != "message"}
            for write in [*result.writes, *result.skipped]
        ],
        "notes": [*result.repair_notes, *result.notes],
        "not_converged": list(result.mismatches),
        "verified_with_reads": result.verify_reads,
        "converged": result.converged and exit_status == 0,
        "exit_status": exit_status,
        "error": error,
    }


def report_text(
    result: ApplyResult, costs: str, *, signal_name: str, stdout_closed: bool
) -> tuple[list[str], str | None]:
    """The report of an apply that sent writes: its lines (notes, the line of numbers in the
    plans' units ended by `costs`, what retries and waits cost, and when it fell short every write
    and what is still wrong), and the one line for stderr if it did."""
    # The changes a successful write carried, per action, over the plan and its repair (counted
    # once if both hold it); attaches and moves ride one attach call.
    carried = {(w.persona_id, w.action, number) for w in result.done for number in w.numbers}
    changes = {(c.action, c.persona_id, c.phone_number) for p in result.plans for c in p.changes}
    made = Counter(
        action
        for action, persona_id, number in changes
        if (persona_id, "attach" if action is Action.MOVE else action.value, number) in carried
    )
    line = (
        f"{made[Action.ATTACH]} attached, {made[Action.MOVE]} moved, {made[Action.DETACH]} detached"
    )
    if made[Action.SETTINGS]:
        line += f", {made[Action.SETTINGS]} with new settings"
    if made[Action.LABEL]:
        line += f", {counted(made[Action.LABEL], 'label')} set"
    line += f"; {counted(len(result.done), 'API write')}"
    if result.failed:
        line += f", {len(result.failed)} failed"
    if result.skipped:
        line += f", {len(result.skipped)} skipped"
    if not result.halted:
        line += f"; verified with {counted(result.verify_reads, 'read')}"
    lines = [f"note: {note}" for note in result.notes]
    if result.converged:
        return [*lines, f"Apply complete: {line}{costs}."], None
    if signal_name:
        head = f"Apply interrupted by {signal_name}"
    elif result.stopped_by is not None:
        head = "Apply stopped"
    elif stdout_closed:
        head = "Apply stopped (stdout was closed)"
    else:
        head = "Apply incomplete"
    lines.append(f"{head}: {line}{costs}.")
    lines += [f"  {describe(write)}" for write in [*result.done, *result.failed, *result.skipped]]
    lines += [f"  not converged: {mismatch}" for mismatch in result.mismatches]
    return lines, f"{head}. Run plan to see what remains."
