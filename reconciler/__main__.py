"""`python -m reconciler` and the `reconciler` command: run the command line.

SIGINT and SIGTERM are handled from before the command line's modules are imported (a Ctrl-C
typed right after the command lands there): nothing has been read or written yet, so the run
ends at once with one line and 130 or 143, never a traceback. main() then installs its own.
"""

from __future__ import annotations

import os
import signal
from types import FrameType
from typing import NoReturn

from reconciler.errors import ExitCode


def _stopped_while_starting(signum: int, frame: FrameType | None) -> NoReturn:
    os.write(2, f"Stopped by {signal.Signals(signum).name}.\n".encode())
    os._exit(int(ExitCode.INTERRUPTED if signum == signal.SIGINT else ExitCode.TERMINATED))


def run() -> None:
    """Handle the stop signals, then import and run the command line."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stopped_while_starting)
    # Imported here, with the signals handled.
    from reconciler.cli import main

    main()


if __name__ == "__main__":
    run()
