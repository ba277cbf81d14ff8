"""What the runs must show: request counts checked per run, and the targets drawn from them.

The listing of personas gives no page count: it ends only at an empty page, and while the end is
unknown it reads ahead 1, 2, 3, then 4 pages at a time, so a plan asks for the pages holding
personas, the empty one, and at most 3 past it (reconciler/api/paging.py). Verification re-lists
with the page count the plan learned, the empty page included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from math import ceil

import accounts
from harness import Measured, Request, reads

PAGE_LIMIT = 100
PAST_THE_END = 3  # pages a listing may ask for after the empty one
READS_PER_PAGE = 3  # a whole apply of 1,000 personas (10 pages) reads at most 30 times


@dataclass
class Row:
    """One line of a results table."""

    scenario: str
    size: str
    run: Measured
    extra: dict[str, str] = field(default_factory=dict)
    walls: list[float] = field(default_factory=list)


@dataclass
class Check:
    """One target and whether it held."""

    target: str
    measured: str
    met: bool


@dataclass
class Results:
    """Everything measured in one bench run, gathered for the targets and the report."""

    rows: list[Row] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    plan_checks: list[bool] = field(default_factory=list)
    plan_overshoot: list[int] = field(default_factory=list)  # pages asked for past the empty one
    apply_checks: list[tuple[str, str, bool]] = field(default_factory=list)
    verify_checks: list[tuple[str, int, int]] = field(default_factory=list)  # verify, plan reads
    converged: list[tuple[str, Measured]] = field(default_factory=list)  # the second applies
    # (personas, [(plan pass reads, verification reads)]) of every run of the 15% drift
    # apply of the largest size, at the default and at --parallelism 8).
    whole_apply: tuple[int, list[tuple[int, int]]] | None = None
    skew_checks: list[tuple[str, bool]] = field(default_factory=list)
    ratios: dict[int, float] = field(default_factory=dict)  # personas -> naive wall / ours
    calibration: str = ""
    profile: list[tuple[str, float]] = field(default_factory=list)
    profile_tool: str = ""
    # latency -> [(step, seconds)] of a converged plan on its main thread (py-spy --idle)
    steps: dict[float, list[tuple[str, float]]] = field(default_factory=dict)

    def check(self, target: str, measured: str, met: bool) -> None:
        self.checks.append(Check(target, measured, met))


# -- per run --------------------------------------------------------------------------------


def pages_needed(personas: int) -> int:
    """The pages holding personas and the empty one that ends the listing."""
    return ceil(personas / PAGE_LIMIT) + 1


def inbound(requests: list[Request]) -> int:
    return sum(r["path"] == "/v1/inbound" for r in requests)


def page_extra(run: Measured) -> dict[str, str]:
    return {"pages": f"{len(run.pages())}", "inbound": f"{inbound(run.requests)}"}


def phase_reads(run: Measured) -> tuple[int, int]:
    """Reads of the plan pass (before the first write) and of the rest (verification)."""
    plan, after = run.split_at_first_write()
    return reads(plan), reads(after)


def apply_extra(run: Measured) -> dict[str, str]:
    plan_reads, verify_reads = phase_reads(run)
    return {"plan reads": str(plan_reads), "verify reads": str(verify_reads)}


def check_plan_reads(results: Results, run: Measured, personas: int, what: str) -> None:
    """Every page up to the empty one, none twice, at most 3 past it, and GET /v1/inbound once.

    `personas`: every persona on the account, the unmanaged one included.
    """
    pages = run.pages()
    needed = pages_needed(personas)
    overshoot = len(pages) - needed
    ok = (
        run.reads == len(pages) + 1
        and inbound(run.requests) == 1
        and len(set(pages)) == len(pages)
        and set(range(1, needed + 1)) <= set(pages)
        and overshoot <= PAST_THE_END
        and run.errors == 0
    )
    results.plan_overshoot.append(overshoot)
    if not ok:
        results.problems.append(f"{what}: {run.reads} reads, pages {sorted(pages)}")
    results.plan_checks.append(ok)


def check_apply(results: Results, run: Measured, account: accounts.Account, what: str) -> None:
    """Writes = personas gaining + personas losing; verification reads <= plan reads."""
    _, after = run.split_at_first_write()
    plan_reads, verify_reads = phase_reads(run)
    attaches = sum(r["path"].endswith("/attach") for r in after)
    detaches = sum(r["path"].endswith("/detach") for r in after)
    ok = (
        run.code == 0
        and run.errors == 0
        and attaches == account.gaining
        and detaches == account.losing
        and "Apply complete" in run.output
    )
    text = f"{attaches}+{detaches} writes for {account.gaining}+{account.losing} personas"
    results.apply_checks.append((what, text, ok))
    results.verify_checks.append((what, verify_reads, plan_reads))
    if not ok or verify_reads > plan_reads:
        results.problems.append(
            f"{what}: {text}; verify {verify_reads}, plan {plan_reads} reads\n{run.output[-1500:]}"
        )


# -- the targets ----------------------------------------------------------------------------


def targets(results: Results, big: str, quick: bool) -> None:
    """Turn the measurements into the targets (sizes scaled down under --quick)."""
    scale = " (quick run: sizes / 10, times not comparable)" if quick else ""
    read_targets(results, scale)
    time_targets(results, big, scale)
    naive_and_growth_targets(results, scale)


def read_targets(results: Results, scale: str) -> None:
    overshoot = results.plan_overshoot
    results.check(
        f"plan reads: list pages + at most {PAST_THE_END} past the end (and GET /v1/inbound "
        "once), no page twice",
        f"{sum(results.plan_checks)}/{len(results.plan_checks)} plans; pages asked for past "
        f"the end: {min(overshoot, default=0)} to {max(overshoot, default=0)}",
        all(results.plan_checks),
    )
    if results.whole_apply is not None:
        whole_apply_target(results, scale)
    results.check(
        "writes when converged: 0 (a second apply of each size)",
        "; ".join(
            f"{size}: {run.writes} writes, {run.reads} reads" for size, run in results.converged
        ),
        all(run.code == 0 and run.writes == 0 for _, run in results.converged),
    )
    results.check(
        "verification reads no more than plan reads",
        "; ".join(f"{what}: {v} <= {p}" for what, v, p in results.verify_checks),
        all(v <= p for _, v, p in results.verify_checks),
    )
    results.check(
        "apply writes = personas gaining + personas losing",
        "; ".join(f"{what}: {text}" for what, text, _ in results.apply_checks),
        all(ok for _, _, ok in results.apply_checks),
    )
    if results.skew_checks:
        results.check(
            "a number the list shows on two personas (moved between page reads) costs one read "
            "by id per persona, and the apply converges",
            "; ".join(text for text, _ in results.skew_checks),
            all(ok for _, ok in results.skew_checks),
        )


def whole_apply_target(results: Results, scale: str) -> None:
    assert results.whole_apply is not None
    personas, phases = results.whole_apply
    pages = ceil(personas / PAGE_LIMIT)
    limit = READS_PER_PAGE * pages
    plan_reads, verify_reads = max(phases, key=sum)
    results.check(
        f"a whole apply of {personas:,} personas ({pages} page{'s' if pages > 1 else ''}, 15% "
        f"drift) reads at most {limit} times: plan pass + GET /v1/inbound + verification{scale}",
        f"at most {plan_reads + verify_reads} reads in {len(phases)} runs (default and "
        f"--parallelism 8): plan pass {plan_reads} (pages and GET /v1/inbound), verification "
        f"{verify_reads}; the account also holds the unmanaged pool persona, so its listing "
        f"is {pages_needed(personas + 1) - 1} pages of personas and an empty one",
        plan_reads + verify_reads <= limit,
    )


def _timed(limit: float, seconds: float) -> str:
    missed = f" (over by {seconds - limit:.2f} s, {seconds / limit - 1:.0%})"
    return f"{seconds:.2f} s" + (missed if seconds > limit else "")


def time_targets(results: Results, big: str, scale: str) -> None:
    rows = {(row.scenario, row.size): row for row in results.rows}
    for scenario, target, limit in (
        ("plan, 50 ms latency", "at 50 ms latency within 3 s", 3.0),
        ("plan, converged", "converged, zero latency: within 3 s and 300 MB", 3.0),
        ("plan, 1% drift", "with 1% drift, zero latency: within 3.5 s", 3.5),
        ("validate", "validate: within 2 s", 2.0),
    ):
        row = rows.get((scenario, big))
        if row is None:
            continue
        run = row.run
        what = f"{big}, {target}" if scenario == "validate" else f"plan of {big} {target}"
        measured = _timed(limit, run.wall)
        ok = run.wall <= limit
        if scenario == "plan, converged":
            measured += f", peak {run.rss_mb:.0f} MB"
            ok = ok and run.rss_mb <= 300
        if not ok:
            measured += ": see the notes below"
        results.check(what + scale, measured, ok)


def naive_and_growth_targets(results: Results, scale: str) -> None:
    if results.ratios:
        personas = max(results.ratios)
        ratio = results.ratios[personas]
        short = "" if ratio >= 10 else f" (short by {1 - ratio / 10:.0%}: see the notes below)"
        results.check(
            f"apply of {personas:,} x 10, 15% drift, 10 ms: >= 10x faster than naive{scale}",
            f"{ratio:.1f}x{short}",
            ratio >= 10,
        )
    growth = [
        later.run.wall / earlier.run.wall
        for scenario in ("plan, converged", "plan, 1% drift", "validate")
        for earlier, later in pairwise([r for r in results.rows if r.scenario == scenario])
    ]
    if growth:
        results.check(
            "doubling the account roughly doubles the time (no quadratic step)",
            f"largest 2x-size time ratio {max(growth):.2f}",
            max(growth) < 2.6,
        )
