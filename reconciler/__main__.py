"""`python -m reconciler` and the `reconciler` command: run the command line. SIGINT and SIGTERM
are handled before it is imported (a good part of a second, where a Ctrl-C typed right after the
command lands): nothing is read or written yet, so the run ends at once, 130 or 143, one line."""

import os
import signal


def _stopped_while_starting(signum: int, frame: object) -> None:
    os.write(2, f"Stopped by {signal.Signals(signum).name}.\n".encode())
    os._exit(128 + signum)  # ExitCode.INTERRUPTED or TERMINATED, not imported yet


def run() -> None:
    """Handle the stop signals, then import and run the command line."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stopped_while_starting)
    from reconciler.cli import main

    main()


if __name__ == "__main__":
    run()
