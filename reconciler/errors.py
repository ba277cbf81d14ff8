"""The exceptions the reconciler raises, and the exit status the CLI turns each into."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """The process's exit status: the README's "Exit codes" table, the only place each is set."""

    OK = 0
    ERROR = 1  # invalid config, missing key, API error, refused confirmation
    CHANGES = 2  # plan --detailed-exitcode: changes pending
    REFUSED = 3  # apply refused before any write: stale or altered plan, safety valve, protected
    INCOMPLETE = 4  # apply: some writes failed or were skipped, or the account did not converge
    INTERRUPTED = 130  # apply stopped by SIGINT after the writes in flight (128 + 2, as shells say)
    TERMINATED = 143  # apply stopped by SIGTERM likewise (128 + 15)


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem found in a config file, pointing at its source."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ReconcilerError(Exception):
    """Base of every error the CLI reports as a clean one-line message, then exits with
    exit_code. An empty one says nothing: the command ended short of success and its output said
    why (plan --detailed-exitcode's changes, an apply incomplete or interrupted, a failed check)."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str = "", exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(ReconcilerError):
    """The config file is unreadable or invalid; carries every problem found."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(sorted(diagnostics))
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class InputError(ReconcilerError):
    """A problem with what the user asked for that has no file position (missing file, bad env)."""


def cannot_read(path: object, error: OSError, what: str = "file") -> InputError:
    """The error for a file that cannot be read: missing, or the system's reason in lower case."""
    if isinstance(error, FileNotFoundError | NotADirectoryError):
        return InputError(f"{path}: no such {what}")
    reason = (error.strerror or type(error).__name__).lower()
    return InputError(f"{path}: cannot read the {what} ({reason})")


@dataclass(eq=False, repr=False)  # compared and shown as exceptions are
class ApiError(ReconcilerError):
    """The Bland API answered with an error, or did not answer usefully. Its text is `GET /path:
    HTTP 404 code: message`, each part before the message left out when empty."""

    api_message: str
    _: KW_ONLY
    status: int | None = None
    code: str | None = None
    method: str = ""
    path: str = ""
    retry_after: float | None = None

    def __post_init__(self) -> None:
        # The API's words on one line, as text.one_line makes them (this module imports nothing
        # of the package): a line break would split the report's line and the one-line error.
        self.code = " ".join(self.code.split()) if self.code is not None else None
        self.api_message = " ".join(self.api_message.split())
        status = "" if self.status is None else f"HTTP {self.status}"
        where = [f"{self.method} {self.path}".strip(), " ".join(filter(None, [status, self.code]))]
        super().__init__(": ".join([*filter(None, where), self.api_message]))


class AuthError(ApiError):
    """401 or 403: the key is wrong or lacks permission; the whole run stops at once."""


class LogFailed(ReconcilerError):
    """The --log-file could not take a line: no new write goes out without its record."""


class OutputClosed(ReconcilerError):
    """stdout is a pipe whose reader has gone (`| head`): nothing more can be shown there."""


class Refused(ReconcilerError):
    """Apply refuses the plan before any write: it trips a safety valve or touches a protected
    number, or a saved plan no longer matches the account or was altered."""

    exit_code = ExitCode.REFUSED


# Why a write was not sent, in the words of the apply report.
INTERRUPTED = "the run was interrupted before it was sent"
AUTH_STOPPED = "the run stopped on an authorisation error"


class NotSent(ApiError):
    """The run stopped while this request waited its turn; it was never sent."""

    def __init__(self, reason: str, *, method: str = "", path: str = "") -> None:
        self.reason = reason
        super().__init__(f"not sent: {reason}", method=method, path=path)
