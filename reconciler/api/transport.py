"""One request to the API, the way every request goes: the layer under the client's endpoints.

The API publishes no rate limit and no idempotency key (see the API notes in the README): each
request gets timeouts, bounded retries with full-jitter backoff, a total deadline (4 x the
timeout) and Retry-After honoured for every request of the client; a write whose answer was
lost is read back before it is sent again.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Self

import httpx
import tenacity

from reconciler import __version__
from reconciler.api import bodies
from reconciler.api.pacing import AdaptiveWriteLimit, WriteTicket
from reconciler.api.urls import check_base_url, tls_context, unproxied_mounts
from reconciler.errors import AUTH_STOPPED, INTERRUPTED, ApiError, AuthError, InputError, NotSent
from reconciler.text import one_line

log = logging.getLogger("reconciler.client")  # the name -v prints before each line it logs

DEFAULT_TIMEOUT = 30.0
BACKOFF_CAP = 10.0  # seconds: the longest backoff between two attempts
WRITE_PARALLELISM = 4  # writes in flight at once until set_write_parallelism()
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
# httpx's event hooks: "request" ones get each request as it goes, "response" ones each answer
# once its headers came, before its body is read (how doctor notes what it saw).
EventHooks = Mapping[str, list[Callable[..., Any]]]
# What a write returns when reading back showed that an earlier attempt took effect.
READ_BACK_DONE = object()
# Reads the account to tell whether a write whose answer was lost took effect, by a deadline.
TookEffect = Callable[[float], bool]
# What a successful answer is read as (its method and path name it in an error): its JSON.
AnswerReader = Callable[[bodies.ReadAnswer, str, str], Any]


@dataclass
class ClientStats:
    """What retries and waits cost the client, for the summary after an apply."""

    retries: int = 0
    rate_limited: int = 0  # 429 answers
    # Seconds in which some request was held back (backoff, 429 pauses, the rate cap): waits of
    # requests side by side count once, so it is time the run lost, not a sum over threads.
    waited: float = 0.0
    _held_until: float = field(default=float("-inf"), repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(
        self, *, retries: int = 0, rate_limited: int = 0, held: tuple[float, float] | None = None
    ) -> None:
        """Count retries and 429s, and a wait `held` (when it began, how long it lasts)."""
        with self._lock:
            self.retries += retries
            self.rate_limited += rate_limited
            if held is not None:
                start, end = held[0], held[0] + held[1]
                self.waited += max(0.0, end - max(start, self._held_until))
                self._held_until = max(self._held_until, end)


class RetryableFailure(Exception):
    """A failure worth retrying; `ambiguous` when a write may have taken effect anyway."""

    def __init__(self, error: ApiError, *, ambiguous: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.ambiguous = ambiguous


class Transport:
    """Sends requests to one API base URL under the retry, deadline, pacing and stop rules."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        attempts: int = 6,
        backoff: float = 0.5,
        max_rps: float | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_response_bytes: int = bodies.DEFAULT_MAX_RESPONSE_BYTES,
        event_hooks: EventHooks | None = None,
    ) -> None:
        if not api_key:
            raise InputError("the API key is empty")
        self.base_url = check_base_url(base_url)
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.stats = ClientStats()
        self._bodies = bodies.BodyBudget(max_response_bytes)
        self._cancelled = threading.Event()
        self._stop_reason: str | None = None
        self._auth_failure: AuthError | None = None
        self._lock = threading.Lock()  # the stop's reason, and when requests may start
        self._local = threading.local()
        # By default a wait ends early on cancel(): an interrupted run does not sit out a backoff.
        self._sleep: Callable[[float], None] = sleep or self._interruptible_sleep
        self._clock = clock
        # When the next request may start: after a 429's Retry-After, and at most max_rps a second.
        self.max_rps = max_rps
        self._pause_until = self._next_start = 0.0
        self.write_limit = AdaptiveWriteLimit(WRITE_PARALLELISM, notify=log.info)
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={
                "authorization": api_key,
                "user-agent": f"reconciler/{__version__}",
                "accept-encoding": bodies.ACCEPT_ENCODING,
            },
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
            follow_redirects=False,
            verify=tls_context(),
            mounts=unproxied_mounts(self.base_url),
            event_hooks=event_hooks,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def set_write_parallelism(self, parallelism: int) -> None:
        """How many writes may be in flight at once before any 429 lowers it."""
        self.write_limit.set_ceiling(parallelism)

    def cancel(self, reason: str = INTERRUPTED) -> None:
        """Stop retrying and waiting: requests on the wire finish, no new attempt starts."""
        with self._lock:
            self._stop_reason = self._stop_reason or reason
        self._cancelled.set()

    def uninterruptible(self) -> AbstractContextManager[None]:
        """Let this thread's requests go out even after cancel(), to finish a unit of writes: a
        number freed from its old persona must reach its new one or go back, not be left on none."""
        return self._for_this_thread("uninterruptible", True)

    def before_wire(self, hook: Callable[[], None]) -> AbstractContextManager[None]:
        """Call `hook` once, as this thread's next write goes to the wire: after the last check for
        a stop, so a write refused as NotSent never calls it (the audit log's `sent` line)."""
        return self._for_this_thread("before_wire", hook)

    @contextmanager
    def _for_this_thread(self, name: str, value: object) -> Iterator[None]:
        setattr(self._local, name, value)
        try:
            yield
        finally:
            setattr(self._local, name, None)

    def _interruptible_sleep(self, seconds: float) -> None:
        if getattr(self._local, "uninterruptible", None):
            time.sleep(seconds)  # finishing a unit of writes: its backoff is not cut short
        else:
            self._cancelled.wait(seconds)

    @property
    def cancelled(self) -> bool:
        """True once cancel() was called (or a 401/403 came), unless this thread is finishing."""
        return self._cancelled.is_set() and not getattr(self._local, "uninterruptible", None)

    def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        *,
        deadline: float | None = None,
        took_effect: TookEffect | None = None,
        read: AnswerReader = bodies.success_payload,
    ) -> Any:
        """The answer of one request as `read` reads it (its JSON), retried within its deadline;
        an ApiError if none. A write's `took_effect(deadline)` reads the account before it is
        sent again after a lost answer; READ_BACK_DONE when that shows it took effect."""
        deadline = self._clock() + 4 * self.timeout if deadline is None else deadline
        # A new request for each attempt: doctor's hooks tell attempts apart by their request.
        new_request = partial(self._http.build_request, method, path, params=params, json=body)
        ambiguous = False
        last: RetryableFailure | None = None  # the last attempt that went out, if any
        try:
            for attempt in self._retrying(deadline):
                with attempt:
                    if ambiguous and took_effect is not None and took_effect(deadline):
                        log.info("%s %s: the earlier attempt took effect", method, path)
                        return READ_BACK_DONE
                    try:
                        return self._attempt(new_request, path, deadline, read)
                    except RetryableFailure as failure:
                        ambiguous, last = ambiguous or failure.ambiguous, failure
                        raise
        except NotSent:
            if last is None or method == "GET":
                raise  # nothing went out, or nothing a read sent can have changed
            # A write stopped before a retry or before the read-back of one that went out:
            # never "not sent", which would say the account is as it was.
        except RetryableFailure as final:
            last = final
            checkable = not self.cancelled and self._clock() + self.timeout <= deadline
            if ambiguous and took_effect is not None and checkable:
                if took_effect(deadline):
                    return READ_BACK_DONE
                ambiguous = False  # read back: it did not take effect
        assert last is not None, "tenacity either returns or raises"
        why = "interrupted before a retry" if self.cancelled else "gave up after retries"
        why += "; it may have taken effect" if ambiguous else ""
        error = last.error
        message = f"{error.api_message} ({why})"
        raise ApiError(message, status=error.status, code=error.code, method=method, path=path)

    def _retrying(self, deadline: float) -> tenacity.Retrying:
        """The retry policy of one request: attempts, deadline, cancel, Retry-After or backoff."""

        def stop(state: tenacity.RetryCallState) -> bool:
            # Also when the wait plus one more attempt could end past the deadline.
            late = self._clock() + state.upcoming_sleep + self.timeout > deadline
            return state.attempt_number >= self.attempts or late or self.cancelled

        def before_sleep(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            self.stats.add(retries=1, held=(self._clock(), state.upcoming_sleep))
            # The error already names the method and path.
            log.info("%s; retry %s in %.1fs", error, state.attempt_number, state.upcoming_sleep)

        return tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(RetryableFailure),
            stop=stop,
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Seconds before the next attempt: what Retry-After asked for, else full-jitter backoff."""
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, RetryableFailure) and error.error.retry_after is not None:
            return error.error.retry_after
        jitter = tenacity.wait_random_exponential(multiplier=self.backoff, max=BACKOFF_CAP)
        return float(jitter(state))

    def _attempt(
        self,
        new_request: Callable[[], httpx.Request],
        path: str,
        deadline: float,
        read: AnswerReader,
    ) -> Any:
        """One attempt, sent once pacing and (for a write) the write limit let it go."""
        request = new_request()
        method = request.method
        with self._lock:  # the 429 pause, then the rate cap
            now = self._clock()
            paused = max(0.0, self._pause_until - now)
            if paused and now + paused + self.timeout > deadline:
                message = f"rate limited: the API asked to wait {paused:.0f}s, longer than this "
                raise ApiError(message + "request may take", status=429, method=method, path=path)
            start = max(now + paused, self._next_start)
            if self.max_rps is not None:
                self._next_start = start + 1.0 / self.max_rps
        if start > now:
            self._sleep(start - now)
        self.stats.add(held=(now, start - now))
        if paused:
            log.info("%s %s: held %.1fs by a 429 Retry-After", method, path, paused)
        with nullcontext() if method == "GET" else self.write_limit.slot() as ticket:
            # Checked after every wait: a signal may have come while this write waited its turn.
            self._refuse_if_cancelled(method, path)
            hook = getattr(self._local, "before_wire", None)
            if ticket is not None and hook is not None:
                self._local.before_wire = None  # once per write, whatever retries follow
                hook()
            return self._send(method, path, request, ticket, deadline, read)

    def _refuse_if_cancelled(self, method: str, path: str) -> None:
        if self.cancelled:
            raise NotSent(self._stop_reason or INTERRUPTED, method=method, path=path)

    def _send(
        self,
        method: str,
        path: str,
        request: httpx.Request,
        ticket: WriteTicket | None,
        deadline: float,
        read: AnswerReader,
    ) -> Any:
        """Send one attempt (a write holds `ticket`); its answer as `read` reads it, or the
        failure the attempt stands for, to retry or not."""
        started = time.perf_counter()
        try:
            streamed = self._http.send(request, stream=True)
            try:
                answer = self._bodies.read(streamed, lambda: self._clock() > deadline)
            except (bodies.BodyRefused, httpx.DecodingError) as refused:
                if isinstance(refused, httpx.DecodingError):  # not the encoding it claims
                    why = f"its answer could not be decoded ({one_line(str(refused))})"
                else:
                    why = str(refused) or (
                        f"the request's deadline ({4 * self.timeout:g}s, 4 x --timeout) passed "
                        "while its answer was still arriving; stopped reading it"
                    )
                why += "; the write may have taken effect" if ticket is not None else ""
                raise ApiError(why, method=method, path=path) from None
            finally:
                streamed.close()
        except httpx.TransportError as error:
            # A write whose connection was never made cannot have taken effect.
            connected = not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
            log.debug("%s %s -> %s", method, path, type(error).__name__)
            raise RetryableFailure(
                ApiError(self._no_answer(error), method=method, path=path),
                ambiguous=ticket is not None and connected,
            ) from None
        raw_path = request.url.raw_path.decode("ascii", "replace")
        elapsed = (time.perf_counter() - started) * 1000
        log.debug("%s %s -> %s (%.0f ms)", method, raw_path, answer.status_code, elapsed)
        try:
            if 200 <= answer.status_code < 300:
                payload = read(answer, method, path)
                if ticket is not None:
                    ticket.outcome = "ok"
                return payload
            raise self._failure(answer, method, path, ticket)
        finally:
            self._bodies.give_back(answer.content)

    def _failure(
        self, answer: bodies.ReadAnswer, method: str, path: str, ticket: WriteTicket | None
    ) -> Exception:
        """The failure an answer that is not a success stands for: to retry, or not."""
        failure = bodies.error_from_response(answer, method, path)
        status = answer.status_code
        if status == 429:
            # Slows the writes and pauses every request; the write was refused, not applied.
            self.stats.add(rate_limited=1)
            if ticket is not None:
                ticket.outcome = "rate_limited"
            if failure.retry_after:
                with self._lock:  # every request waits it out, not only this one
                    self._pause_until = max(self._pause_until, self._clock() + failure.retry_after)
        if status in TRANSIENT_STATUSES:
            # After a 5xx a write may have been applied all the same.
            return RetryableFailure(failure, ambiguous=ticket is not None and status != 429)
        if isinstance(failure, AuthError):
            # The key is wrong or lacks rights: nothing else this run sends can succeed, and
            # writes already waiting or retrying in other threads must not go out.
            with self._lock:
                self._auth_failure = self._auth_failure or failure
            self.cancel(AUTH_STOPPED)
        return failure

    def _no_answer(self, error: httpx.TransportError) -> str:
        """Why a request got no answer; a failed connection names the host and port it tried."""
        if not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            return f"no usable answer ({type(error).__name__})"
        url = httpx.URL(self.base_url)
        host = f"[{url.host}]" if ":" in url.host else url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        # "[Errno 111] Connection refused" -> "connection refused"
        reason = " ".join(re.sub(r"^\[Errno -?\d+\]\s*", "", str(error)).split())[:200]
        if not reason:
            reason = "timed out" if isinstance(error, httpx.ConnectTimeout) else "failed"
        return f"cannot connect to {host}:{port}: {reason[0].lower()}{reason[1:]}"
