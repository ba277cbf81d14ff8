"""The simulator in its own process with the tests' faults in front (tests/simulator_faults.py),
for a run that sets them through POST /_sim/faults, as the benchmarks' listing move does:

    BLAND_API_KEY=... python -m tests.simulator_process --state FILE --ready-file FILE [--port N]

It serves until SIGINT or SIGTERM; the ready file gets the base URL once it listens.
"""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

from reconciler.simulator.account import load_state
from tests.simulated import Simulator
from tests.simulator_faults import with_test_faults


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # before the server's threads start
    simulator = Simulator(load_state(args.state), os.environ["BLAND_API_KEY"], port=args.port)
    with with_test_faults(simulator):
        # Write-then-rename so a watcher never reads a half-written URL.
        partial = args.ready_file.with_name(f".{args.ready_file.name}.tmp")
        partial.write_text(simulator.url + "\n", encoding="utf-8")
        partial.replace(args.ready_file)
        signal.sigwait(stop_signals)


if __name__ == "__main__":
    main()
