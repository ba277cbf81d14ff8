"""What doctor found: each check's verdict, and what the client's requests showed on the way."""

from __future__ import annotations

import contextlib
import re
import statistics
import time
from collections import Counter
from typing import Any, Literal

import httpx

from reconciler.api.transport import EventHooks
from reconciler.text import counted, printable

Status = Literal["ok", "warn", "fail"]
Verdict = tuple[Status, str]  # a check's status and its one-line reason
_RATE_LIMIT_HEADER = re.compile(r"rate-?limit|retry-after", re.IGNORECASE)


class Report:
    """What doctor found: each check's verdict, and what the client's requests got, noted by
    its httpx event hooks (which change no answer): every attempt, retries included."""

    def __init__(self) -> None:
        self.checks: dict[str, Verdict] = {}  # each check's name -> its verdict
        self.persona_pages = 0  # pages of limit=100 up to the empty one that ends the listing
        self.stopped = ""  # why nothing past credentials was checked, if it was not
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

    @property
    def failed(self) -> bool:
        return any(status == "fail" for status, _ in self.checks.values())

    def latency_ms(self) -> dict[str, float] | None:
        """Median and slowest time to an answer's headers, in milliseconds."""
        times = [seconds * 1000 for seconds in self.seconds]
        return {"median": statistics.median(times), "max": max(times)} if times else None

    def to_json(self) -> dict[str, Any]:
        """The report as `doctor --format json` prints it."""
        latency = self.latency_ms()
        return {
            "checks": [
                {"name": name, "status": status, "detail": printable(detail)}
                for name, (status, detail) in self.checks.items()
            ],
            "failed": self.failed,
            "requests": len(self.started),
            "latency_ms": latency and {name: round(ms, 1) for name, ms in latency.items()},
            "persona_pages": self.persona_pages,
            "rate_limit_headers": self.rate_limit_headers,
        }

    def to_text(self, base_url: str) -> str:
        """The checks one per line, then what the probes measured, then the verdict: each line
        made safe to print here (the API's text escaped), as each detail of to_json is."""
        width = max(map(len, self.checks))
        lines = [f"reconciler doctor: {base_url} (GET requests only)"]
        lines += [f"{s:<4}  {name:<{width}}  {d}" for name, (s, d) in self.checks.items()]
        measured = counted(len(self.started), "request")
        if latency := self.latency_ms():
            measured += f", time to answer: median {latency['median']:.0f} ms, "
            measured += f"slowest {latency['max']:.0f} ms"
        lines.append(f"{measured}; {self.persona_pages} persona pages read")
        headers = sorted(self.rate_limit_headers.items())
        limits = ", ".join(f"{name}: {value}" for name, value in headers)
        lines.append(f"rate-limit headers: {limits or 'none seen'}")
        counts = Counter(status for status, _ in self.checks.values())
        failed, warned = counts["fail"], counts["warn"]
        if self.stopped:
            verdict = f"{self.stopped}: nothing else was checked"
        elif failed:
            verdict = f"{failed} failed, {warned} warned: this account does not behave as assumed"
        elif warned:
            verdict = f"no check failed, {warned} warned: the tool copes, see the warnings"
        else:
            verdict = "every check passed"
        return "\n".join(map(printable, [*lines, verdict + " (see docs/doctor.md)"]))
