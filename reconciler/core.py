"""One function per command and per step of plan and apply; never prints, never chooses an exit
status. The next plan is the check: a saved plan, the plan the user said `yes` to, and the account
after the writes are each checked by planning again from the same desired state, and one safety
policy (safety.py) stands in front of every write, a repair's included.
"""

from __future__ import annotations

import difflib
import json
import threading
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, Protocol

from reconciler.apply.result import ApplyResult, Write
from reconciler.apply.writes import OnWrite, apply_plan
from reconciler.auditlog import AuditLog
from reconciler.client_protocols import AccountReader, AccountWriter
from reconciler.config.schema import load_schema
from reconciler.errors import ApiError, AuthError, ConfigError, InputError, Refused
from reconciler.export import check_plans_clean, export_warnings, exported_personas, render_export
from reconciler.model import Desired, SafetySettings, owner_kind
from reconciler.owner_reads import read_account
from reconciler.plan import Action, Plan
from reconciler.planfile import (
    RUN_PLAN_AGAIN,
    SavedPlan,
    change_from_json,
    is_plan_file,
    public_url,
    read_plan_file,
)
from reconciler.planner import build_plan
from reconciler.render import dropped_note, plan_document
from reconciler.safety import Thresholds, assess, enforce
from reconciler.secrets import REDACTOR
from reconciler.text import and_more, counted

# How many differences a refusal names before "and N more".
MAX_DIFFERENCES_SHOWN = 20


def read_inputs(
    files: Sequence[str],
    targets: Sequence[str],
    load_config: Callable[..., Desired],
    max_bytes: int,
    signing_key: Callable[[], bytes] | None = None,
) -> Desired | SavedPlan:
    """The config files (config.load_config, each within `max_bytes`), checked whole and cut to
    the targets; or, for apply (which gives the `signing_key`), the plan file among them,
    recognised by its content, read and its signature checked. Either before any request: an
    invalid or altered file sends nothing. To the other commands a plan file is no config, and
    they say so, not a dozen schema errors."""
    plans = [file for file in files if is_plan_file(file)]
    if not plans:
        return targeted(load_config(list(files), max_bytes=max_bytes), targets)
    if signing_key is None:
        raise InputError(
            "\n".join(
                f"{file}: this is a saved plan, not a config file: "
                f"apply it with 'reconciler apply {file}'"
                for file in plans
            )
        )
    if len(files) > 1:
        raise InputError(f"{plans[0]}: a plan file is applied alone, without config files")
    if targets:
        raise InputError(f"{plans[0]}: --target goes with config files; a saved plan is whole")
    return read_plan_file(plans[0], signing_key())


def targeted(desired: Desired, targets: Sequence[str]) -> Desired:
    """The desired state, checked whole, cut to the entries --target names (by name or id)."""
    if not targets:
        return desired
    named = {ref for entry in desired.personas for ref in (entry.id, entry.name) if ref}
    unknown = [target for target in targets if target not in named]
    if unknown:
        hints = [difflib.get_close_matches(target, sorted(named), n=1) for target in unknown]
        raise InputError(
            "\n".join(
                f"--target {target!r}: no entry of the config has that name or id"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
                for target, hint in zip(unknown, hints, strict=True)
            )
        )
    wanted = set(targets)
    kept = tuple(e for e in desired.personas if e.id in wanted or e.name in wanted)
    left_out = frozenset(n for e in desired.personas if e not in kept for n in e.numbers)
    return replace(desired, personas=kept, targets=tuple(targets), elsewhere=left_out)


def make_plan(
    desired: Desired,
    account: AccountReader,
    thresholds: Thresholds,
    *,
    force: bool = False,
    pages_hint: int = 0,
    known: Collection[str] = (),
) -> Plan:
    """The changes that make the account match the config, what the valves say, the numbers
    confirmed by id, and those it concerns whose owner the two sources disagree on."""
    live = read_account(account, desired, pages_hint, known)
    plan = build_plan(desired, live)
    concerned = {change.phone_number for change in plan.changes}.union(
        plan.protected, *(persona.desired for persona in plan.managed)
    )
    disagreements = tuple(d for d in live.disagreements() if d.phone_number in concerned)
    plan = replace(
        plan, confirmed=live.confirmed, disagreements=disagreements, targets=desired.targets
    )
    return assess(plan, thresholds, force=force)


def plan_from_saved(saved: SavedPlan, account: AccountReader, redact: Callable[[str], str]) -> Plan:
    """A fresh plan from the saved plan's desired state, refused unless it shows the same; a
    plan already applied comes back with no changes. `redact` is what the file's strings went
    through when it was written, so the fresh plan is compared as it would have been saved."""
    if public_url(account.base_url) != saved.api_base_url:
        raise Refused(
            f"{saved.path}: the plan was made for {saved.api_base_url}, not for "
            f"{public_url(account.base_url)}: nothing was written. {RUN_PLAN_AGAIN}"
        )
    changed = f"{saved.path}: the account changed since the plan was made, nothing was written"
    try:
        fresh = make_plan(saved.desired, account, saved.thresholds)
    except ConfigError as error:
        found = "; ".join(d.message for d in error.diagnostics)
        raise Refused(f"{changed}: {found}. {RUN_PLAN_AGAIN}") from None
    if fresh.is_empty and not saved.plan.is_empty:
        return fresh
    found = differences(saved.document, plan_document(fresh), redact)
    if found:
        raise Refused(f"{changed}: {found}. {RUN_PLAN_AGAIN}")
    return fresh


def check_unchanged(shown: Plan, fresh: Plan) -> None:
    """Refuse when the account changed while the user read the plan: apply only what was shown."""
    found = differences(plan_document(shown), plan_document(fresh), str)
    if found:
        raise Refused(
            f"the account changed while the plan waited for confirmation ({found}): "
            "nothing was written. Run apply again to see the new plan."
        )


# What a plan document shows, and how a difference in each is named (None: a change).
_SHOWN = (
    (("changes",), None),
    (("warnings",), "the warning"),
    (("safety", "valves"), "the safety valve warning"),
    (("safety", "protected"), "the protected-number refusal"),
    (("sources_disagree",), "the finding that sources disagree"),
)


def differences(shown: dict[str, Any], fresh: dict[str, Any], redact: Callable[[str], str]) -> str:
    """What the fresh plan document shows that the shown one does not, and the reverse: the
    changes, warnings and findings (not the numbers read again, a note about the read); "" when
    none. The fresh one goes through `redact` first, as the shown one did when it was saved."""
    fresh = json.loads(redact(json.dumps(fresh, ensure_ascii=False)))
    found = []
    for path, what in _SHOWN:
        old, new = (_keyed(_at(document, path)) for document in (shown, fresh))
        found += [f"no longer {_describe(what, old[key])}" for key in old if key not in new]
        found += [f"now also {_describe(what, new[key])}" for key in new if key not in old]
    return and_more(found, MAX_DIFFERENCES_SHOWN, "; ")


def _at(document: dict[str, Any], path: tuple[str, ...]) -> list[Any]:
    """The list at `path`; a saved document, checked as it was read, may lack one."""
    for key in path:
        document = document.get(key, [])
    return list(document)


def _keyed(items: list[Any]) -> dict[str, Any]:
    return {json.dumps(item, sort_keys=True, ensure_ascii=False): item for item in items}


def _describe(what: str | None, item: Any) -> str:
    if what is not None:
        return f"{what} {_text(item)}"
    text = change_from_json(item).describe()
    if "settings_cleared" in item:
        text += f", clearing its settings {_text(item['settings_cleared'])}"
    return text


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def converge(
    first: Plan,
    desired: Desired,
    account: AccountReader,
    thresholds: Thresholds,
    send: Callable[[Plan], ApplyResult],
    announce: Callable[[str], None] = lambda _note: None,
) -> ApplyResult:
    """Make the plan's writes, then plan the whole config again: an empty plan is done, else it
    is applied once (past the same safety checks) and what a last plan still shows is named in
    the result. What a plan would have told of the repair is announced before its writes."""
    result = send(first)
    result.plans.append(first)
    for repaired in (False, True):
        if result.halted:
            return result
        try:
            after = make_plan(
                desired,
                account,
                thresholds,
                force=first.forced,
                pages_hint=first.pages_read,
                known=first.listed,
            )
        except AuthError as error:
            result.stopped_by = error
            return result
        except ApiError as error:
            result.mismatches.append(f"cannot read the account back: {error}")
            return result
        except ConfigError as error:
            result.mismatches.extend(f"after the writes: {d.message}" for d in error.diagnostics)
            return result
        result.verify_reads += after.reads
        if after.is_empty:
            result.settled = True
            return result
        if repaired or after.refused:
            if after.refused:
                reasons = "; ".join([*after.refusals, *after.valves])
                result.mismatches.append(f"not put right, the safety checks refuse it: {reasons}")
            result.mismatches.extend(f"still needed: {c.describe()}" for c in after.changes)
            return result
        for note in repair_notes(after):
            announce(note)
            result.repair_notes.append(note)
        result.absorb(send(after))
        result.plans.append(after)
    return result


def repair_notes(repair: Plan) -> list[str]:
    """What a repair plan does, in the words a plan would have shown before anyone agreed."""
    changes = counted(len(repair.changes), "change")
    notes = [f"the account still differed after the writes ({changes}): applying them again"]
    notes += [f"--force given: the repair applies although {valve}" for valve in repair.valves]
    notes += [
        f"{change.describe()}: {dropped_note(repair.settings_dropped[change.phone_number])}"
        for change in repair.changes
        if change.action is Action.MOVE and change.phone_number in repair.settings_dropped
    ]
    return notes


class ApplyHooks(Protocol):
    """What an apply asks of the command layer, which prints and handles signals for it."""

    stop: threading.Event  # set: send nothing more (a signal, stdout closed)

    # Shows the plan, before its valves are enforced.
    def show(self, plan: Plan) -> None: ...
    # A line: a valve --force lets through, a saved plan already applied, a repair's note.
    def say(self, line: str) -> None: ...
    # A warning for stderr (a log file others can read).
    def warn(self, line: str) -> None: ...
    # Around all the writes (the signals).
    def writes(self) -> AbstractContextManager[object]: ...
    # Around each plan's writes (the first, the repair): gets each as it goes out and ends.
    def writing(self, plan: Plan) -> AbstractContextManager[OnWrite]: ...


def apply(
    source: Desired | SavedPlan,
    account: AccountWriter,
    safety: SafetySettings,
    hooks: ApplyHooks,
    *,
    force: bool = False,
    parallelism: int = 4,
    confirm: Callable[[], None] | None = None,
    log_file: str | None = None,
) -> tuple[Plan, ApplyResult]:
    """Plan from a config, or check a saved plan; show it, enforce the valves, ask (`confirm`
    raises to stop) and check the account again, write (each write on record in `log_file`),
    and converge. The plan shown, and what the writes did."""
    if isinstance(source, SavedPlan):
        plan = plan_from_saved(source, account, REDACTOR.clean)  # as the file was written
        if plan.is_empty and not source.plan.is_empty:
            hooks.say(f"{source.path} has already been applied: the account is as it leaves it.")
        # The saved thresholds, with any given now winning, as for a config's `safety:`.
        thresholds = Thresholds.resolve(source.thresholds.as_settings(), safety)
        plan = assess(plan, thresholds, force=force)
        desired = source.desired
        confirm = None  # a saved plan was reviewed when it was made: it is not asked again
    else:
        desired = source
        thresholds = Thresholds.resolve(source.safety, safety)
        plan = make_plan(desired, account, thresholds, force=force)
    hooks.show(plan)
    if plan.is_empty:
        return plan, ApplyResult()
    for valve in enforce(plan):  # Refused before any write
        hooks.say(f"note: --force given: applying although {valve}")

    def send(each: Plan) -> ApplyResult:
        with hooks.writing(each) as on_write:

            def logged(write: Write) -> None:
                try:
                    if audit is not None:
                        audit.record(write)
                finally:
                    on_write(write)

            return apply_plan(
                each, account, parallelism=parallelism, stop=hooks.stop, on_write=logged
            )

    # Opened before the question: a path that cannot be written stops before anything is asked.
    audit = None if log_file is None else AuditLog(log_file)
    try:
        if audit is not None and audit.warning is not None:
            hooks.warn(audit.warning)
        if confirm is not None:
            confirm()
            check_unchanged(plan, make_plan(desired, account, thresholds, force=force))
        with hooks.writes():
            result = converge(
                plan, desired, account, thresholds, send, lambda note: hooks.say(f"note: {note}")
            )
    finally:
        if audit is not None:
            audit.close()
    return plan, result


def export_account(account: AccountReader) -> tuple[str, str, list[str]]:
    """The live account's routing as a config file, what it holds (`N personas, N numbers`), and
    warnings of what it leaves out and why (each left as it is by the config)."""
    # A number moved while the list was read shows on two personas: read those by id.
    live = read_account(account)
    text = render_export(live, str(load_schema()["$id"]))
    check_plans_clean(text, live)
    owners = exported_personas(live)
    agents = sum(1 for owner in owners if owner_kind(owner.id) == "agent")
    numbers = sum(len(owner.numbers) for owner in owners)
    held_by = f"{len(owners) - agents} personas, " + (f"{agents} agents, " if agents else "")
    return text, f"{held_by}{numbers} numbers", export_warnings(live, text)
