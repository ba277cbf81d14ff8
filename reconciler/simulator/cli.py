"""``reconciler simulator``: run the Bland API simulator as a standalone process."""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import click

from .fault_values import ATTACH_MODES
from .faults import Faults
from .server import Simulator
from .state_file import StateError, read_state_file


def _status_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int]:
    if not value:
        return []
    try:
        statuses = [int(part) for part in value.split(",") if part.strip()]
        Faults().update({"read_statuses": statuses})
    except ValueError:
        raise click.BadParameter(
            "expected a comma-separated list of HTTP statuses, e.g. 503,503,200"
        ) from None
    return statuses


# The keys reconciler accepts (MIN_KEY_CHARS and _HEADER_SAFE in reconciler/secrets.py).
MIN_KEY_CHARS = 8
KEY_CHARS = re.compile(r"[\x21-\x7e]+")


def _write_ready_file(path: Path, url: str) -> None:
    # Write-then-rename so a watcher never reads a half-written URL.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(url + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _exit_with_error(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.command("simulator")
@click.option(
    "--state",
    "state_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
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
@click.option(
    "--read-statuses", callback=_status_list, help="Scripted statuses for the next reads."
)
@click.option(
    "--write-statuses", callback=_status_list, help="Scripted statuses for the next writes."
)
@click.option("--retry-after", default=None, help="Retry-After value sent with scripted 429s.")
@click.option("--drop-after-write", type=int, default=0, help="Apply N writes, drop responses.")
@click.option("--hang", type=int, default=0, help="The next N API requests never get an answer.")
@click.option("--html-errors", is_flag=True, help="Scripted errors get an HTML body.")
@click.option(
    "--inbound-numbers-as-strings", is_flag=True, help="List persona numbers as bare strings."
)
@click.option(
    "--attach-mode",
    type=click.Choice(ATTACH_MODES),
    default="steal",
    show_default=True,
    help="Attaching a number held by another persona: move, refuse (409) or keep on both.",
)
@click.option(
    "--endless-body", is_flag=True, help="API response bodies never end (cut off after 2 GiB)."
)
@click.option(
    "--large-body",
    "large_body_bytes",
    type=click.IntRange(min=0),
    default=0,
    metavar="BYTES",
    help="API response bodies are padded with whitespace to BYTES.",
)
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the base URL to this file once listening.",
)
def simulator_command(
    state_file: Path,
    host: str,
    port: int,
    api_key_env: str,
    ready_file: Path | None,
    **fault_options: Any,
) -> None:
    """Run a local simulator of the Bland persona, inbound-number and v2 agent API."""
    api_key = os.environ.get(api_key_env, "").strip()
    if not api_key:
        _exit_with_error(f"environment variable {api_key_env} is not set")
    # A key reconciler refuses would make every request of a trial fail; say so at start-up.
    # The rule is reconciler's own (reconciler/secrets.py), restated: the simulator imports
    # nothing from the package it plays against.
    if len(api_key) < MIN_KEY_CHARS or not KEY_CHARS.fullmatch(api_key):
        _exit_with_error(
            f"the key in {api_key_env} is not one reconciler accepts: an API key is one line "
            f"of at least {MIN_KEY_CHARS} printable ASCII characters, without spaces"
        )
    try:
        faults = Faults()
        faults.update(fault_options)
    except ValueError as exc:
        _exit_with_error(str(exc))
    try:
        state = read_state_file(state_file)
        simulator = Simulator(
            state,
            api_key=api_key,
            host=host,
            port=port,
            faults=faults,
            state_source=str(state_file),
        )
    except StateError as exc:
        _exit_with_error(f"bad state file {exc}")
    try:
        simulator.start()
    except OSError as exc:
        _exit_with_error(f"cannot listen on {host}:{port}: {exc.strerror or exc}")

    _serve_until_signalled(simulator, ready_file, _how_to_use(simulator.url, api_key_env))


def _how_to_use(url: str, api_key_env: str) -> str:
    """The lines after the start line: where the state lives, and what to export to use it.

    Listening on every address (0.0.0.0, ::), it is reached on loopback: the only plain-http
    address reconciler accepts.
    """
    url = url.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:")
    key = (
        "with the same BLAND_API_KEY"
        if api_key_env == "BLAND_API_KEY"
        else f"with BLAND_API_KEY set to the value of {api_key_env}"
    )
    return (
        "Its state lives in memory only: changes are lost when it stops, and the state file "
        "is never written.\n"
        f"To point reconciler at it ({key}), run:\n"
        f"  export BLAND_API_URL={url}"
    )


def _serve_until_signalled(simulator: Simulator, ready_file: Path | None, usage: str) -> None:
    """Announce the running simulator, serve until SIGINT or SIGTERM, then stop it."""
    stop = threading.Event()

    # The simulator's own signal handling: it only wakes the wait loop below, which stops
    # the server and restores the previous handlers.
    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if ready_file is not None:
            _write_ready_file(ready_file, simulator.url)
        click.echo(
            f"Bland API simulator listening on {simulator.url} "
            f"({simulator.persona_count} personas, {simulator.number_count} numbers)"
        )
        click.echo(usage)
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        simulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if ready_file is not None:
            ready_file.unlink(missing_ok=True)
