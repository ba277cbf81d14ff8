"""`python -m reconciler` and the `reconciler` command: run the command line.

SIGINT and SIGTERM are handled before anything else is imported (a Ctrl-C typed right after the
command lands there, and importing the command line takes a good part of a second): nothing has
been read or written yet, so the run ends at once with one line and 130 or 143, never a
traceback. main() then installs its own. Only `os` and `signal` come first; `os` is loaded by
Python's own start-up already.
"""

import os
import signal


def _stopped_while_starting(signum: int, frame: object) -> None:
    os.write(2, f"Stopped by {signal.Signals(signum).name}.\n".encode())
    # 128 + the signal, as shells say: ExitCode.INTERRUPTED (130) and TERMINATED (143), which
    # are not imported yet.
    os._exit(128 + signum)


def run() -> None:
    """Handle the stop signals, then import and run the command line."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stopped_while_starting)
    # Imported here, with the signals handled.
    from reconciler.cli import main

    main()


if __name__ == "__main__":
    run()
