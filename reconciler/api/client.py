"""The persona and inbound-number endpoints of the Bland API: paged reads and attach/detach writes.

The API gives no pagination metadata and no idempotency key: pages are read until one comes
back short, and a write whose answer was lost is read back before it is sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Unpack

from reconciler.api.transport import (
    LOGGER_NAME,
    RetryableFailure,
    Transport,
    TransportOptions,
    error_after_retries,
)
from reconciler.api.urls import (
    INBOUND_PATH,
    PERSONAS_PATH,
    WriteAction,
    inbound_write_path,
    persona_path,
)
from reconciler.api.wire import (
    build_live,
    inbound_from_answer,
    persona_from_answer,
    personas_from_page,
)
from reconciler.errors import ApiError, NotSent
from reconciler.model import Live, LivePersona

log = logging.getLogger(LOGGER_NAME)

PAGE_LIMIT = 100  # the documented maximum of `limit`
DEFAULT_PAGE_SIZE = 20  # what the API sends when it is given no `limit`
MAX_PAGES = 2000  # a safety stop for a server that never returns a short page
MAX_PAGE_WINDOW = 16

Pages = dict[int, list[LivePersona]]


class BlandClient(Transport):
    """A typed client for the persona and inbound-number endpoints of the Bland API."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        page_window: int = MAX_PAGE_WINDOW,
        **options: Unpack[TransportOptions],
    ) -> None:
        super().__init__(base_url, api_key, **options)
        self.page_window = max(1, page_window)

    # -- reads --------------------------------------------------------------------------

    def list_personas(self, pages_hint: int = 0) -> tuple[dict[str, LivePersona], int]:
        """Every persona of the account (deleted ones flagged) and the pages the listing spans.

        The span counts pages up to the short one that ends the listing, not pages requested
        past it by the read-ahead: it is what a later re-list needs.
        """
        pages, last_page = self._read_pages(min(pages_hint, MAX_PAGES))
        if last_page is None:
            # Planning on part of the account would show moves as plain attaches.
            raise ApiError(
                f"GET /v1/personas: still full pages after {MAX_PAGES} pages of {PAGE_LIMIT}; "
                "refusing to plan on a partial list of personas"
            )
        self._check_limit_honoured(pages, last_page)
        personas: dict[str, LivePersona] = {}
        for page in sorted(pages):
            if page > last_page:
                break
            for persona in pages[page]:
                personas.setdefault(persona.id, persona)
        return personas, last_page

    def _read_pages(self, pages_hint: int) -> tuple[Pages, int | None]:
        """The pages read, and the last one worth keeping (None if the page cap came first).

        Pages are requested until one comes back short, fetched ahead in a window that doubles
        while pages come back full. A caller that listed the account before passes the span it
        got as `pages_hint`: those pages are all requested at once, so a re-list costs no more
        requests than the listing it repeats.
        """
        pages: Pages = {}
        last_page: int | None = None
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
        return pages, last_page

    def _page(self, page: int) -> list[LivePersona]:
        payload = self._request("GET", PERSONAS_PATH, {"page": page, "limit": PAGE_LIMIT})
        return personas_from_page(payload, page)

    def _check_limit_honoured(self, pages: Pages, last: int) -> None:
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
    def _end_of_listing(pages: Pages, page: int) -> int | None:
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
        path = persona_path(persona_id)
        return persona_from_answer(self._request("GET", path, deadline=deadline), "GET", path)

    def list_account_numbers(self) -> frozenset[str]:
        """Every inbound number on the account (GET /v1/inbound, legacy shape)."""
        return frozenset(self.list_inbound())

    def list_inbound(self) -> dict[str, str | None]:
        """Every inbound number on the account, with the persona_id the API gives, if any."""
        return inbound_from_answer(self._request("GET", INBOUND_PATH))

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
        return build_live(personas, pages, numbers)

    # -- writes -------------------------------------------------------------------------

    def attach(self, persona_id: str, numbers: Iterable[str]) -> LivePersona:
        """Attach numbers to a persona (a number held by another persona is reassigned)."""
        return self._write("attach", persona_id, sorted(numbers))

    def detach(self, persona_id: str, numbers: Iterable[str]) -> LivePersona:
        """Detach numbers from a persona (numbers not on it are left alone by the API)."""
        return self._write("detach", persona_id, sorted(numbers))

    def _write(self, action: WriteAction, persona_id: str, numbers: list[str]) -> LivePersona:
        path = inbound_write_path(persona_id, action)
        wanted = set(numbers)
        deadline = self._deadline_from_now()  # one budget for the write and the reads that check it

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
                        payload = self._send_when_allowed(
                            "POST", path, None, {"inbound_numbers": numbers}, deadline
                        )
                    except RetryableFailure as failure:
                        ambiguous = ambiguous or failure.ambiguous
                        raise
                    return persona_from_answer(payload, "POST", path)
        except RetryableFailure as final:
            if ambiguous and not self.cancelled and self._clock() + self.timeout <= deadline:
                persona = took_effect()
                if persona is not None:
                    return persona
                ambiguous = False  # read back: it did not take effect
            raise error_after_retries(
                final, interrupted=self.cancelled, ambiguous=ambiguous
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")
