"""What the simulator answers: a reply to send, and the API's error envelope.

``SimulatedError`` is a failure the simulated Bland API reports to its client; it is the
server's own, unrelated to any exception the reconciler raises on its side of the wire.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .bodies import BodyFault

JSONObject = dict[str, Any]

AUTH_MESSAGE = "Invalid or missing API key"
NOT_FOUND_BODY: JSONObject = {"error": "Not found"}
METHOD_NOT_ALLOWED_BODY: JSONObject = {"status": "error", "message": "Method not allowed"}


class SimulatedError(Exception):
    """A failure the simulated API reports in its ``{"data": null, "errors": [...]}`` envelope."""

    def __init__(
        self, status: int, code: str, message: str, details: JSONObject | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def persona_not_found() -> SimulatedError:
    """The error for a persona that does not exist or is deleted."""
    return SimulatedError(404, "PERSONA_NOT_FOUND", "Persona not found or access denied")


def auth_failure() -> SimulatedError:
    """The error for a missing or wrong API key."""
    return SimulatedError(401, "AUTH_FAILURE", AUTH_MESSAGE)


@dataclass
class Reply:
    """One response, decided before anything is written to the socket."""

    status: int
    payload: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # False = close the connection without writing anything (lost response or hang).
    send: bool = True
    dropped: bool = False
    # How to misdeliver the body (trickled, padded, endless); None = as it is.
    body_fault: BodyFault | None = None


def json_reply(status: int, value: Any, headers: dict[str, str] | None = None) -> Reply:
    """A JSON reply, compactly encoded."""
    payload = json.dumps(value, separators=(",", ":")).encode("utf-8")
    return Reply(status, payload, headers=dict(headers or {}))


def error_reply(exc: SimulatedError) -> Reply:
    """The error envelope for ``exc``."""
    entry: JSONObject = {"error": exc.code, "message": exc.message}
    if exc.details is not None:
        entry["details"] = exc.details
    return json_reply(exc.status, {"data": None, "errors": [entry]})
