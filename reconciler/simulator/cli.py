"""``reconciler simulator``: run the Bland API simulator as a standalone process."""

from __future__ import annotations

import contextlib
import os
import re
import signal
from pathlib import Path

import click

from .account import StateError, load_state
from .faults import Faults
from .server import Simulator

# The keys reconciler accepts (MIN_KEY_CHARS and _HEADER_SAFE in reconciler/secrets.py),
# restated: the simulator imports nothing from the package it plays against.
MIN_KEY_CHARS = 8
KEY_CHARS = re.compile(r"[\x21-\x7e]+")
FILE = click.Path(dir_okay=False, path_type=Path)


@click.command("simulator")
@click.option(
    "--state",
    "state_file",
    required=True,
    type=FILE,
    help="JSON state file with the account's numbers, personas and v2 agents.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port (0 = any free).")
@click.option(
    "--api-key-env",
    default="BLAND_API_KEY",
    show_default=True,
    help="Environment variable holding the API key clients must send.",
)
@click.option("--latency", type=float, default=0.0, help="Seconds added to every API request.")
@click.option("--ready-file", type=FILE, help="Write the base URL to this file once listening.")
def simulator_command(
    state_file: Path,
    host: str,
    port: int,
    api_key_env: str,
    latency: float,
    ready_file: Path | None,
) -> None:
    """Run a local simulator of the Bland persona, inbound-number and v2 agent API."""
    api_key = os.environ.get(api_key_env, "").strip()
    if not api_key:
        raise click.ClickException(f"environment variable {api_key_env} is not set")
    # A key reconciler refuses would make every request of a trial fail; say so at start-up.
    if len(api_key) < MIN_KEY_CHARS or not KEY_CHARS.fullmatch(api_key):
        raise click.ClickException(
            f"the key in {api_key_env} is not one reconciler accepts: an API key is one line "
            f"of at least {MIN_KEY_CHARS} printable ASCII characters, without spaces"
        )
    with contextlib.ExitStack() as cleanup:
        # Blocked before the server's threads start, which inherit the mask: sigwait below
        # takes them. The mask is put back at the end, for a caller in the same process.
        stop_signals = {signal.SIGINT, signal.SIGTERM}
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        cleanup.callback(signal.pthread_sigmask, signal.SIG_SETMASK, mask)
        if ready_file is not None:  # removed once the simulator has stopped
            cleanup.callback(ready_file.unlink, missing_ok=True)
        try:
            faults = Faults()
            faults.update({"latency": latency})
            simulator = Simulator(load_state(state_file), api_key, host, port, faults)
            cleanup.enter_context(simulator)
        except StateError as exc:
            raise click.ClickException(f"bad state file {exc}") from None
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:  # reading the state file is a StateError: this is the listener
            raise click.ClickException(f"cannot listen: {exc.strerror or exc}") from None
        if ready_file is not None:
            # Write-then-rename so a watcher never reads a half-written URL.
            tmp = ready_file.with_name(f".{ready_file.name}.{os.getpid()}.tmp")
            tmp.write_text(simulator.url + "\n", encoding="utf-8")
            os.replace(tmp, ready_file)
        account = simulator.account
        counts = f"{len(account.personas)} personas, {len(account.numbers)} numbers"
        click.echo(f"Bland API simulator listening on {simulator.url} ({counts})")
        key = f"BLAND_API_KEY set to the value of {api_key_env}"
        if api_key_env == "BLAND_API_KEY":
            key = "the same BLAND_API_KEY"
        click.echo(
            "Its state lives in memory only: changes are lost when it stops, and the state file "
            f"is never written.\nTo point reconciler at it (with {key}), run:"
        )
        # On loopback when it listens on every address: the only plain-http one reconciler takes.
        click.echo(f"  export BLAND_API_URL={simulator.url.replace('//0.0.0.0:', '//127.0.0.1:')}")
        signal.sigwait(stop_signals)
