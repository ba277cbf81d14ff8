"""`doctor`: read-only probes of whether an account behaves as the reconciler assumes (see
docs/doctor.md). Nothing here writes to the account, prints, or picks an exit status."""

from reconciler.doctor.checks import run_doctor as run_doctor
