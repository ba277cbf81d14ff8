"""`doctor`: read-only probes of whether an account behaves as the reconciler assumes.

The Bland docs leave paging, response shapes and the sources of ownership open (see the API
notes); each probe is a GET that answers one of those questions for the account at hand. A check
is `ok`, `warn` (the tool copes, but the user should know) or `fail` (the tool's reading of this
account cannot be trusted). Nothing here writes to the account, prints, or picks an exit status.
"""

from reconciler.doctor.checks import run_doctor
from reconciler.doctor.probes import Reader
from reconciler.doctor.report import CHECK_NAMES, Check, Report, Status, not_checked
from reconciler.doctor.wire import Exchange, WireLog

__all__ = [
    "CHECK_NAMES",
    "Check",
    "Exchange",
    "Reader",
    "Report",
    "Status",
    "WireLog",
    "not_checked",
    "run_doctor",
]
