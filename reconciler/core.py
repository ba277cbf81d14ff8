"""One function per command and per step of plan and apply; never prints, never chooses an exit
status. The next plan is the check: a saved plan, the plan said `yes` to and the account after the
writes are each checked by planning again, and safety.py stands before every write."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, closing, nullcontext
from dataclasses import replace
from typing import Any, cast

from reconciler.api import BlandClient
from reconciler.apply.result import ApplyResult, Write
from reconciler.apply.writes import OnWrite, PlanWriter
from reconciler.auditlog import AuditLog
from reconciler.client_protocols import AccountReader, AccountWriter
from reconciler.errors import ApiError, AuthError, ConfigError, InputError, NotSent, Refused
from reconciler.export import export_config
from reconciler.files import refuse_overwriting, write_atomic
from reconciler.model import Desired, owner_key, owner_kind
from reconciler.owner_reads import read_account
from reconciler.plan import Plan
from reconciler.planfile import (
    RUN_PLAN_AGAIN,
    SavedPlan,
    change_from_json,
    public_url,
    refused,
    render_plan_file,
    signing_key,
)
from reconciler.planner import build_plan
from reconciler.render import MAX_FINDINGS_SHOWN, owner_rows, plan_document
from reconciler.safety import Thresholds, assess, enforce
from reconciler.secrets import REDACTOR
from reconciler.settings import GracefulStop, Settings, handled_by
from reconciler.text import and_more, counted, printable


def make_plan(
    desired: Desired,
    account: AccountReader,
    thresholds: Thresholds,
    *,
    force: bool = False,
    before: Plan | None = None,
) -> Plan:
    """The plan making the account match the config, assessed by the valves, with the owners
    confirmed by id and, for its numbers, disagreed on; a plan made `before` guides the read."""
    hint = (before.pages_read, before.listed) if before else (0, ())
    live = read_account(account, desired, *hint)
    plan = build_plan(desired, live)
    concerned = {change.phone_number for change in plan.changes}.union(
        plan.protected, *(persona.desired for persona in plan.managed)
    )
    found = tuple(d for d in live.disagreements() if d.phone_number in concerned)
    plan = replace(plan, confirmed=live.confirmed, disagreements=found, targets=desired.targets)
    return assess(plan, thresholds, force=force)


def plan_config(
    settings: Settings,
    files: Sequence[str],
    targets: Sequence[str],
    valves: Mapping[str, Any],
    *,
    force: bool = False,
    out: str | None = None,
) -> Plan:
    """`plan`: the config files' plan, the `valves` flags winning over the config's `safety:`,
    saved as a signed plan file to `out` before anything is shown."""
    desired = cast(Desired, settings.read_inputs(files, targets, output=("--out", out)))
    thresholds = Thresholds().overridden(desired.safety).overridden(valves)
    with settings.client() as client:
        plan = make_plan(desired, client, thresholds, force=force)
    if out is not None:
        key, url = signing_key(settings.key), client.base_url
        text = render_plan_file(desired, plan, thresholds, url, key, redact=REDACTOR.clean)
        write_atomic(out, text, mode=0o600, what="plan file")
    return plan


def plan_from_saved(saved: SavedPlan, account: AccountReader, say: Callable[[str], None]) -> Plan:
    """A fresh plan from the saved plan's desired state, refused unless it shows the same; a
    plan already applied comes back with no changes, and `say`s so."""
    if (url := public_url(account.base_url)) != saved.api_base_url:
        raise refused(saved.path, f"the plan was made for {saved.api_base_url}, not for {url}")
    changed = f"{saved.path}: the account changed since the plan was made, nothing was written"
    try:
        fresh = make_plan(saved.desired, account, saved.thresholds)
    except ConfigError as error:
        found = "; ".join(d.message for d in error.diagnostics)
        raise Refused(f"{changed}: {found}. {RUN_PLAN_AGAIN}") from None
    if fresh.is_empty and not saved.plan.is_empty:
        say(f"{saved.path} has already been applied: the account is as it leaves it.")
        return fresh
    found = differences(saved.document, plan_document(fresh))
    if found:
        raise Refused(f"{changed}: {found}. {RUN_PLAN_AGAIN}")
    return fresh


# What a plan document shows (not the numbers read again: a note about the read), and how a
# difference in each is named (None: a change).
_SHOWN = (
    (("changes",), None),
    (("warnings",), "the warning"),
    (("safety", "valves"), "the safety valve warning"),
    (("safety", "protected"), "the protected-number refusal"),
    (("sources_disagree",), "the finding that sources disagree"),
)


def differences(shown: dict[str, Any], fresh: dict[str, Any]) -> str:
    """What each plan document shows of changes, warnings and findings that the other does not
    ("" when none), both redacted, as a saved plan's strings were when it was written."""
    shown, fresh = (
        json.loads(REDACTOR.clean(json.dumps(document, ensure_ascii=False)))
        for document in (shown, fresh)
    )
    found = []
    for path, what in _SHOWN:
        old, new = (_keyed(document, path) for document in (shown, fresh))
        found += [f"no longer {_describe(what, old[key])}" for key in old if key not in new]
        found += [f"now also {_describe(what, new[key])}" for key in new if key not in old]
    return and_more(found, MAX_FINDINGS_SHOWN, "; ")


def _keyed(document: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """The list at `path` by its items' JSON (a saved document, checked as read, may lack it)."""
    for key in path:
        document = document.get(key, [])
    return {json.dumps(item, sort_keys=True, ensure_ascii=False): item for item in document}


def _describe(what: str | None, item: Any) -> str:
    if what is not None:
        return f"{what} {item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)}"
    text = change_from_json(item).describe()
    if "settings_cleared" in item:
        cleared = json.dumps(item["settings_cleared"], ensure_ascii=False)
        text += f", clearing its settings {cleared}"
    return text


def converge(
    first: Plan,
    desired: Desired,
    account: AccountReader,
    thresholds: Thresholds,
    send: Callable[[Plan, ApplyResult], object],
    say: Callable[[str], None],
) -> ApplyResult:
    """Make the plan's writes (`send` adds them to the result), then plan the whole config again:
    an empty plan is done, else it is applied once (past the same safety checks, `say`ing what a
    plan would tell of it) and what a last plan still shows is named in the result."""
    result = ApplyResult()
    send(first, result)
    for repaired in (False, True):
        if result.halted:
            return result
        try:
            after = make_plan(desired, account, thresholds, force=first.forced, before=first)
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
        # What a plan would have shown of the repair, before anyone agreed to it.
        changes = counted(len(after.changes), "change")
        notes = [f"the account still differed after the writes ({changes}): applying them again"]
        notes += [f"--force given: the repair applies although {valve}" for valve in after.valves]
        notes += [
            f"{row.change.describe()}: {row.cleared}"
            for _, _, rows in owner_rows(after)
            for row in rows
            if row.cleared
        ]
        for note in notes:
            say(f"note: {note}")
            result.repair_notes.append(note)
        send(after, result)
    return result


def apply(
    source: Desired | SavedPlan,
    account: AccountWriter,
    valves: Mapping[str, Any],
    *,
    show: Callable[[Plan], None],
    say: Callable[[str], None],
    writing: Callable[[Plan], AbstractContextManager[OnWrite]],
    stopper: GracefulStop,
    warn: Callable[[str], None],
    force: bool = False,
    parallelism: int = 4,
    confirm: Callable[[], None] | None = None,
    log_file: str | None = None,
) -> tuple[Plan, ApplyResult]:
    """Plan from a config, or check a saved plan; `show` it, enforce the valves, ask (`confirm`
    raises to stop) and check the account again, write (each on record in `log_file`: `warn`
    says if others can read it), and converge. `say` tells of a valve --force lets through, a
    saved plan already applied, a repair; `writing` is around each plan's writes and gets each
    as it goes out and ends; `stopper` handles SIGINT and SIGTERM while they go out, its event
    stopping them. The plan shown, and what the writes did."""
    if isinstance(source, SavedPlan):
        # The saved thresholds, with any given now winning, as for a config's `safety:`.
        desired, thresholds = source.desired, source.thresholds.overridden(valves)
        plan = assess(plan_from_saved(source, account, say), thresholds, force=force)
        confirm = None  # a saved plan was reviewed when it was made: it is not asked again
    else:
        desired, thresholds = source, Thresholds().overridden(source.safety).overridden(valves)
        plan = make_plan(desired, account, thresholds, force=force)
    show(plan)
    if plan.is_empty:
        return plan, ApplyResult(settled=True)
    for valve in enforce(plan):  # Refused before any write
        say(f"note: --force given: applying although {valve}")

    def send(each: Plan, result: ApplyResult) -> None:
        with writing(each) as on_write:

            def logged(write: Write) -> None:
                try:
                    if audit is not None:
                        audit.record(write)
                finally:
                    on_write(write)

            PlanWriter(each, account, result, parallelism, stopper.event, logged).apply()

    # Opened before the question: a path that cannot be written stops before anything is asked.
    audit = None if log_file is None else AuditLog(log_file, stopper.event)
    with nullcontext() if audit is None else closing(audit):
        if audit is not None and audit.warning is not None:
            warn(audit.warning)
        if confirm is not None:
            confirm()
            fresh = make_plan(desired, account, thresholds, force=force)
            found = differences(plan_document(plan), plan_document(fresh))
            if found:  # the account changed while the user read the plan: apply only what was shown
                raise Refused(
                    f"the account changed while the plan waited for confirmation ({found}): "
                    "nothing was written. Run apply again to see the new plan."
                )
        with handled_by(stopper):  # a first signal stops new writes
            result = converge(plan, desired, account, thresholds, send, say)
        if audit is not None and isinstance(audit.failed, NotSent):
            warn(f"warning: the log file {printable(audit.path)} had no room when the run stopped")
    return plan, result


def export_account(settings: Settings, out: str | None, *, force: bool = False) -> tuple[str, str]:
    """`export`: the live account's routing as a config file, and what it holds (`N personas,
    N numbers`); what it leaves out, and why, goes to settings.warn. With `out` it is written
    there, refused before any request when that is the key file, or exists without `force`."""
    exists = (
        f"--out {out} exists: refusing to replace it (nothing was written; "
        "pass --force to replace it)"
    )
    if out is not None:
        refuse_overwriting("--out", out, {settings.key_file(): "API key file"})
        if os.path.lexists(out) and not force:
            raise InputError(exists)
    with settings.client() as account:
        live = read_account(account)  # numbers listed twice read again by id, as a plan does
        # The listing is no snapshot: a number moved, or a persona deleted (moving the next ones
        # up a place), while it was read may show on no page. Listed again, it must show the same.
        again, _ = account.list_personas(live.pages_read)
    first = {pid: p.numbers for pid, p in live.personas.items() if owner_kind(pid) == "persona"}
    second = {pid: p.numbers for pid, p in again.items() if pid not in live.twins}
    listed: dict[str, frozenset[str]] = {}  # an agent's numbers on its twins listed again
    for twin, (_, agent) in live.twins.items():
        if twin in again:
            key = owner_key("agent", agent)
            listed[key] = listed.get(key, frozenset()) | again[twin].numbers
    if first != second or any(live.personas[k].numbers != n for k, n in listed.items()):
        changed = "the list of personas changed while it was read; nothing was exported"
        raise ApiError(f"{changed} (run export again)", method="GET", path="/v1/personas")
    text, warnings, exported = export_config(live)
    for warning in warnings:
        settings.warn(warning)
    if out is not None:
        write_atomic(out, text, if_exists=None if force else exists)
    return text, exported


def costs(client: BlandClient) -> str:
    """What retries, waits and 429s cost an apply's writes, to end its report's line of numbers."""
    stats, limit = client.stats, client.write_limit
    said = ""
    if stats.retries or stats.waited:
        retries = counted(stats.retries, "retry", "retries")
        said += f"; {retries} ({stats.rate_limited} rate limited), {stats.waited:.1f}s waiting"
    if limit.lowest < limit.ceiling:
        said += f"; concurrent writes lowered to {limit.lowest} after 429s"
    return said
