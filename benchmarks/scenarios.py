"""The scenarios: validate, plan and apply on generated accounts, the naive peer, calibration.

Each account is generated (benchmarks/accounts.py) and served by the simulator in its
own process, so it never shares the client's interpreter or GIL. Every measurement is repeated
(--repeat) and the median run is kept, with the range of wall times beside it.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import accounts
from checks import (
    BY_ID,
    Results,
    Row,
    apply_extra,
    check_apply,
    check_plan_reads,
    check_verification,
    read_kinds,
    row_extra,
)
from harness import Measured, Runner, SimulatorProcess

NAIVE = Path(__file__).resolve().parent / "naive.py"
PAGE_LIMIT = 100


class Bench(Runner):
    """Runs the scenarios and gathers what they measure into `results`."""

    def __init__(self, repetitions: int, workdir: Path) -> None:
        super().__init__(repetitions)
        self.workdir = workdir
        self.results = Results()

    def account(
        self, personas: int, numbers_each: int, drift: float, stem: str
    ) -> tuple[accounts.Account, Path, Path]:
        account = accounts.build(personas, numbers_each, drift)
        state_path, config_path = accounts.write(account, self.workdir, stem)
        return account, state_path, config_path

    def simulator(self, state_path: Path) -> SimulatorProcess:
        return SimulatorProcess(state_path, self.key, self.workdir)

    def note(self, text: str) -> None:
        print(text, flush=True)

    def apply_command(self, config_path: Path, *options: str) -> list[str]:
        return [*self.cli, "apply", "--auto-approve", *options, str(config_path)]

    # -- zero latency ---------------------------------------------------------------------

    def local(self, sizes: list[int], numbers_each: int) -> None:
        """Zero latency: validate, plan (converged and 1% drift), apply of the 1% drift."""
        for personas in sizes:
            account, state_path, config_path = self.account(personas, numbers_each, 0.0, "local")
            drifted, _, _ = self.account(personas, numbers_each, 0.01, "local-drift")
            sim = self.simulator(state_path)
            try:
                self.local_size(sim, account, drifted, config_path)
            finally:
                sim.stop()

    def local_size(
        self,
        sim: SimulatorProcess,
        account: accounts.Account,
        drifted: accounts.Account,
        config_path: Path,
    ) -> None:
        size = f"{account.personas:,} x {account.numbers_each}"
        run, walls = self.repeat([*self.cli, "validate", str(config_path)], None)
        self.results.rows.append(Row("validate", size, run, walls=walls))
        self.note(f"validate {size}: {run.wall:.2f}s")

        sim.load(account.state)
        self.plan("plan, converged", sim, config_path, account, size)
        sim.load(drifted.state)
        self.plan("plan, 1% drift", sim, config_path, drifted, size)

        run, walls = self.repeat(
            self.apply_command(config_path), sim, before=partial(sim.load, drifted.state)
        )
        check_apply(self.results, run, drifted, f"apply 1% drift {size}")
        self.results.rows.append(Row("apply, 1% drift", size, run, apply_extra(run), walls))
        self.note(f"apply 1% drift {size}: {run.wall:.2f}s")

        converged = self.once(self.apply_command(config_path), sim)
        check_plan_reads(self.results, converged, account, f"second apply {size}")
        self.results.converged.append((size, converged))

    def plan(
        self,
        scenario: str,
        sim: SimulatorProcess,
        config_path: Path,
        account: accounts.Account,
        size: str,
    ) -> None:
        """`plan` of the account the simulator holds (`account`): a row, its reads checked."""
        run, walls = self.repeat([*self.cli, "plan", str(config_path)], sim)
        check_plan_reads(self.results, run, account, f"{scenario} {size}")
        self.results.rows.append(Row(scenario, size, run, row_extra(run), walls))
        self.note(f"{scenario} {size}: {run.wall:.2f}s")

    # -- latency --------------------------------------------------------------------------

    def latency_plan(self, sizes: list[int], numbers_each: int, latency: float) -> None:
        for personas in sizes:
            size = f"{personas:,} x {numbers_each}"
            account, state_path, config_path = self.account(personas, numbers_each, 0.0, "lat")
            sim = self.simulator(state_path)
            try:
                sim.latency(latency)
                scenario = f"plan, {latency * 1000:.0f} ms latency"
                self.plan(scenario, sim, config_path, account, size)
                row = self.results.rows[-1]
                row.extra["serial time"] = f"{(row.run.reads * latency):.1f}s"
            finally:
                sim.stop()

    def versus_naive(self, sizes: list[int], numbers_each: int, latency: float) -> None:
        """Our apply of a 15% drift against the naive peer's, at `latency`."""
        for personas in sizes:
            size = f"{personas:,} x {numbers_each}"
            account, state_path, config_path = self.account(personas, numbers_each, 0.15, "vs")
            sim = self.simulator(state_path)
            try:
                sim.latency(latency)
                label = f"apply, 15% drift, {latency * 1000:.0f} ms"
                reset = partial(sim.load, account.state)
                ours, our_walls = self.repeat(self.apply_command(config_path), sim, before=reset)
                our_runs = self.last_runs
                check_apply(self.results, ours, account, f"{label} {size}")
                naive, naive_walls = self.repeat(
                    [sys.executable, str(NAIVE), str(config_path)], sim, before=reset
                )
                ratio = naive.wall / ours.wall
                extra = {**apply_extra(ours), "naive / ours": f"{ratio:.1f}x"}
                self.results.rows.append(Row(label, size, ours, extra, our_walls))
                calls = {"calls": f"{naive.writes} attach"}
                naive_label = f"naive peer, {latency * 1000:.0f} ms"
                self.results.rows.append(Row(naive_label, size, naive, calls, naive_walls))
                self.note(f"apply vs naive {size}: {ours.wall:.2f}s vs {naive.wall:.2f}s")
                self.results.ratios[personas] = ratio
                if personas == sizes[-1]:
                    self.skewed_apply(sim, account, config_path, size)
                    wider = self.wider_apply(sim, account, config_path, label, naive.wall)
                    named = self.owners_named_apply(sim, account, config_path, label, naive.wall)
                    self.results.whole_apply = {False: our_runs + wider, True: named}
                    self.results.whole_apply_personas = personas
            finally:
                sim.stop()

    def wider_apply(
        self,
        sim: SimulatorProcess,
        account: accounts.Account,
        config_path: Path,
        label: str,
        naive_wall: float,
    ) -> list[Measured]:
        """The write phase is bound by --parallelism (default 4, kept low because the API
        publishes no rate limit): show what doubling it buys. Returns every run."""
        size = f"{account.personas:,} x {account.numbers_each}"
        wider, walls = self.repeat(
            self.apply_command(config_path, "--parallelism", "8"),
            sim,
            before=partial(sim.load, account.state),
        )
        check_apply(self.results, wider, account, f"apply --parallelism 8 {size}")
        extra = {**apply_extra(wider), "naive / ours": f"{naive_wall / wider.wall:.1f}x"}
        self.results.rows.append(Row(f"{label}, --parallelism 8", size, wider, extra, walls))
        return list(self.last_runs)

    def owners_named_apply(
        self,
        sim: SimulatorProcess,
        account: accounts.Account,
        config_path: Path,
        label: str,
        naive_wall: float,
    ) -> list[Measured]:
        """The same apply where GET /v1/inbound names each number's persona (the simulator's
        legacy_inbound_includes_persona; the docs do not promise it): a number that looks free
        is still read by number, but the personas are not listed a second time. Returns every
        run."""
        size = f"{account.personas:,} x {account.numbers_each}"
        sim.post("/_sim/faults", {"legacy_inbound_includes_persona": True})
        try:
            run, walls = self.repeat(
                self.apply_command(config_path), sim, before=partial(sim.load, account.state)
            )
        finally:
            sim.post("/_sim/faults", {"legacy_inbound_includes_persona": False})
        what = f"apply, GET /v1/inbound naming owners {size}"
        check_apply(self.results, run, account, what, owners_named=True)
        extra = {**apply_extra(run), "naive / ours": f"{naive_wall / run.wall:.1f}x"}
        self.results.rows.append(
            Row(f"{label}, GET /v1/inbound naming owners", size, run, extra, walls)
        )
        return list(self.last_runs)

    def skewed_apply(
        self, sim: SimulatorProcess, account: accounts.Account, config_path: Path, size: str
    ) -> None:
        """The same apply while a declared number moves from a page-1 persona to the last page's
        pool between two page reads: the list shows it on both, and the two are read by id."""
        moved = account.state["personas"][1]["numbers"][0]  # on page 1, declared there

        def reset_and_skew() -> None:
            sim.load(account.state)
            move = {"number": moved, "to_persona": accounts.UNMANAGED_ID, "after_page": 1}
            sim.post("/_sim/faults", {"move_during_listing": move})

        run, walls = self.repeat(self.apply_command(config_path), sim, before=reset_and_skew)
        what = f"apply with a move between page reads {size}"
        check_plan_reads(self.results, run, account, what, by_id=2)
        check_verification(self.results, run, account, what)
        plan, _ = run.split_at_first_write()
        by_id = read_kinds(plan)[BY_ID]
        extra = apply_extra(run)
        self.results.rows.append(
            Row("apply, 15% drift, 10 ms, a move between page reads", size, run, extra, walls)
        )
        ok = (
            run.code == 0
            and "Apply complete" in run.output
            and f"{moved} was listed on" in run.output
            and by_id == 2
        )
        self.results.skew_checks.append(
            (f"{size}: {by_id} reads by id; plan pass {extra['plan pass']}", ok)
        )
        if not ok:
            self.results.problems.append(f"skewed apply {size}:\n{run.output[-1500:]}")

    # -- the simulator's own limit --------------------------------------------------------

    def calibrate(self, personas: int, numbers_each: int) -> None:
        """Requests per second the simulator serves for list pages, with 16 connections."""
        _, state_path, _ = self.account(personas, numbers_each, 0.0, "calibrate")
        sim = self.simulator(state_path)
        try:
            script = (
                "import httpx, os, sys, time\n"
                "from concurrent.futures import ThreadPoolExecutor\n"
                "url, key, pages = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
                "c = httpx.Client(base_url=url, headers={'authorization': key},\n"
                "    limits=httpx.Limits(max_connections=16))\n"
                "get = lambda p: c.get('/v1/personas', params={'page': p, 'limit': 100})\n"
                "with ThreadPoolExecutor(16) as pool:\n"
                "    list(pool.map(get, [1 + i % pages for i in range(400)]))\n"
            )
            pages = max(1, personas // PAGE_LIMIT)
            before = sim.cpu()
            run = self.once([sys.executable, "-c", script, sim.url, self.key, str(pages)], sim)
            busy = sim.cpu() - before
            served = len(run.requests)
            self.results.calibration = (
                f"Calibration: 16 concurrent connections fetching full pages of 100 personas "
                f"x {numbers_each} numbers got {served} pages in {run.wall:.2f} s "
                f"({served / run.wall:.0f} pages/s); the simulator used {busy:.2f} s of CPU, "
                f"{busy / served * 1000:.1f} ms per page."
            )
        finally:
            sim.stop()
