"""One request to the API, the way every request goes: timeouts, bounded retries with
full-jitter backoff, a total deadline (4 x the timeout), Retry-After honoured for every request
and adaptive concurrency, as the API publishes no rate limit (the README's API notes). It
has no idempotency key either: a write whose answer was lost is read back before it is resent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Self

import httpx
import tenacity

from reconciler import __version__
from reconciler.api import bodies
from reconciler.api.urls import cannot_connect, check_base_url, tls_context, unproxied_mounts
from reconciler.errors import AUTH_STOPPED, INTERRUPTED, ApiError, AuthError, NotSent

log = logging.getLogger("reconciler.client")  # the name -v prints before each line it logs

DEFAULT_TIMEOUT = 30.0
BACKOFF = 0.5  # seconds: the multiplier of the full-jitter backoff
BACKOFF_CAP = 10.0  # seconds: the longest backoff between two attempts
GROW_AFTER = 5  # successful requests in a row after which one more may be in flight
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
EventHooks = Mapping[str, list[Callable[..., Any]]]
# What a write returns when reading back showed that an earlier attempt took effect.
READ_BACK_DONE = object()
AnswerReader = Callable[[httpx.Response, bytearray, str, str], Any]
Deadline = list[float]  # when a request gives up: pushed back by its waits for a turn (_attempt)


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


@dataclass(eq=False)
class RetryableFailure(Exception):
    """A failure worth retrying; `ambiguous` when a write may have taken effect anyway."""

    error: ApiError
    ambiguous: bool


class InFlight:
    """At most `limit` in flight (of a `kind`): a 429 halves it, GROW_AFTER successes add one."""

    def __init__(self, ceiling: int, kind: str) -> None:
        self.kind = kind
        self._in_flight = self._epoch = 0
        self._condition = threading.Condition()
        self.set_ceiling(ceiling)

    def set_ceiling(self, ceiling: int) -> None:
        """Start over with a new maximum (the --parallelism of the run)."""
        with self._condition:
            self.ceiling = self.limit = self.lowest = max(1, ceiling)
            self._successes = 0
            self._condition.notify_all()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the slots while a request is on the wire; how it ends adapts the limit."""
        with self._condition:
            self._condition.wait_for(lambda: self._in_flight < self.limit)
            self._in_flight += 1
            epoch = self._epoch  # which limit it was sent under
        rate_limited: bool | None = None  # None: an error that says nothing of load
        try:
            yield
            rate_limited = False
        except RetryableFailure as failure:
            rate_limited = True if failure.error.status == 429 else None
            raise
        finally:
            with self._condition:
                self._in_flight -= 1
                self._condition.notify_all()
                if rate_limited:
                    self._successes = 0
                    # Requests sent under the old limit all see the same overload: halve once.
                    if epoch == self._epoch and self.limit > 1:
                        self.limit //= 2
                        self.lowest = min(self.lowest, self.limit)
                        self._epoch += 1
                        log.info("rate limited: concurrent %s lowered to %s", self.kind, self.limit)
                elif rate_limited is False:
                    self._successes += 1
                    if self._successes >= GROW_AFTER and self.limit < self.ceiling:
                        self.limit += 1
                        self._successes = 0
                        self._epoch += 1
                        log.info("concurrent %s raised to %s", self.kind, self.limit)


class Transport:
    """Sends requests to one API base URL under the retry, deadline, pacing and stop rules."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        attempts: int = 6,
        max_rps: float | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_response_bytes: int = bodies.DEFAULT_MAX_RESPONSE_BYTES,
        event_hooks: EventHooks | None = None,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self.timeout = timeout
        self.attempts = attempts
        self.stats = ClientStats()
        self.write_limit = InFlight(4, "writes")  # until the run's --parallelism
        self.read_limit = InFlight(16, "reads")  # the most reads any step sends at once
        self._bodies = bodies.BodyBudget(max_response_bytes, timeout)
        self._cancelled = threading.Event()
        self._auth_failure: AuthError | None = None
        self._lock = threading.Lock()  # the first 401/403, and when requests may start
        self._local = threading.local()
        # By default a wait ends early on cancel(): an interrupted run does not sit out a backoff.
        self._sleep: Callable[[float], None] = sleep or self._interruptible_sleep
        self._clock = clock
        # When the next request may start: after a 429's Retry-After, and at most max_rps a second.
        self.max_rps = max_rps
        self._pause_until = self._next_start = 0.0
        self._http = httpx.Client(
            headers={
                "authorization": api_key,
                "user-agent": f"reconciler/{__version__}",
                "accept-encoding": bodies.ACCEPT_ENCODING,
            },
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
            verify=tls_context(),
            mounts=unproxied_mounts(self.base_url),
            event_hooks=event_hooks,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def cancel(self) -> None:
        """Stop retrying and waiting: requests on the wire finish, no new attempt starts."""
        self._cancelled.set()

    def uninterruptible(self) -> AbstractContextManager[None]:
        """Let this thread's requests go out even after cancel(), to finish a unit of writes: a
        number freed from its old persona must reach its new one or go back, not be left on none."""
        return self._for_this_thread("uninterruptible", True)

    def before_wire(self, hook: Callable[[], None]) -> AbstractContextManager[None]:
        """Call `hook` once, as this thread's next write goes to the wire (the audit log's `sent`
        line); a stop before or during it, or its raising, keeps the write unsent."""
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
        took_effect: Callable[[float], bool] = lambda deadline: False,
        read: AnswerReader = bodies.success_payload,
    ) -> Any:
        """The answer of one request as `read` reads it (its JSON), retried within its deadline;
        an ApiError if none. Before a write whose answer was lost is sent again,
        `took_effect(deadline)` reads the account: READ_BACK_DONE when it shows the write done."""
        end: Deadline = [self._clock() + 4 * self.timeout if deadline is None else deadline]
        # Whole, so that httpx parses it once, not once more for the params and the base URL.
        url = httpx.URL(self.base_url + path, params=params)
        ambiguous = False
        last: RetryableFailure | None = None  # the last attempt that went out, if any
        jitter = tenacity.wait_random_exponential(multiplier=BACKOFF, max=BACKOFF_CAP)

        def wait(state: tenacity.RetryCallState) -> float:  # Retry-After, else the backoff
            asked = last.error.retry_after if last is not None else None
            return float(jitter(state)) if asked is None else asked

        def stop(state: tenacity.RetryCallState) -> bool:
            # Also when the wait plus one more attempt could end past the deadline.
            late = self._clock() + state.upcoming_sleep + self.timeout > end[0]
            return state.attempt_number >= self.attempts or late or self.cancelled

        def before_sleep(state: tenacity.RetryCallState) -> None:
            self.stats.add(retries=1, held=(self._clock(), state.upcoming_sleep))
            # The error already names the method and path.
            error = last.error if last is not None else None
            log.info("%s; retry %s in %.1fs", error, state.attempt_number, state.upcoming_sleep)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(RetryableFailure),
            stop=stop,
            wait=wait,
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            try:
                for attempt in retrying:
                    with attempt:
                        if ambiguous and took_effect(end[0]):
                            log.info("%s %s: the earlier attempt took effect", method, path)
                            return READ_BACK_DONE
                        try:
                            return self._attempt(method, url, body, path, end, read)
                        except RetryableFailure as failure:
                            ambiguous, last = ambiguous or failure.ambiguous, failure
                            raise
            except RetryableFailure:
                if ambiguous and not self.cancelled and self._clock() + self.timeout <= end[0]:
                    if took_effect(end[0]):
                        return READ_BACK_DONE
                    ambiguous = False  # read back: it did not take effect
        except ApiError as error:
            # After a write went out, a stop before its retry or a failed read-back (a 429's
            # pause) leaves it unknown: said as "may have taken effect", not as "not sent".
            read_back = error.method == "GET" and not isinstance(error, AuthError)
            if last is None or method == "GET" or not (isinstance(error, NotSent) or read_back):
                raise  # nothing went out, or a read, or the write's own answer
        assert last is not None, "tenacity either returns or raises"
        why = "interrupted before a retry" if self.cancelled else "gave up after retries"
        why += "; it may have taken effect" if ambiguous else ""
        raise replace(last.error, api_message=f"{last.error.api_message} ({why})")

    def _attempt(
        self, method: str, url: httpx.URL, body: Any, path: str, end: Deadline, read: AnswerReader
    ) -> Any:
        """One attempt, sent once its turn (the limit of its kind), the 429 pause and the rate cap
        let it go; its answer as `read` reads it, or the failure it stands for. The time it waits
        for them pushes back when its request gives up (`end`): only its own time counts."""
        write = method != "GET"
        asked = self._clock()
        with (self.write_limit if write else self.read_limit).slot():
            with self._lock:
                now = self._clock()
                paused = max(0.0, self._pause_until - now)
                if paused and asked + paused + self.timeout > end[0]:
                    wait = f"the API asked to wait {paused:.0f}s, more than this request may take"
                    raise ApiError(f"rate limited: {wait}", status=429, method=method, path=path)
                start = max(now + paused, self._next_start)
                if self.max_rps is not None:
                    self._next_start = start + 1.0 / self.max_rps
            self.stats.add(held=(now, start - now))
            if start > now:
                self._sleep(start - now)
            if (more := self._pause_until - self._clock()) > 0:  # a pause set while it slept
                self._sleep(more)
            end[0] += self._clock() - asked
            if paused:
                log.info("%s %s: held %.1fs by a 429 Retry-After", method, path, paused)
            hook = getattr(self._local, "before_wire", None)
            if write and hook is not None and not self.cancelled:
                self._local.before_wire = None  # once per write, whatever retries follow
                hook()
            # Checked after every wait (its turn, its log line): a signal may have come meanwhile.
            if self.cancelled:
                why = AUTH_STOPPED if self._auth_failure else INTERRUPTED
                raise NotSent(why, method=method, path=path) from self._auth_failure
            started = time.perf_counter()
            with ExitStack() as answer:
                try:
                    # A new request for each attempt: doctor's hooks tell attempts apart by it.
                    streamed = answer.enter_context(self._http.stream(method, url, json=body))
                    held = self._bodies.hold(streamed, path, lambda: self._clock() > end[0])
                    content = answer.enter_context(held)
                except httpx.TransportError as error:
                    # A write whose connection was never made cannot have taken effect.
                    connected = not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
                    log.debug("%s %s -> %s", method, path, type(error).__name__)
                    why = f"no usable answer ({type(error).__name__})"
                    why = why if connected else cannot_connect(error, self.base_url)
                    no_answer = ApiError(why, method=method, path=path)
                    raise RetryableFailure(no_answer, ambiguous=write and connected) from None
                raw_path = streamed.request.url.raw_path.decode("ascii", "replace")
                elapsed = (time.perf_counter() - started) * 1000
                log.debug("%s %s -> %s (%.0f ms)", method, raw_path, streamed.status_code, elapsed)
                if streamed.is_success:
                    return read(streamed, content, method, path)
                failure = bodies.error_from_response(streamed, content, method, path)
            status = failure.status
            if status == 429:
                # Slows the writes (WriteLimit) and pauses every request, not only this one.
                self.stats.add(rate_limited=1)
                if failure.retry_after:
                    with self._lock:
                        until = self._clock() + failure.retry_after
                        self._pause_until = max(self._pause_until, until)
            if status in TRANSIENT_STATUSES:
                # After a 5xx a write may have been applied all the same; a 429 refused it.
                raise RetryableFailure(failure, ambiguous=write and status != 429)
            if isinstance(failure, AuthError):
                # The key is wrong or lacks rights: nothing else this run sends can succeed, and
                # writes already waiting or retrying in other threads must not go out.
                with self._lock:
                    self._auth_failure = self._auth_failure or failure
                self.cancel()
            raise failure
