"""The only module that speaks HTTP: reads the live account and makes attach/detach writes.

The Bland API publishes no rate limit and no idempotency key, and its error bodies come in
several shapes (see the API notes in the README). Every request therefore goes through one
layer here: explicit timeouts, bounded retries with full-jitter backoff and a total deadline,
Retry-After honoured, and for writes a re-read before any retry whose outcome is unknown.
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import tenacity

from reconciler import __version__
from reconciler.errors import AUTH_STOPPED, INTERRUPTED, ApiError, AuthError, InputError, NotSent
from reconciler.model import Live, LivePersona
from reconciler.pacing import AdaptiveWriteLimit, Pacer, WriteTicket

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.bland.ai"
DEFAULT_TIMEOUT = 30.0
PAGE_LIMIT = 100  # the documented maximum of `limit`
DEFAULT_PAGE_SIZE = 20  # what the API sends when it is given no `limit`
MAX_PAGES = 2000  # a safety stop for a server that never returns a short page
MAX_PAGE_WINDOW = 16
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


def check_base_url(url: str) -> str:
    """Return the base URL without a trailing slash; refuse plain http to a non-loopback host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"BLAND_API_URL {url!r} is not an http(s) URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise InputError(
            f"BLAND_API_URL {url!r} uses plain http to a remote host: use https "
            "(plain http is allowed only for loopback addresses)"
        )
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class ClientStats:
    """What the client did: requests sent (attempts included), retries and time spent waiting."""

    reads: int = 0
    writes: int = 0
    retries: int = 0
    rate_limited: int = 0  # 429 answers
    waited: float = 0.0  # every second spent not sending: backoff, 429 pauses, the rate cap
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, *, write: bool) -> None:
        with self._lock:
            if write:
                self.writes += 1
            else:
                self.reads += 1

    def retried(self, seconds: float) -> None:
        with self._lock:
            self.retries += 1
            self.waited += seconds

    def held(self, seconds: float) -> None:
        with self._lock:
            self.waited += seconds

    def limited(self) -> None:
        with self._lock:
            self.rate_limited += 1


class _Transient(Exception):
    """A failure worth retrying; `ambiguous` when a write may have taken effect anyway."""

    def __init__(self, error: ApiError, *, ambiguous: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.ambiguous = ambiguous


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, in either of its forms (seconds or HTTP date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def error_from_response(response: httpx.Response, method: str, path: str) -> ApiError:
    """Build an ApiError from any of the API's error shapes (envelope, legacy, bare, non-JSON)."""
    code: str | None = None
    message: str | None = None
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            first = errors[0]
            if isinstance(first, dict):
                code = _text(first.get("error") or first.get("code"))
                message = _text(first.get("message"))
            else:
                message = _text(first)
        elif isinstance(errors, str) and errors.strip():
            match = re.fullmatch(r"([A-Z][A-Z0-9_]+):\s*(.*)", errors.strip(), re.DOTALL)
            code, message = (match.group(1), match.group(2)) if match else (None, errors)
        if message is None and isinstance(body.get("error"), str):
            message = body["error"]
        if message is None and isinstance(body.get("message"), str):
            message = body["message"]
    if message is None:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        message = (
            f"unexpected error body ({kind})" if body is not None else f"non-JSON body ({kind})"
        )
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    status = response.status_code
    if status in (401, 403):
        hint = (
            "the API key was rejected: check BLAND_API_KEY"
            if status == 401
            else "the API key lacks permission for this call"
        )
        return AuthError(f"{message} ({hint})", status=status, code=code, method=method, path=path)
    return ApiError(
        message, status=status, code=code, method=method, path=path, retry_after=retry_after
    )


def _text(value: Any) -> str | None:
    return str(value) if value is not None and str(value) else None


def parse_persona(item: Any) -> LivePersona:
    """A persona object of the API as a LivePersona; inbound numbers may be objects or strings."""
    if not isinstance(item, dict) or item.get("id") in (None, ""):
        raise ApiError(f"unexpected persona object in the response: {type(item).__name__}")
    numbers: set[str] = set()
    for entry in item.get("inbound_numbers") or []:
        number = entry.get("phone_number") if isinstance(entry, dict) else entry
        if isinstance(number, str) and number.strip():
            numbers.add(number.strip())
    return LivePersona(
        id=str(item["id"]),
        name=str(item.get("name") or ""),
        numbers=frozenset(numbers),
        deleted=item.get("deleted_at") not in (None, ""),
    )


class BlandClient:
    """A typed client for the persona and inbound-number endpoints of the Bland API."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        attempts: int = 6,
        backoff: float = 0.5,
        backoff_cap: float = 10.0,
        page_window: int = MAX_PAGE_WINDOW,
        parallelism: int = 4,
        max_rps: float | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        if not api_key:
            raise InputError("the API key is empty")
        self.base_url = check_base_url(base_url)
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.page_window = max(1, page_window)
        self.stats = ClientStats()
        self._cancelled = threading.Event()
        self._stop_reason: str | None = None
        self._auth_failure: AuthError | None = None
        self._stop_lock = threading.Lock()
        self._local = threading.local()
        # By default a wait ends early on cancel(): an interrupted run does not sit out a backoff.
        self._sleep: Callable[[float], None] = sleep or self._interruptible_sleep
        self._clock = clock
        self._on_retry = on_retry
        self.pacer = Pacer(max_rps=max_rps, sleep=self._sleep, clock=clock)
        self.write_limit = AdaptiveWriteLimit(parallelism, notify=self._notify)
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"authorization": api_key, "user-agent": f"reconciler/{__version__}"},
            timeout=httpx.Timeout(connect=timeout, read=timeout, write=timeout, pool=timeout),
            transport=transport,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> BlandClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def set_write_parallelism(self, parallelism: int) -> None:
        """How many writes may be in flight at once before any 429 lowers it."""
        self.write_limit.set_ceiling(parallelism)

    def cancel(self, reason: str = INTERRUPTED) -> None:
        """Stop retrying and waiting: requests on the wire finish, no new attempt starts."""
        with self._stop_lock:
            self._stop_reason = self._stop_reason or reason
        self._cancelled.set()

    @contextmanager
    def uninterruptible(self) -> Iterator[None]:
        """Let this thread's requests go out even after cancel(), to finish a unit of writes.

        A number freed from its old persona must reach its new one or go back: stopping
        between the two would leave it on no persona.
        """
        self._local.forced = True
        try:
            yield
        finally:
            self._local.forced = False

    def _interruptible_sleep(self, seconds: float) -> None:
        if getattr(self._local, "forced", False):
            time.sleep(seconds)  # finishing a unit of writes: its backoff is not cut short
        else:
            self._cancelled.wait(seconds)

    @property
    def cancelled(self) -> bool:
        """True once cancel() was called (or a 401/403 came), unless this thread is finishing."""
        return self._cancelled.is_set() and not getattr(self._local, "forced", False)

    def _notify(self, text: str) -> None:
        """One line for -v: a retry, a wait or a change of the write limit."""
        if self._on_retry is not None:
            self._on_retry(text)
        else:
            log.info("%s", text)

    # -- the one HTTP layer -------------------------------------------------------------

    def _deadline(self) -> float:
        """When a request started now must have given up, retries and waits included."""
        return self._clock() + 4 * self.timeout

    def _hold(self, method: str, path: str, deadline: float) -> None:
        """Wait out a 429 pause and the rate cap; fail now if the pause ends past the deadline."""
        pause = self.pacer.pause_remaining()
        if pause > 0 and self._clock() + pause + self.timeout > deadline:
            raise ApiError(
                f"rate limited: the API asked to wait {pause:.0f}s, longer than this request "
                "may take",
                status=429,
                method=method,
                path=path,
            )
        paused, paced = self.pacer.wait_turn()
        if paused or paced:
            self.stats.held(paused + paced)
        if paused:
            self._notify(f"{method} {path}: held {paused:.1f}s by a 429 Retry-After")

    def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Any,
        deadline: float,
    ) -> Any:
        write = method != "GET"
        self._hold(method, path, deadline)
        if not write:
            self._refuse_if_cancelled(method, path)
            return self._send(method, path, params, body, None)
        with self.write_limit.slot() as ticket:
            # Checked after every wait: a signal may have come while this write waited its turn.
            self._refuse_if_cancelled(method, path)
            return self._send(method, path, params, body, ticket)

    def _refuse_if_cancelled(self, method: str, path: str) -> None:
        if self.cancelled:
            raise NotSent(self._stop_reason or INTERRUPTED, method=method, path=path)

    def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Any,
        ticket: WriteTicket | None,
    ) -> Any:
        write = ticket is not None
        self.stats.count(write=write)
        started = time.perf_counter()
        try:
            response = self._http.request(method, path, params=params, json=body)
        except httpx.TransportError as error:
            ambiguous = write and not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
            log.debug("%s %s -> %s", method, path, type(error).__name__)
            raise _Transient(
                ApiError(f"no usable answer ({type(error).__name__})", method=method, path=path),
                ambiguous=ambiguous,
            ) from None
        log.debug(
            "%s %s -> %s (%.0f ms)",
            method,
            response.request.url.raw_path.decode("ascii", "replace"),
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        if response.status_code in TRANSIENT_STATUSES:
            transient = error_from_response(response, method, path)
            if response.status_code == 429:
                self.stats.limited()
                if ticket is not None:
                    ticket.outcome = "rate_limited"
                if transient.retry_after:
                    self.pacer.pause(transient.retry_after)
            raise _Transient(transient, ambiguous=write and response.status_code != 429)
        if not response.is_success:
            failure = error_from_response(response, method, path)
            if isinstance(failure, AuthError):
                # The key is wrong or lacks rights: nothing else this run sends can succeed, and
                # writes already waiting or retrying in other threads must not go out.
                with self._stop_lock:
                    self._auth_failure = self._auth_failure or failure
                self.cancel(AUTH_STOPPED)
            raise failure
        try:
            payload = response.json()
        except ValueError:
            raise ApiError(
                "the API answered 2xx with a body that is not JSON",
                status=response.status_code,
                method=method,
                path=path,
            ) from None
        if isinstance(payload, dict) and payload.get("errors") not in (None, [], ""):
            raise error_from_response(response, method, path)
        if ticket is not None:
            ticket.outcome = "ok"
        return payload

    def _wait(self, state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, _Transient) and error.error.retry_after is not None:
            return error.error.retry_after
        jitter: float = tenacity.wait_random_exponential(
            multiplier=self.backoff, max=self.backoff_cap
        )(state)
        return jitter

    def _retrying(self, method: str, path: str, deadline: float) -> tenacity.Retrying:
        class PastDeadline(tenacity.stop.stop_base):
            """Stop when the wait plus one more attempt could end past the deadline."""

            def __call__(inner, state: tenacity.RetryCallState) -> bool:
                return self._clock() + state.upcoming_sleep + self.timeout > deadline

        class Cancelled(tenacity.stop.stop_base):
            """Stop once the run is interrupted."""

            def __call__(inner, state: tenacity.RetryCallState) -> bool:
                return self.cancelled

        def before_sleep(state: tenacity.RetryCallState) -> None:
            outcome = state.outcome
            error = outcome.exception() if outcome is not None else None
            self.stats.retried(state.upcoming_sleep)
            # The error already names the method and path.
            self._notify(f"{error}; retry {state.attempt_number} in {state.upcoming_sleep:.1f}s")

        return tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient),
            stop=tenacity.stop_after_attempt(self.attempts) | PastDeadline() | Cancelled(),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )

    def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        deadline: float | None = None,
    ) -> Any:
        deadline = self._deadline() if deadline is None else deadline
        try:
            for attempt in self._retrying(method, path, deadline):
                with attempt:
                    return self._once(method, path, params, body, deadline)
        except _Transient as final:
            raise _gave_up(final, interrupted=self.cancelled) from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    # -- reads --------------------------------------------------------------------------

    def _page(self, page: int) -> list[LivePersona]:
        payload = self._request("GET", "/v1/personas", {"page": page, "limit": PAGE_LIMIT})
        items = payload.get("data") if isinstance(payload, dict) else payload
        if not isinstance(items, list):
            raise ApiError("GET /v1/personas: the response has no list of personas")
        return [parse_persona(item) for item in items]

    def list_personas(self, pages_hint: int = 0) -> tuple[dict[str, LivePersona], int]:
        """Every persona of the account (deleted ones flagged) and the pages the listing spans.

        The span counts pages up to the short one that ends the listing, not pages requested
        past it by the read-ahead: it is what a later re-list needs.

        The API gives no pagination metadata, so pages are requested until one comes back short;
        pages are fetched ahead, a window that doubles while pages come back full. A caller
        that listed the account before passes the span it got as `pages_hint`: those pages are
        all requested at once, so a re-list costs no more requests than the listing it repeats.
        """
        pages: dict[int, list[LivePersona]] = {}
        last_page: int | None = None
        pages_hint = min(pages_hint, MAX_PAGES)
        window, next_page = 1, 1
        pool = ThreadPoolExecutor(max_workers=self.page_window, thread_name_prefix="page")
        in_flight: dict[Future[list[LivePersona]], int] = {}
        try:
            while True:
                while (
                    last_page is None
                    and next_page <= MAX_PAGES
                    and (
                        # Hinted pages go out at once; past them, only once the last one came
                        # back full, and then within the read-ahead window.
                        next_page <= pages_hint
                        or ((pages_hint in pages or not pages_hint) and len(in_flight) < window)
                    )
                ):
                    in_flight[pool.submit(self._page, next_page)] = next_page
                    next_page += 1
                if not in_flight:
                    break
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    page = in_flight.pop(future)
                    pages[page] = future.result()
                    end = self._end_of_listing(pages, page)
                    if end is not None:
                        last_page = end if last_page is None else min(last_page, end)
                    else:
                        window = min(window * 2, self.page_window)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if last_page is None:
            # Planning on part of the account would show moves as plain attaches.
            raise ApiError(
                f"GET /v1/personas: still full pages after {MAX_PAGES} pages of {PAGE_LIMIT}; "
                "refusing to plan on a partial list of personas"
            )
        self._check_limit_honoured(pages, last_page)
        personas: dict[str, LivePersona] = {}
        for page in sorted(pages):
            if last_page is not None and page > last_page:
                break
            for persona in pages[page]:
                personas.setdefault(persona.id, persona)
        return personas, last_page if last_page is not None else len(pages)

    def _check_limit_honoured(self, pages: dict[int, list[LivePersona]], last: int) -> None:
        """Refuse a listing that ended on a page of exactly the API's default size (20).

        A server that ignored `limit` would answer pages of 20, and the first would look like
        the last: every persona after it would be missing, and its numbers would look free. One
        more page tells the two apart; an account whose last page holds exactly 20 pays it.
        """
        if len(pages[last]) != DEFAULT_PAGE_SIZE:
            return
        following = pages[last + 1] if last + 1 in pages else self._page(last + 1)
        if following:
            raise ApiError(
                f"GET /v1/personas: page {last} held {DEFAULT_PAGE_SIZE} personas although "
                f"limit={PAGE_LIMIT} was asked, and page {last + 1} holds more: the server ignores "
                "`limit`; refusing to plan on a partial list of personas"
            )

    @staticmethod
    def _end_of_listing(pages: dict[int, list[LivePersona]], page: int) -> int | None:
        """The last page worth keeping, if `page` shows where the listing ends.

        A short page ends it; so does a page that repeats its neighbour (a server that ignores
        `page` would otherwise be read up to the page cap).
        """
        if len(pages[page]) < PAGE_LIMIT:
            return page
        ids = [persona.id for persona in pages[page]]
        for neighbour in (page - 1, page + 1):
            if neighbour in pages and [persona.id for persona in pages[neighbour]] == ids:
                first, second = sorted((page, neighbour))
                log.warning("page %d repeats page %d: the server ignores paging", second, first)
                return first
        return None

    def get_persona(self, persona_id: str, *, deadline: float | None = None) -> LivePersona:
        """One persona, fresh from the API (within `deadline` when a write is checking itself)."""
        path = f"/v1/personas/{quote(persona_id, safe='')}"
        payload = self._request("GET", path, deadline=deadline)
        return parse_persona(payload.get("data") if isinstance(payload, dict) else None)

    def list_account_numbers(self) -> frozenset[str]:
        """Every inbound number on the account (GET /v1/inbound, legacy shape)."""
        return frozenset(self.list_inbound())

    def list_inbound(self) -> dict[str, str | None]:
        """Every inbound number on the account, with the persona_id the API gives, if any."""
        payload = self._request("GET", "/v1/inbound")
        items: Any = None
        if isinstance(payload, dict):
            items = payload.get("inbound_numbers", payload.get("data"))
        elif isinstance(payload, list):
            items = payload
        if not isinstance(items, list):
            raise ApiError("GET /v1/inbound: the response has no list of inbound numbers")
        numbers: dict[str, str | None] = {}
        for item in items:
            number = item.get("phone_number") if isinstance(item, dict) else item
            if isinstance(number, str) and number.strip():
                owner = item.get("persona_id") if isinstance(item, dict) else None
                numbers[number.strip()] = str(owner) if owner not in (None, "") else None
        return numbers

    def read_live(self) -> Live:
        """The whole live account: personas (all pages) and account numbers, read concurrently."""
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:
                inbound = pool.submit(self.list_inbound)
                personas, pages = self.list_personas()
                numbers = inbound.result()
        except NotSent:
            # A read refused because a concurrent one got a 401/403: which read saw the 401
            # first is a matter of timing, so report the 401 itself, not the refusal it caused.
            if self._auth_failure is not None:
                raise self._auth_failure from None
            raise
        return Live(
            personas=personas,
            account_numbers=frozenset(numbers),
            pages_read=pages,
            inbound_owners={number: owner for number, owner in numbers.items() if owner},
        )

    # -- writes -------------------------------------------------------------------------

    def attach(self, persona_id: str, numbers: Iterable[str]) -> LivePersona:
        """Attach numbers to a persona (a number held by another persona is reassigned)."""
        return self._write("attach", persona_id, sorted(numbers))

    def detach(self, persona_id: str, numbers: Iterable[str]) -> LivePersona:
        """Detach numbers from a persona (numbers not on it are left alone by the API)."""
        return self._write("detach", persona_id, sorted(numbers))

    def _write(self, action: str, persona_id: str, numbers: list[str]) -> LivePersona:
        path = f"/v1/personas/{quote(persona_id, safe='')}/inbound/{action}"
        wanted = set(numbers)
        deadline = self._deadline()  # one budget for the write and the reads that check it

        def took_effect() -> LivePersona | None:
            persona = self.get_persona(persona_id, deadline=deadline)
            done = wanted <= persona.numbers if action == "attach" else not wanted & persona.numbers
            return persona if done else None

        ambiguous = False
        try:
            for attempt in self._retrying("POST", path, deadline):
                with attempt:
                    if ambiguous:
                        # No idempotency key: a write whose answer was lost may have happened.
                        persona = took_effect()
                        if persona is not None:
                            self._notify(f"POST {path}: the earlier attempt took effect")
                            return persona
                    try:
                        payload = self._once(
                            "POST", path, None, {"inbound_numbers": numbers}, deadline
                        )
                    except _Transient as error:
                        ambiguous = ambiguous or error.ambiguous
                        raise
                    return parse_persona(payload.get("data") if isinstance(payload, dict) else None)
        except _Transient as final:
            if ambiguous and not self.cancelled and self._clock() + self.timeout <= deadline:
                persona = took_effect()
                if persona is not None:
                    return persona
                ambiguous = False  # read back: it did not take effect
            raise _gave_up(final, interrupted=self.cancelled, ambiguous=ambiguous) from None
        raise AssertionError("unreachable: tenacity either returns or raises")


def _gave_up(final: _Transient, *, interrupted: bool, ambiguous: bool = False) -> ApiError:
    error = final.error
    why = "interrupted before a retry" if interrupted else "gave up after retries"
    if ambiguous:
        why += "; it may have taken effect"
    return ApiError(
        f"{error.api_message} ({why})",
        status=error.status,
        code=error.code,
        method=error.method,
        path=error.path,
    )
