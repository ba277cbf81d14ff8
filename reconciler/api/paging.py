"""GET /v1/personas read to its end: pages without metadata, read a little ahead, checked.

The API gives no total, cursor or page count, and a server may cap `limit` or ignore `page`. So
a listing ends only at an empty page, and an id seen twice means the pages do not fit together:
the listing is refused rather than planned on. Each page that holds personas lets the next go
out, up to READ_AHEAD pages ahead, so which pages are asked for depends on the account only,
never on timing; the pages an earlier listing took (`pages_hint`) are asked for at once.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from reconciler.api.urls import PERSONAS_PATH, shown_text
from reconciler.errors import ApiError
from reconciler.model import LivePersona

READ_AHEAD = 4  # pages asked for ahead of the last one known to hold personas
MAX_PAGES = 10_000  # a stop for a server that never sends an empty page

FetchPage = Callable[[int], list[LivePersona]]


def _refused(what: str) -> ApiError:
    why = f"{what}; refusing to plan on an inconsistent list of personas"
    return ApiError(why, method="GET", path=PERSONAS_PATH)


class Listing:
    """One pass over GET /v1/personas, its pages checked in order as they come in."""

    def __init__(self, fetch: FetchPage, window: int) -> None:
        self._fetch = fetch
        self._pool = ThreadPoolExecutor(max_workers=window, thread_name_prefix="page")
        self.pages: dict[int, list[LivePersona]] = {}
        self._seen: dict[str, int] = {}  # persona id -> the page it was on
        self._hint = 0
        self.end: int | None = None  # the first empty page, once read

    def read(self, pages_hint: int = 0) -> tuple[dict[str, LivePersona], int]:
        """Every persona listed, and the pages read up to the empty one that ends the list."""
        self._hint = min(max(pages_hint, 0), MAX_PAGES)
        arrived: dict[int, Future[list[LivePersona]]] = {}
        in_flight: dict[Future[list[LivePersona]], int] = {}
        sent, reach = 0, self._reach(0)
        try:
            while True:
                while sent < reach:
                    sent += 1
                    in_flight[self._pool.submit(self._fetch, sent)] = sent
                if not in_flight:
                    break
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    arrived[in_flight.pop(future)] = future
                # Checked, and the next pages let out, in page order only: what is found and
                # which pages are asked for never depend on which answer came first.
                while len(self.pages) + 1 in arrived:
                    page = len(self.pages) + 1
                    self._add(page, arrived.pop(page))
                full = len(self.pages) if self.end is None else self.end - 1
                reach = max(reach, self._reach(full))
        finally:
            # After an error: what has not started is not sent.
            self._pool.shutdown(wait=True, cancel_futures=True)
        end = self.end
        if end is None:
            raise _refused(
                f"still personas on page {MAX_PAGES} and no empty page yet "
                "(a server that never ends the list)"
            )
        personas = {persona.id: persona for page in range(1, end) for persona in self.pages[page]}
        return personas, end

    def _reach(self, full: int) -> int:
        """The last page to ask for once pages 1 to `full` came back with personas."""
        ahead = min(full - self._hint + 1, READ_AHEAD)
        return min(max(self._hint, full + ahead), MAX_PAGES)

    def _add(self, page: int, answer: Future[list[LivePersona]]) -> None:
        """Keep the next page, refusing an id seen before or personas after an empty page.

        A page asked for past the empty one that failed is let be: the list ended before it.
        """
        if self.end is not None and answer.exception() is not None:
            self.pages[page] = []
            return
        personas = answer.result()
        if self.end is not None and personas:
            raise _refused(
                f"page {self.end} is empty but page {page} lists personas: "
                "the list changed while it was read"
            )
        for persona in personas:
            seen_on = self._seen.get(persona.id)
            if seen_on is not None:
                where = (
                    f"page {page} lists it twice"
                    if seen_on == page
                    else f"pages {seen_on} and {page} both list it"
                )
                raise _refused(
                    f"persona {shown_text(persona.id)} is listed more than once ({where}): "
                    "the server ignores `page`, or the list changed while it was read"
                )
            self._seen[persona.id] = page
        self.pages[page] = personas
        if not personas and self.end is None:
            self.end = page
