"""What doctor found: each check's verdict, and what the probes measured on the way."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from reconciler.doctor.wire import Exchange

Status = Literal["ok", "warn", "fail"]
CHECK_NAMES = (
    "credentials",
    "personas_listing",
    "inbound_listing",
    "response_shapes",
    "consistency",
)


@dataclass(frozen=True)
class Check:
    """One check's verdict and a one-line reason."""

    name: str
    status: Status
    detail: str


def judged(name: str, fails: Sequence[str], warns: Sequence[str], facts: str) -> Check:
    """A check from its failures and warnings (either may be empty) and what was seen."""
    status: Status = "fail" if fails else "warn" if warns else "ok"
    return Check(name, status, "; ".join([*fails, *warns, facts] if facts else [*fails, *warns]))


@dataclass(frozen=True)
class Report:
    """Every check, and the exchanges the probes made."""

    checks: tuple[Check, ...]
    exchanges: tuple[Exchange, ...] = ()
    persona_pages: int = 0  # pages of limit=100 read, the empty one that ends the listing included

    @property
    def failed(self) -> bool:
        """True when any check failed."""
        return any(check.status == "fail" for check in self.checks)

    def count(self, status: Status) -> int:
        """How many checks ended with `status`."""
        return sum(check.status == status for check in self.checks)

    def latency_ms(self) -> tuple[float, float] | None:
        """Median and slowest time to an answer's headers, in milliseconds."""
        times = [e.seconds * 1000 for e in self.exchanges if e.status is not None]
        return (statistics.median(times), max(times)) if times else None

    def rate_limit_headers(self) -> dict[str, str]:
        """Every rate-limit header the API sent, with the last value seen."""
        return {name: value for e in self.exchanges for name, value in e.rate_limit_headers}

    def to_json(self) -> dict[str, Any]:
        """The report as `doctor --format json` prints it."""
        latency = self.latency_ms()
        return {
            "checks": [
                {"name": check.name, "status": check.status, "detail": check.detail}
                for check in self.checks
            ],
            "failed": self.failed,
            "requests": len(self.exchanges),
            "latency_ms": None
            if latency is None
            else {"median": round(latency[0], 1), "max": round(latency[1], 1)},
            "persona_pages": self.persona_pages,
            "rate_limit_headers": self.rate_limit_headers(),
        }


def not_checked(credentials: str, why: str, exchanges: Sequence[Exchange] = ()) -> Report:
    """The report when the first request failed: credentials failed, nothing else could run."""
    checks = [Check("credentials", "fail", credentials)]
    checks += [Check(name, "fail", f"not checked: {why}") for name in CHECK_NAMES[1:]]
    return Report(tuple(checks), tuple(exchanges))
