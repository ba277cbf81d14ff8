"""The wire as doctor sees it: each exchange's status, time, rate-limit headers, error body.

The client hands doctor parsed payloads and typed errors; what it does not hand over (how long
an answer took, which headers came, what shape an error body had) is noted here, by a wrapper
around the client's httpx transport that changes no answer.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from reconciler.api.urls import is_loopback

MAX_ERROR_BODY = 64 * 1024  # error bodies are kept up to this size to tell their shape
_RATE_LIMIT_HEADER = re.compile(r"rate-?limit|retry-after", re.IGNORECASE)


@dataclass(frozen=True)
class Exchange:
    """One request as the wire saw it: its answer's status, headers and, for errors, body."""

    method: str
    path: str
    status: int | None  # None: no answer
    seconds: float  # until the status line and headers arrived
    rate_limit_headers: tuple[tuple[str, str], ...] = ()
    error_body: Any = None  # an error answer's JSON; a str saying what it was if not JSON


class WireLog(httpx.BaseTransport):
    """The client's transport, wrapped to note each exchange."""

    def __init__(
        self,
        inner: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._inner = inner if inner is not None else httpx.HTTPTransport()
        self._clock = clock
        self.exchanges: list[Exchange] = []

    @classmethod
    def for_url(cls, base_url: str) -> WireLog:
        """A wire log sending through the proxy the environment names for base_url, if any.

        httpx uses HTTPS_PROXY and the like only for the transport it builds itself; doctor's
        requests must go the way every other command's do.
        """
        return cls(httpx.HTTPTransport(proxy=environment_proxy(base_url)))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = self._clock()
        method, path = request.method, request.url.path
        try:
            response = self._inner.handle_request(request)
        except httpx.TransportError:
            self.exchanges.append(Exchange(method, path, None, self._clock() - started))
            raise
        seconds = self._clock() - started
        headers = tuple(
            (name.lower(), value)
            for name, value in response.headers.items()
            if _RATE_LIMIT_HEADER.search(name)
        )
        body = None
        if response.status_code >= 400:
            response, body = _keep_error_body(response)
        self.exchanges.append(Exchange(method, path, response.status_code, seconds, headers, body))
        return response

    def close(self) -> None:
        self._inner.close()


def environment_proxy(url: str) -> str | None:
    """The proxy HTTP(S)_PROXY or ALL_PROXY name for url, unless NO_PROXY exempts its host.

    A loopback host is never proxied, as for every other command: the key would go in clear
    text to the proxy.
    """
    target = httpx.URL(url)
    if is_loopback(target.host):
        return None
    proxies = urllib.request.getproxies()  # as httpx reads them
    if urllib.request.proxy_bypass(target.host):  # NO_PROXY
        return None
    return proxies.get(target.scheme) or proxies.get("all")


def _keep_error_body(response: httpx.Response) -> tuple[httpx.Response, Any]:
    """The error answer rebuilt from its first bytes, and those bytes parsed (or a note).

    An error body is read only up to MAX_ERROR_BODY: one that never ends cannot hold doctor.
    """
    if response.is_stream_consumed:  # built in memory (a mock transport's answer): as it is
        decoded = response.headers.copy()
        decoded.pop("content-encoding", None)
        return response, _parsed(response.status_code, decoded, response.content)
    raw = bytearray()
    try:
        for chunk in response.iter_raw():
            raw += chunk
            if len(raw) > MAX_ERROR_BODY:
                break
    finally:
        response.close()
    kept = bytes(raw[: MAX_ERROR_BODY + 1])
    # A stream, not content: the client reads and decodes it as it would have the original.
    rebuilt = httpx.Response(
        response.status_code,
        headers=response.headers,
        stream=httpx.ByteStream(kept),
        extensions=response.extensions,
    )
    if len(kept) > MAX_ERROR_BODY:
        return rebuilt, f"a body over {MAX_ERROR_BODY // 1024} KiB"
    return rebuilt, _parsed(response.status_code, response.headers, kept)


def _parsed(status: int, headers: httpx.Headers, raw: bytes) -> Any:
    """An error body's JSON (decoded as its headers say), or what it was if it is not JSON."""
    try:
        body = httpx.Response(status, headers=headers, content=raw).read()
        return json.loads(body.decode("utf-8"))
    except (ValueError, httpx.DecodingError):
        kind = headers.get("content-type", "no content type").split(";")[0]
        return f"not JSON ({kind})"


def envelope_of(body: Any) -> tuple[str, bool]:
    """Which error shape a body has, in words, and whether it carries an error code."""
    if isinstance(body, str):
        return body, False
    if not isinstance(body, dict):
        return "JSON that is not an object", False
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0]
        coded = isinstance(first, dict) and bool(first.get("error") or first.get("code"))
        return "errors as a list of {error, message}", coded
    if isinstance(errors, str) and errors.strip():
        return 'errors as a "CODE: message" string', bool(re.match(r"[A-Z][A-Z0-9_]+:", errors))
    if isinstance(body.get("error"), str):
        return "a bare {error}", False
    if "message" in body:
        return "the legacy {status, message}", False
    return "an object without errors, error or message", False
