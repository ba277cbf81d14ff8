"""The steps of one plan timed in-process, without start-up or the config: where the rest goes.

    .venv/bin/python benchmarks/steps.py --personas 10000 [--drift 0.01] [--repeat 3] [--profile]

The config is loaded once; then, --repeat times, the account is read (`read_account`, split into
the listing and GET /v1/inbound, `read_live`, and the rest: agents, confirmations, reads by
number) and planned (`build_plan`, then `assess`). Best and median of each step are printed.
With --profile, the last repetition runs under cProfile and its top functions follow.

To compare two versions of the tool on the same machine, run this script from both checkouts
in turns (PYTHONPATH=<checkout>): a shared machine's load moves every number, so only runs
taken side by side compare.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import accounts
from scenarios import Bench


def timed(steps: dict[str, list[float]], name: str, step: Callable[..., Any], *args: Any) -> Any:
    started = time.perf_counter()
    result = step(*args)
    steps.setdefault(name, []).append(time.perf_counter() - started)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--personas", type=int, default=10_000)
    parser.add_argument("--drift", type=float, default=0.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile the last repetition.")
    args = parser.parse_args()
    from reconciler.api.client import BlandClient
    from reconciler.config.load import load_config
    from reconciler.owner_reads import read_account
    from reconciler.planner import build_plan
    from reconciler.safety import Thresholds, assess

    with tempfile.TemporaryDirectory(prefix="reconciler-steps-") as folder:
        bench = Bench(1, Path(folder))
        account = accounts.build(args.personas, 10, args.drift)
        state_path, config_path = accounts.write(account, Path(folder), "steps")
        sim = bench.simulator(state_path)
        try:
            desired = load_config([str(config_path)])
            client = BlandClient(sim.url, bench.key)
            read_live = client.read_live
            steps: dict[str, list[float]] = {}
            client.read_live = lambda hint=0: timed(  # type: ignore[method-assign]
                steps, "read_live", read_live, hint
            )
            young, middle, _ = gc.get_threshold()
            gc.set_threshold(young, middle, 1_000_000_000)  # as the CLI runs a command
            profile = cProfile.Profile()
            for repetition in range(args.repeat):
                if args.profile and repetition == args.repeat - 1:
                    profile.enable()
                live = timed(steps, "read_account", read_account, client, desired)
                plan = timed(steps, "build_plan", build_plan, desired, live)
                timed(steps, "assess", assess, plan, Thresholds())
                profile.disable()
            steps["rest of reading"] = [
                whole - listing
                for whole, listing in zip(steps["read_account"], steps["read_live"], strict=True)
            ]
            for name, seconds in steps.items():
                best, median = min(seconds), statistics.median(seconds)
                print(f"{name:16} best {best:6.3f} s  median {median:6.3f} s")
            print(f"changes {len(plan.changes)}, reads {live.reads}, load {os.getloadavg()}")
            if args.profile:
                pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        finally:
            sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
