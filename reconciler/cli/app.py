"""The command group, its global options, and the Settings every command receives."""

from __future__ import annotations

import functools
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import click
from click.core import ParameterSource

from reconciler import __version__
from reconciler.api import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    BlandClient,
    check_base_url,
    parse_size,
)
from reconciler.api.transport import EventHooks
from reconciler.cli.output import ask_to_confirm, echo
from reconciler.config.load import DEFAULT_MAX_FILE_BYTES, load_config
from reconciler.core import read_inputs
from reconciler.errors import InputError
from reconciler.model import Desired
from reconciler.planfile import signing_key
from reconciler.secrets import (
    REDACTOR,
    api_key,
    key_file_from,
    key_file_warning,
)

# Bounds of --timeout and BLAND_TIMEOUT: a day is more than any request needs, and far larger
# values overflow the clock arithmetic of deadlines.
MIN_TIMEOUT = 0.001
MAX_TIMEOUT = 86_400.0


@dataclass
class Settings:
    """What every command receives: the global options, and what the CLI takes from its
    surroundings, which tests replace to run it in-process (main's `seams`)."""

    api_key_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_rps: float | None = None
    max_file_size: int = DEFAULT_MAX_FILE_BYTES
    no_color: bool = False
    max_response_size: int = DEFAULT_MAX_RESPONSE_BYTES
    # The client's sleep (None: its own wait, which a stop interrupts), clock and backoff
    # multiplier between retries (0: retry at once, Retry-After aside).
    sleep: Callable[[float], None] | None = None
    clock: Callable[[], float] = time.monotonic
    backoff: float = 0.5
    # Whether stdout is a terminal: colour and the progress bar.
    stdout_is_terminal: Callable[[], bool] = lambda: sys.stdout.isatty()
    # Asks before an apply without --auto-approve; raises to stop it.
    confirm: Callable[[], None] = ask_to_confirm
    # An apply touching at least this many personas shows a progress bar on a terminal.
    progress_min_personas: int = 10
    # Reads and checks config files (config.load_config).
    read_config: Callable[..., Desired] = load_config

    def colour(self) -> bool:
        """Whether the plan text is coloured: not with --no-color or NO_COLOR (any value); with
        FORCE_COLOR (any value but 0) even off a terminal, for CI logs; else on a terminal."""
        if self.no_color or os.environ.get("NO_COLOR"):
            return False
        force = os.environ.get("FORCE_COLOR", "")
        return force != "0" if force else self.stdout_is_terminal()

    def load_config(self, files: Sequence[str], targets: Sequence[str] = ()) -> Desired:
        """The config files merged, within --max-file-size, cut to the targets; a saved plan
        among them is refused (without a signing key read_inputs reads no plan file)."""
        return cast(Desired, read_inputs(files, targets, self.read_config, self.max_file_size))

    def inputs(self, files: Iterable[str], what: str) -> dict[str, str]:
        """The files this run reads (as `what`, and the key file), for refuse_overwriting."""
        found = dict.fromkeys(files, what)
        key_file = key_file_from(self.api_key_file, os.environ)
        if key_file:
            found[key_file] = "API key file"
        return found

    def signing_key(self) -> bytes:
        """The key that signs and checks plan files, derived from the API key."""
        return signing_key(api_key(self.api_key_file, os.environ))

    def base_url(self) -> str:
        """BLAND_API_URL (or the default), refusing an insecure URL before anything is sent."""
        return check_base_url(os.environ.get("BLAND_API_URL", DEFAULT_BASE_URL))

    def client(self, event_hooks: EventHooks | None = None) -> BlandClient:
        """A client for BLAND_API_URL with the global options' settings and httpx's event hooks."""
        base_url = self.base_url()
        key = api_key(self.api_key_file, os.environ)
        warning = key_file_warning(self.api_key_file, os.environ)
        if warning is not None:
            echo(warning, err=True)
        return BlandClient(
            base_url,
            key,
            timeout=self.timeout,
            max_rps=self.max_rps,
            sleep=self.sleep,
            clock=self.clock,
            backoff=self.backoff,
            max_response_bytes=self.max_response_size,
            event_hooks=event_hooks,
        )


def _setup_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(REDACTOR)
    handler.setFormatter(logging.Formatter("%(levelname).1s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO if verbose else logging.WARNING)
    # httpx logs every request at INFO; ours (at -vv) is shorter and carries the timing.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose >= 3 else logging.WARNING)


def _seconds(text: str, variable: str) -> float:
    """BLAND_TIMEOUT's value, in the range --timeout allows."""
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{variable}={text!r} is not a number of seconds") from None
    if not MIN_TIMEOUT <= value <= MAX_TIMEOUT:  # False for nan
        raise InputError(
            f"{variable}={text!r} is out of range: a number of seconds from {MIN_TIMEOUT:g} "
            f"to {MAX_TIMEOUT:g}"
        )
    return value


def _from_env(variable: str, parse: Callable[[str, str], Any], default: Any) -> Any:
    """The variable's value through `parse` (which names it in its error), or the default."""
    text = os.environ.get(variable)
    return parse(text, variable) if text else default


class _FiniteFloat(click.FloatRange):
    """A float range that also refuses nan and inf (a timeout of inf would overflow a clock)."""

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        number: float = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def global_options(*, after_command: bool) -> list[click.Option]:
    """The global options: the group's, or hidden copies on a command so they may follow it."""
    max_mib = DEFAULT_MAX_RESPONSE_BYTES // 1024**2
    options = [
        click.Option(
            ["-v", "--verbose"],
            count=True,
            help="More detail: -v retries and waits, -vv each request.",
        ),
        click.Option(
            ["--api-key-file"],
            type=click.Path(dir_okay=False),
            help="Read the API key from this file (else BLAND_API_KEY_FILE, else BLAND_API_KEY).",
        ),
        click.Option(
            ["--timeout"],
            type=_FiniteFloat(min=MIN_TIMEOUT, max=MAX_TIMEOUT),
            help=f"Seconds one request attempt may take, up to {MAX_TIMEOUT:g} (BLAND_TIMEOUT; "
            f"default {DEFAULT_TIMEOUT:g}).",
        ),
        click.Option(
            ["--max-rps"],
            type=_FiniteFloat(min=0.01),
            help="Send at most this many requests per second (default: no fixed cap; adapt to "
            "429s).",
        ),
        click.Option(
            ["--max-file-size"],
            # A config file over a gigabyte is a mistake, and the size is handed to read().
            type=click.IntRange(min=1, max=1024**3),
            default=DEFAULT_MAX_FILE_BYTES,
            show_default=True,
            help="Refuse config files larger than this many bytes.",
        ),
        click.Option(
            ["--no-color"],
            is_flag=True,
            help="No colour, even on a terminal (as NO_COLOR=1; FORCE_COLOR=1 colours off a "
            "terminal).",
        ),
        click.Option(
            ["--max-response-size"],
            metavar="SIZE",
            help="Refuse an API answer larger than this: bytes, or with K, M or G "
            f"(BLAND_MAX_RESPONSE_SIZE; default {max_mib}M).",
        ),
    ]
    if after_command:  # hidden, their values handed to the group's
        for option in options:
            option.hidden = True
            option.expose_value = False
            option.callback = _given_after_command
    return options


def _given_after_command(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """A global option given after the command: it counts as if given before it."""
    name = param.name or ""
    if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE:
        given = ctx.find_root().params
        given[name] = given[name] + value if name == "verbose" else value
        _setup_logging(given["verbose"])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
def cli(**given: Any) -> None:
    """Declarative routing of Bland AI inbound numbers to personas.

    validate checks config files offline; plan shows what apply would change; apply makes
    exactly the calls needed; show prints a plan saved by plan --out. Exit codes: 0 done,
    1 error, 2 changes pending (plan --detailed-exitcode), 3 refused, 4 apply incomplete,
    130/143 apply interrupted. Global options may also follow the command.

    \b
    Environment:
      BLAND_API_KEY       the API key (plan, apply, export)
      BLAND_API_KEY_FILE  a file holding the key instead (--api-key-file wins)
      BLAND_API_URL       the API base URL, default https://api.bland.ai
                          (the simulator prints the value to export for it)
      BLAND_TIMEOUT       seconds one request attempt may take (--timeout wins)
      BLAND_MAX_RESPONSE_SIZE  the largest API answer read (--max-response-size wins)
      NO_COLOR            no colour; FORCE_COLOR: colour even off a terminal
    """
    _setup_logging(given["verbose"])


cli.params += global_options(after_command=False)


def pass_settings(command: Callable[..., None]) -> Callable[..., None]:
    """Give the command the Settings: main's, with the global options given before or after it
    (else their variables) filled in."""

    @functools.wraps(command)
    def with_settings(*args: Any, **kwargs: Any) -> None:
        ctx = click.get_current_context()
        given = {**ctx.find_root().params}
        del given["verbose"]  # main() redacted every key file named before click parsed them
        size = given["max_response_size"]
        given["max_response_size"] = (
            parse_size(size, "--max-response-size")
            if size is not None
            else _from_env("BLAND_MAX_RESPONSE_SIZE", parse_size, DEFAULT_MAX_RESPONSE_BYTES)
        )
        if given["timeout"] is None:
            given["timeout"] = _from_env("BLAND_TIMEOUT", _seconds, DEFAULT_TIMEOUT)
        # main() passes its Settings in as the context object.
        command(replace(ctx.find_object(Settings) or Settings(), **given), *args, **kwargs)

    return with_settings


# Not click's readability check: config loading says why a file cannot be read, in one line.
FILES = click.argument("files", nargs=-1, required=True, type=click.Path(readable=False))
# How plan and show print a plan.
PLAN_FORMAT = click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="How to print the plan (markdown: for a pull-request comment).",
)
TARGETS = click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="NAME_OR_ID",
    help="Plan only the config entries with this name or id (repeatable); every file is still "
    "checked whole.",
)
MASK_NUMBERS = click.option(
    "--mask-numbers",
    is_flag=True,
    help="Show only the last four digits of each number (for public repositories).",
)


# The valve thresholds of plan and apply, given to the command as SafetySettings' keywords
# (None where not given); they win over the config's `safety:`.
VALVE_OPTIONS = (
    click.option(
        "--max-detach-percent",
        type=_FiniteFloat(min=0, max=100),
        help="Safety valve: refuse to take more than this share of the numbers now on "
        "managed personas off their persona (default 25).",
    ),
    click.option(
        "--min-numbers",
        type=click.IntRange(min=0),
        help="Apply the percentage valve once managed personas hold at least this many "
        "numbers (default 8).",
    ),
    click.option(
        "--allow-emptying/--no-allow-emptying",
        default=None,
        help="Allow leaving a managed persona that has numbers with none (default: refuse).",
    ),
)


def valve_options(command: Callable[..., None]) -> Callable[..., None]:
    """The command with VALVE_OPTIONS, in their order."""
    return functools.reduce(
        lambda decorated, option: option(decorated), VALVE_OPTIONS[::-1], command
    )
