"""Apply a plan to the account: the writes, make before break, then read back and verify.

The account is reached only through the `AccountWriter` protocol passed in, never through the
API client directly.
"""

from reconciler.apply.result import ApplyResult, Outcome, Write, describe
from reconciler.apply.verify import AccountReader
from reconciler.apply.writes import AccountWriter, OnWrite, Report, apply_plan

__all__ = [
    "AccountReader",
    "AccountWriter",
    "ApplyResult",
    "OnWrite",
    "Outcome",
    "Report",
    "Write",
    "apply_plan",
    "describe",
]
