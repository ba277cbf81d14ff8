"""What a run takes from its options and surroundings (the global options, their variables, the
API key, its client, the files it reads), and how the process is set up while it runs: its log,
its garbage collector, and SIGINT and SIGTERM."""

from __future__ import annotations

import difflib
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, NoReturn

from reconciler.api import BlandClient
from reconciler.api.bodies import DEFAULT_MAX_RESPONSE_BYTES, parse_size
from reconciler.api.transport import DEFAULT_TIMEOUT, EventHooks
from reconciler.api.urls import DEFAULT_BASE_URL, check_base_url
from reconciler.config.load import DEFAULT_MAX_FILE_BYTES, load_config
from reconciler.errors import ExitCode, InputError
from reconciler.files import readable_by_others, refuse_overwriting, remove_temporary_files
from reconciler.model import Desired
from reconciler.planfile import SavedPlan, is_plan_file, read_plan_file, signing_key
from reconciler.secrets import REDACTOR, api_key, key_file_from

# Bounds of --timeout and BLAND_TIMEOUT: a day is more than any request needs, and far larger
# values overflow the clock arithmetic of deadlines.
MIN_TIMEOUT = 0.001
MAX_TIMEOUT = 86_400.0


@dataclass
class Settings:
    """The global options, and the seams tests replace to run the command line in-process."""

    api_key_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_rps: float | None = None
    max_file_size: int = DEFAULT_MAX_FILE_BYTES
    no_color: bool = False
    max_response_size: int = DEFAULT_MAX_RESPONSE_BYTES
    # The client's sleep (None: its own wait, which a stop interrupts) and clock.
    sleep: Callable[[float], None] | None = None
    clock: Callable[[], float] = time.monotonic
    # Whether stdout is a terminal: colour and the progress bar.
    stdout_is_terminal: Callable[[], bool] = lambda: sys.stdout.isatty()
    # Asks before an apply without --auto-approve, raising to stop it (None: on the terminal).
    confirm: Callable[[], None] | None = None
    # An apply touching at least this many personas shows a progress bar on a terminal.
    progress_min_personas: int = 10
    # Where a warning goes, the key file's or export's (the command line prints it on stderr).
    warn: Callable[[str], None] = logging.getLogger(__name__).warning

    def given(
        self, timeout: float | None, max_response_size: str | None, **options: Any
    ) -> Settings:
        """These settings with the global options; BLAND_TIMEOUT (in the range --timeout allows)
        and BLAND_MAX_RESPONSE_SIZE stand in for the two not given, if set and not empty."""
        size, source = max_response_size, "--max-response-size"
        if size is None:
            source = "BLAND_MAX_RESPONSE_SIZE"
            size = os.environ.get(source) or None
        max_bytes = DEFAULT_MAX_RESPONSE_BYTES if size is None else parse_size(size, source)
        if timeout is None and (text := os.environ.get("BLAND_TIMEOUT")):
            try:
                timeout = float(text)
            except ValueError:
                raise InputError(f"BLAND_TIMEOUT={text!r} is not a number of seconds") from None
            if not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT:  # False for nan
                raise InputError(
                    f"BLAND_TIMEOUT={text!r} is out of range: a number of seconds from "
                    f"{MIN_TIMEOUT:g} to {MAX_TIMEOUT:g}"
                )
        timeout = timeout or DEFAULT_TIMEOUT
        return replace(self, **options, timeout=timeout, max_response_size=max_bytes)

    def colour(self) -> bool:
        """Whether the plan text is coloured: not with --no-color or NO_COLOR (any value); with
        FORCE_COLOR (any value but 0) even off a terminal, for CI logs; else on a terminal."""
        if self.no_color or os.environ.get("NO_COLOR"):
            return False
        force = os.environ.get("FORCE_COLOR", "")
        return force != "0" if force else self.stdout_is_terminal()

    def key_file(self) -> str:
        """The API key file named by --api-key-file or BLAND_API_KEY_FILE ("" for none)."""
        return key_file_from(self.api_key_file, os.environ) or ""

    def read_inputs(
        self,
        files: Sequence[str],
        targets: Sequence[str] = (),
        *,
        plans: bool = False,
        output: tuple[str, str | None] = ("", None),
    ) -> Desired | SavedPlan:
        """The config files, checked whole and cut to the targets; or, for apply (`plans`), the plan
        file among them, found by its content, its signature checked: before any request. To the
        other commands a plan file is no config, and they say so, not a dozen schema errors. The
        file the run writes, `output` (its option and path), may be none of those it reads."""
        found = [file for file in files if is_plan_file(file)]
        if found and not plans:
            raise InputError(
                "\n".join(
                    f"{file}: this is a saved plan, not a config file: "
                    f"apply it with 'reconciler apply {file}'"
                    for file in found
                )
            )
        if found and len(files) > 1:
            raise InputError(f"{found[0]}: a plan file is applied alone, without config files")
        if found and targets:
            raise InputError(f"{found[0]}: --target goes with config files; a saved plan is whole")
        if found:
            source: Desired | SavedPlan = read_plan_file(found[0], signing_key(self.key))
        else:
            source = targeted(load_config(list(files), max_bytes=self.max_file_size), targets)
        option, path = output
        if path is not None:  # nor the config a saved plan was made from
            desired = source if isinstance(source, Desired) else source.desired
            what = "plan file" if found else "config file"
            inputs = dict.fromkeys(desired.files, "config file")
            inputs[self.key_file()] = "API key file"
            refuse_overwriting(option, path, {**inputs, **dict.fromkeys(files, what)})
        return source

    @cached_property
    def key(self) -> str:
        """The API key, read once per run: a key file may be a pipe, empty when read again."""
        return api_key(self.api_key_file, os.environ)

    def base_url(self) -> str:
        """BLAND_API_URL (or the default), refusing an insecure URL before anything is sent."""
        return check_base_url(os.environ.get("BLAND_API_URL", DEFAULT_BASE_URL))

    def client(self, event_hooks: EventHooks | None = None) -> BlandClient:
        """A client for BLAND_API_URL with these settings and httpx's event hooks."""
        base_url, key = self.base_url(), self.key
        if warning := readable_by_others("API key file", self.key_file()):
            self.warn(warning)
        return BlandClient(
            base_url,
            key,
            timeout=self.timeout,
            max_rps=self.max_rps,
            sleep=self.sleep,
            clock=self.clock,
            max_response_bytes=self.max_response_size,
            event_hooks=event_hooks,
        )


def targeted(desired: Desired, targets: Sequence[str]) -> Desired:
    """The desired state, checked whole, cut to the entries --target names (by name or id)."""
    if not targets:
        return desired
    named = sorted({ref for entry in desired.personas for ref in (entry.id, entry.name) if ref})
    unknown = []
    for target in targets:
        if target not in named:
            hint = difflib.get_close_matches(target, named, n=1)
            unknown.append(
                f"--target {target!r}: no entry of the config has that name or id"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
            )
    if unknown:
        raise InputError("\n".join(unknown))
    kept = tuple(e for e in desired.personas if e.id in targets or e.name in targets)
    left_out = frozenset(n for e in desired.personas if e not in kept for n in e.numbers)
    return replace(desired, personas=kept, targets=tuple(targets), elsewhere=left_out)


class _RedactedFormatter(logging.Formatter):
    """Log lines, a traceback included, with every secret hidden as in all the CLI prints."""

    def format(self, record: logging.LogRecord) -> str:
        return REDACTOR.clean(super().format(record))


def setup_logging(verbose: int) -> None:
    """Log on stderr, redacted: warnings, with -v what retries and waits, with -vv each request."""
    handler = logging.StreamHandler()  # on stderr
    handler.setFormatter(_RedactedFormatter("%(levelname).1s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO if verbose else logging.WARNING)
    # httpx logs every request at INFO; ours (at -vv) is shorter and carries the timing.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose >= 3 else logging.WARNING)


@contextmanager
def full_collections_held() -> Iterator[None]:
    """A plan of 100,000 numbers holds millions of objects to the end of the run, and the
    collector's full passes over them cost a fifth of it: they are held off while a command
    runs (young ones go on), and the thresholds restored for callers in-process."""
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], 1_000_000_000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def end_now(signum: int) -> NoReturn:
    """SIGINT or SIGTERM outside an apply's writes, or a second one within: end now, 130 or 143,
    with one line. Unwinding would wait for requests in flight. stdout is not flushed (a
    worker may hold it, blocked on a full pipe), and the line goes out through `tell`."""
    remove_temporary_files()
    with suppress(OSError, ValueError, AttributeError):  # stderr closed (or None): no one to tell
        words = ("\n" if sys.stderr.isatty() else "") + f"Stopped by {signal.Signals(signum).name}."
        tell(words)
    os._exit(ExitCode(128 + signum))


def tell(line: str) -> None:
    """A line on stderr from a signal handler, with os.write (the signal may have come in the
    middle of a write to sys.stderr), waiting at most a second: a pipe no one reads any more
    must not keep the run from stopping. Nothing is said where stderr is closed."""

    def write() -> None:
        with suppress(OSError, ValueError, AttributeError):
            os.write(sys.stderr.fileno(), REDACTOR.clean(line + "\n").encode())

    writer = threading.Thread(target=write, name="stderr", daemon=True)
    writer.start()
    writer.join(timeout=1.0)


# The run's handler (`end_now`) ends the process at once; within an apply's writes a GracefulStop
# makes the first signal ask the run to stop after the writes on the wire (so that the user knows
# what was done) and a second one stop at once, as Terraform does. Handlers are installed from the
# main thread only: elsewhere both run without.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def handled_by(handler: Callable[[int], object]) -> Iterator[None]:
    """While active, SIGINT and SIGTERM call `handler` with the signal; then the handlers it
    replaced are back."""
    signums = STOP_SIGNALS if threading.current_thread() is threading.main_thread() else ()
    previous = {signum: signal.signal(signum, lambda s, _: handler(s)) for signum in signums}
    try:
        yield
    finally:
        for signum, replaced in previous.items():
            signal.signal(signum, replaced)


class GracefulStop:
    """A handler: the first SIGINT/SIGTERM sets `event` and calls `on_stop`; a second one calls
    `on_second`, which ends the run at once. `event` may be set without a signal (stdout
    closed): a signal after that is still a first one."""

    def __init__(self, on_stop: Callable[[int], None], on_second: Callable[[int], object]) -> None:
        self.event = threading.Event()
        self.signal_number: int | None = None
        self._on_stop = on_stop
        self._on_second = on_second

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signal_number).name if self.signal_number else ""

    def __call__(self, signum: int) -> None:
        if self.signal_number is not None:
            self._on_second(signum)
            return
        self.signal_number = signum
        self.event.set()
        self._on_stop(signum)
