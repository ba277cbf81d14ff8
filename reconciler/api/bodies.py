"""Answers' bodies: read within the size limit and the deadline, as JSON, errors as ApiError.

httpx's read timeout applies to each piece, so a body trickling in never times out: bodies are
streamed and refused while they stream. The limit (docs/commands.md, "Reading the account")
bounds every answer a client reads at once together: pages read side by side cannot add up to
several times it. Error bodies come in every shape the API notes in the README list.
"""

from __future__ import annotations

import email.utils
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from reconciler.errors import ApiError, AuthError, InputError
from reconciler.text import one_line

MiB = 1024**2
DEFAULT_MAX_RESPONSE_BYTES = 512 * MiB
# A limit below this is surely a slip (512 meant as megabytes): one page of personas is larger.
MIN_RESPONSE_BYTES = 1 * MiB
# Only encodings whose decoding is bounded: deflate expands 64 KiB read off the network to at
# most about 64 MiB. Left to httpx, the list would grow with whatever decoders are installed.
ACCEPT_ENCODING = "gzip, deflate"

_UNITS = {"": 1, "k": 1024, "m": MiB, "g": 1024**3}
_SIZE = re.compile(r"(\d+)\s*([kmg]?)(?:i?b)?", re.IGNORECASE)


def parse_size(text: str, source: str) -> int:
    """Bytes from a whole number, optionally with K, M or G (powers of 1024); `source` names
    the option or variable it came from in the one-line error."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise InputError(
            f"{source} {text!r} is not a size: give bytes, or a whole number with K, M or G "
            "(for instance 512M)"
        )
    size = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if size < MIN_RESPONSE_BYTES:
        raise InputError(
            f"{source} {text!r} is {size} bytes, less than the least allowed (1M): "
            "sizes are in bytes unless K, M or G follows (for instance 512M)"
        )
    return size


def shown_size(size: int) -> str:
    """A byte count as the error messages show it: in GiB or MiB when a whole number of them."""
    if size % (1024 * MiB) == 0:
        return f"{size // (1024 * MiB)} GiB"
    return f"{size // MiB} MiB" if size % MiB == 0 else f"{size:,} bytes"


# A \uD800-\uDFFF escape: JSON may spell a lone surrogate, which no UTF-8 output can hold.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _json_of(content: bytearray) -> Any:
    """The JSON of a body, lone surrogates (a string cut mid emoji) made U+FFFD; ValueError if it
    is not JSON or too deeply nested to read."""
    try:
        value = json.loads(content)
        if _SURROGATE_ESCAPE.search(content):
            # Read again through UTF-16, whose decoder makes each lone surrogate one U+FFFD.
            text = json.dumps(value, ensure_ascii=False).encode("utf-16-le", "surrogatepass")
            value = json.loads(text.decode("utf-16-le", "replace"))
    except RecursionError:
        raise ValueError("nested too deeply") from None
    return value


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, in either of its forms (seconds or HTTP date)."""
    text = (value or "").strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


_AUTH_HINTS = {
    401: "the API key was rejected: check BLAND_API_KEY",
    403: "the API key lacks permission for this call",
}


def error_from_response(
    response: httpx.Response, content: bytearray, method: str, path: str
) -> ApiError:
    """Build an ApiError from any of the API's error shapes (envelope, legacy, bare, non-JSON)."""
    try:
        body: Any = _json_of(content)
    except ValueError:
        body = None
    fields = body if isinstance(body, dict) else {}  # only an object holds a code or a message
    code = message = None
    errors = fields.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else None
    if isinstance(first, dict):
        code = _text(first.get("error") or first.get("code"))
        message = _text(first.get("message"))
    elif first is not None:
        message = _text(first)
    elif isinstance(errors, str) and errors.strip():
        match = re.fullmatch(r"([A-Z][A-Z0-9_]+):\s*(.*)", errors.strip(), re.DOTALL)
        code, message = (match.group(1), match.group(2)) if match else (None, errors)
    for key in ("error", "message"):
        if message is None and isinstance(fields.get(key), str):
            message = fields[key]
    if message is None:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        message = f"{'non-JSON' if body is None else 'unexpected error'} body ({kind})"
    status = response.status_code
    if status in _AUTH_HINTS:
        message += f" ({_AUTH_HINTS[status]})"
    # PERSONA_NOT_FOUND is documented as "not found or access denied" to one persona: with a
    # 403 on a path that names one, it is that persona's answer, not a key refused for the run.
    one_persona = code == "PERSONA_NOT_FOUND" and path.startswith("/v1/personas/")
    refused_key = status in _AUTH_HINTS and not (status == 403 and one_persona)
    error = AuthError if refused_key else ApiError
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    return error(
        message, status=status, code=code, method=method, path=path, retry_after=retry_after
    )


def _text(value: Any) -> str | None:
    return str(value) if value is not None and str(value) else None


def success_payload(response: httpx.Response, content: bytearray, method: str, path: str) -> Any:
    """The JSON of a 2xx answer; an ApiError if it is not JSON or its envelope holds errors."""
    try:
        payload = _json_of(content)
    except ValueError:
        message = "the API answered 2xx with a body that is not JSON"
        raise ApiError(message, status=response.status_code, method=method, path=path) from None
    if isinstance(payload, dict) and payload.get("errors") not in (None, [], ""):
        raise error_from_response(response, content, method, path)
    return payload


class BodyBudget:
    """Bytes of answers held at once by every request of a client together: at most `limit`."""

    def __init__(self, limit: int, timeout: float) -> None:
        self.limit = limit
        self.timeout = timeout  # 4 x it is the deadline of a request
        self.held = 0
        self._lock = threading.Lock()

    @contextmanager
    def hold(
        self, response: httpx.Response, path: str, past_deadline: Callable[[], bool]
    ) -> Iterator[bytearray]:
        """The whole body of a streamed response, its bytes held here until the block ends (then
        freed, not when a traceback lets the answer go); an ApiError once it is too large, not
        decodable or late."""
        method = response.request.method
        over = (
            f"the answer is over the {shown_size(self.limit)} limit ({{}}); refused without "
            "reading it whole (raise --max-response-size or BLAND_MAX_RESPONSE_SIZE if the "
            "account is that large)"
        )

        def refused(why: str) -> ApiError:
            why += "; the write may have taken effect" if method != "GET" else ""
            return ApiError(why, method=method, path=path)

        declared = response.headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > self.limit:
            raise refused(over.format(f"it says {int(declared):,} bytes"))
        body = bytearray()
        try:
            for piece in response.iter_bytes():
                size = len(body) + len(piece)
                with self._lock:
                    if self.held + len(piece) > self.limit:
                        alongside = f"with the answers read alongside it; {size:,} bytes of it"
                        how = f"{size:,} bytes" if size > self.limit else alongside
                        raise refused(over.format(f"{how} had come"))
                    self.held += len(piece)
                body += piece
                if past_deadline():
                    raise refused(
                        f"the request's deadline ({4 * self.timeout:g}s, 4 x --timeout) "
                        "passed while its answer was still arriving; stopped reading it"
                    )
            yield body
        except httpx.DecodingError as error:  # decoded, it is not what it claims
            raise refused(f"its answer could not be decoded ({one_line(str(error))})") from None
        finally:
            with self._lock:
                self.held -= len(body)
            body.clear()
