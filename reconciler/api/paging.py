"""GET /v1/personas read to its end: pages without metadata, read a little ahead, checked.

The API gives no total, cursor or page count, and a server may cap `limit` or ignore `page`. So
a listing ends only at an empty page, and an id seen twice means the pages do not fit together:
the listing is refused rather than planned on. Pages are checked in page order, and each one
that holds personas lets the next go out, up to READ_AHEAD pages ahead, so which pages are asked
for depends on the account only, never on timing; the pages an earlier listing took
(`pages_hint`) are asked for at once.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from reconciler.api.urls import PERSONAS_PATH, shown_text
from reconciler.errors import ApiError
from reconciler.model import LivePersona

READ_AHEAD = 4  # pages asked for ahead of the last one known to hold personas
MAX_PAGES = 10_000  # a stop for a server that never sends an empty page


def _refused(what: str) -> ApiError:
    why = f"{what}; refusing to plan on an inconsistent list of personas"
    return ApiError(why, method="GET", path=PERSONAS_PATH)


def read_pages(
    fetch: Callable[[int], list[LivePersona]], window: int, pages_hint: int = 0
) -> tuple[dict[str, LivePersona], int]:
    """Every persona listed, and the pages read up to the empty one that ends the list."""
    hint = min(max(pages_hint, 0), MAX_PAGES)
    pool = ThreadPoolExecutor(max_workers=window, thread_name_prefix="page")
    asked: list[Future[list[LivePersona]]] = []
    seen: dict[str, int] = {}  # persona id -> the page it was on
    end: int | None = None  # the first empty page, once read
    try:
        for page in range(1, MAX_PAGES + 1):
            # Pages 1 to `full` hold personas: ask up to READ_AHEAD past them (the hint at once).
            full = page - 1 if end is None else end - 1
            reach = min(max(hint, full + min(full - hint + 1, READ_AHEAD)), MAX_PAGES)
            asked += [pool.submit(fetch, number) for number in range(len(asked) + 1, reach + 1)]
            if page > len(asked):
                break
            answer = asked[page - 1]
            if end is not None and answer.exception() is not None:
                continue  # asked for past the empty page: the list ended before it
            listed = answer.result()
            _check(page, listed, seen, end)
            if end is None and not listed:
                end = page
    finally:
        # After an error: what has not started is not sent.
        pool.shutdown(wait=True, cancel_futures=True)
    if end is None:
        raise _refused(
            f"still personas on page {MAX_PAGES} and no empty page yet "
            "(a server that never ends the list)"
        )
    personas = {persona.id: persona for future in asked[: end - 1] for persona in future.result()}
    return personas, end


def _check(page: int, personas: list[LivePersona], seen: dict[str, int], end: int | None) -> None:
    """Refuse an id seen before, or personas after the empty page `end`."""
    if end is not None and personas:
        raise _refused(
            f"page {end} is empty but page {page} lists personas: "
            "the list changed while it was read"
        )
    for persona in personas:
        seen_on = seen.get(persona.id)
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
        seen[persona.id] = page
