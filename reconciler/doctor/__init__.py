"""`doctor`: read-only probes of whether an account behaves as the reconciler assumes.

Each probe is a GET the client sends and reads as every command's; each check is `ok`, `warn`
(the tool copes, but the user should know) or `fail` (the tool's reading of this account cannot
be trusted). Nothing here writes to the account, prints, or picks an exit status.
"""

from reconciler.doctor.checks import run_doctor
from reconciler.doctor.report import Check, Report, WireLog, not_checked

__all__ = ["Check", "Report", "WireLog", "not_checked", "run_doctor"]
