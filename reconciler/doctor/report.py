"""What doctor found: each check's verdict, and what the client's requests showed on the way."""

from __future__ import annotations

import contextlib
import re
import statistics
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeVar

import httpx

from reconciler.api.transport import EventHooks
from reconciler.errors import ApiError, InputError
from reconciler.text import and_more, printable

Status = Literal["ok", "warn", "fail"]
CHECKS = (
    "credentials",
    "personas_listing",
    "inbound_listing",
    "response_shapes",
    "consistency",
    "agents_listing",
    "agent_twins",
    "inbound_number",
)
KEY_NEEDED = "the checks need a key the API accepts"
MAX_SHOWN = 3  # numbers or ids a detail names before "and N more"
T = TypeVar("T")
_RATE_LIMIT_HEADER = re.compile(r"rate-?limit|retry-after", re.IGNORECASE)


@dataclass(frozen=True)
class Check:
    """One check's verdict and a one-line reason."""

    name: str
    status: Status
    detail: str


def read(call: Callable[[], T]) -> T | ApiError:
    """What `call` read, or the ApiError it stopped on.

    An id or a number from the API that no request path can carry (InputError, before anything
    is sent) stops the read as an error answer would: the check names it, as plan would.
    """
    try:
        return call()
    except ApiError as error:
        return error
    except InputError as error:
        return ApiError(str(error))


def words(error: ApiError) -> str:
    """The error on one line, safe to print (ApiError puts the API's words on one line)."""
    return printable(str(error))


def shown(items: Collection[str]) -> str:
    """The items sorted, safe to print, the first few then "and N more"."""
    return and_more([printable(item) for item in sorted(items)], MAX_SHOWN)


def plural(count: int, noun: str) -> str:
    """`count` and the noun, with an s unless the count is one."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def judged(name: str, fails: Sequence[str], warns: Sequence[str], facts: str) -> Check:
    """A check from its failures and warnings (either may be empty) and what was seen."""
    status: Status = "fail" if fails else "warn" if warns else "ok"
    return Check(name, status, "; ".join([*fails, *warns, facts] if facts else [*fails, *warns]))


class WireLog:
    """What the client's requests got, noted by its httpx event hooks, which change no answer.

    Every attempt counts, retries included, answered or not.
    """

    def __init__(self) -> None:
        self.started: dict[httpx.Request, float] = {}  # each request sent -> when
        self.seconds: list[float] = []  # each answer's time to its headers
        self.rate_limit_headers: dict[str, str] = {}  # each one the API sent -> its last value
        self.redirect_to = ""  # the host the last redirect's Location names
        self.event_hooks: EventHooks = {"request": [self._sent], "response": [self._answered]}

    def _sent(self, request: httpx.Request) -> None:
        self.started[request] = time.perf_counter()

    def _answered(self, response: httpx.Response) -> None:
        self.seconds.append(time.perf_counter() - self.started[response.request])
        for name, value in response.headers.items():
            if _RATE_LIMIT_HEADER.search(name):
                self.rate_limit_headers[name.lower()] = value
        if response.has_redirect_location:
            with contextlib.suppress(httpx.InvalidURL):
                self.redirect_to = response.request.url.join(response.headers["location"]).host


@dataclass(frozen=True)
class Report:
    """Every check, and what the requests of the probes showed."""

    checks: tuple[Check, ...]
    wire: WireLog
    persona_pages: int = 0  # pages of limit=100 up to the empty one that ends the listing
    stopped: str = ""  # why nothing past credentials was checked, if it was not

    @property
    def failed(self) -> bool:
        """True when any check failed."""
        return any(check.status == "fail" for check in self.checks)

    def count(self, status: Status) -> int:
        """How many checks ended with `status`."""
        return sum(check.status == status for check in self.checks)

    def latency_ms(self) -> tuple[float, float] | None:
        """Median and slowest time to an answer's headers, in milliseconds."""
        times = [seconds * 1000 for seconds in self.wire.seconds]
        return (statistics.median(times), max(times)) if times else None

    def to_json(self) -> dict[str, Any]:
        """The report as `doctor --format json` prints it."""
        latency = self.latency_ms()
        return {
            "checks": [asdict(check) for check in self.checks],
            "failed": self.failed,
            "requests": len(self.wire.started),
            "latency_ms": None
            if latency is None
            else {"median": round(latency[0], 1), "max": round(latency[1], 1)},
            "persona_pages": self.persona_pages,
            "rate_limit_headers": self.wire.rate_limit_headers,
        }


def not_checked(
    credentials: str, why: str, stopped: str = KEY_NEEDED, wire: WireLog | None = None
) -> Report:
    """The report when the first reads failed: credentials failed, nothing else could run."""
    checks = [Check("credentials", "fail", credentials)]
    checks += [Check(name, "fail", f"not checked: {why}") for name in CHECKS[1:]]
    return Report(tuple(checks), wire or WireLog(), stopped=stopped)
