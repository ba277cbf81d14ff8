"""The simulator's own test/control API under ``/_sim``: request log, account state, faults.

These endpoints need the API key like the real ones, but are never logged, delayed or faulted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from .replies import (
    METHOD_NOT_ALLOWED_BODY,
    NOT_FOUND_BODY,
    Reply,
    SimulatedError,
    auth_failure,
    error_reply,
    json_reply,
)
from .routes import parse_json

if TYPE_CHECKING:
    from .server import Simulator

ControlHandler = Callable[["Simulator", str, Any], Reply]


class ControlRoute(NamedTuple):
    handler: ControlHandler
    methods: tuple[str, ...]


def _invalid_body(simulator: Simulator, message: str) -> Reply:
    return error_reply(SimulatedError(400, "INVALID_BODY", message))


def _log(simulator: Simulator, method: str, body: Any) -> Reply:
    return json_reply(200, {"requests": [r.to_dict() for r in simulator.requests]})


def _log_clear(simulator: Simulator, method: str, body: Any) -> Reply:
    simulator.clear_log()
    return json_reply(200, {"status": "success"})


def _state(simulator: Simulator, method: str, body: Any) -> Reply:
    if method == "POST":
        if not isinstance(body, dict):
            return _invalid_body(simulator, "expected an object")
        try:
            simulator.load(body)
        except ValueError as exc:
            return _invalid_body(simulator, str(exc))
    return json_reply(200, simulator.export_state())


def _faults(simulator: Simulator, method: str, body: Any) -> Reply:
    if method == "POST":
        if not isinstance(body, dict):
            return _invalid_body(simulator, "expected a JSON object")
        try:
            simulator.faults.update(body)
        except ValueError as exc:
            return _invalid_body(simulator, str(exc))
    return json_reply(200, simulator.faults.to_dict())


def _faults_reset(simulator: Simulator, method: str, body: Any) -> Reply:
    simulator.faults.reset()
    return json_reply(200, simulator.faults.to_dict())


_CONTROL_ROUTES: dict[str, ControlRoute] = {
    "/_sim/log": ControlRoute(_log, ("GET",)),
    "/_sim/log/clear": ControlRoute(_log_clear, ("POST",)),
    "/_sim/state": ControlRoute(_state, ("GET", "POST")),
    "/_sim/faults": ControlRoute(_faults, ("GET", "POST")),
    "/_sim/faults/reset": ControlRoute(_faults_reset, ("POST",)),
}


def serve_control(
    simulator: Simulator, method: str, path: str, auth: str | None, raw_body: bytes
) -> Reply:
    """Serve one request to a ``/_sim`` path."""
    route = _CONTROL_ROUTES.get(path.rstrip("/") or "/")
    if route is None:
        return json_reply(404, NOT_FOUND_BODY)
    if method not in route.methods:
        return json_reply(405, METHOD_NOT_ALLOWED_BODY, {"Allow": ", ".join(route.methods)})
    if auth != simulator.api_key:
        return error_reply(auth_failure())
    body, body_ok = parse_json(raw_body)
    if not body_ok:
        return _invalid_body(simulator, "Body is not valid JSON")
    return route.handler(simulator, method, body)
