"""The endpoints of the Bland API the tool uses: personas, inbound numbers and v2 agents.

The persona listing ends only at an empty page (docs/commands.md, "Reading the account"); pages
are checked in page order, each one that holds personas letting more go out: which pages are
asked for depends on the account only, never on timing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property
from typing import Any, Literal, TypeVar

import httpx

from reconciler import model
from reconciler.api import bodies, urls, wire
from reconciler.api.transport import READ_BACK_DONE, Transport
from reconciler.errors import ApiError, NotSent
from reconciler.text import shown

PAGE_LIMIT = 100  # the documented maximum of `limit`
PAGE_WINDOW = 16  # pages in flight at once when their number is known from a hint
# Pages asked for ahead of the last one known to hold personas: past the end, 2 on a small
# account and up to 15 on a large one, whose listing then takes about half as many round trips.
READ_AHEAD, READ_AHEAD_SHARE = 3, 4
MAX_PAGES = 10_000  # a stop for a server that never sends an empty page

AgentAction = Literal["attach", "detach"]
_Owner = TypeVar("_Owner", model.LivePersona, model.LiveAgent)


class BlandClient(Transport):
    @cached_property
    def _pages(self) -> dict[tuple[int, bytes], list[model.LivePersona]]:
        """Each page read, by its number and its answer's digest: a listing read again (to check
        the first) decodes only the pages whose answer changed."""
        return {}

    def list_personas(self, pages_hint: int = 0) -> tuple[dict[str, model.LivePersona], int]:
        """Every persona of the account (deleted ones flagged) and the pages the listing took,
        up to its empty page: passed back as `pages_hint`, they are all asked for at once."""
        hint = min(max(pages_hint, 0), MAX_PAGES)
        pool = ThreadPoolExecutor(max_workers=PAGE_WINDOW, thread_name_prefix="page")
        asked: list[Future[list[model.LivePersona]]] = []
        seen: dict[str, int] = {}  # persona id -> the page it was on
        end: int | None = None  # the first empty page, once read
        try:
            for page in range(1, MAX_PAGES + 1):
                # Pages 1 to `full` hold personas: ask ahead of them, the hint at once.
                full = page - 1 if end is None else end - 1
                ahead = min(max(READ_AHEAD, full // READ_AHEAD_SHARE), PAGE_WINDOW)
                reach = min(max(hint, full + min(full - hint + 1, ahead)), MAX_PAGES)
                asked += [pool.submit(self._page, n) for n in range(len(asked) + 1, reach + 1)]
                if page > len(asked):
                    break
                answer = asked[page - 1]
                if end is not None and answer.exception() is not None:
                    continue  # asked for past the empty page: the list ended before it
                listed = answer.result()
                if end is not None and listed:
                    changed = "the list changed while it was read"
                    raise _refused(f"page {end} is empty but page {page} lists personas: {changed}")
                for persona in listed:  # an id seen before: refused
                    if (seen_on := seen.get(persona.id)) is not None:
                        twice = f"pages {seen_on} and {page} both list it"
                        where = f"page {page} lists it twice" if seen_on == page else twice
                        raise _refused(
                            f"persona {shown(persona.id)} is listed more than once ({where}): "
                            "the server ignores `page`, or the list changed while it was read"
                        )
                    seen[persona.id] = page
                if end is None and not listed:
                    end = page
        except ApiError as stopped:
            # A page stopped by another's 401/403, unsent or before its retry (which met it
            # first is timing): report that.
            raise (self._auth_failure or stopped) from None
        finally:
            # After an error: what has not started is not sent.
            pool.shutdown(wait=True, cancel_futures=True)
        if end is None:
            raise _refused(
                f"still personas on page {MAX_PAGES} and no empty page yet "
                "(a server that never ends the list)"
            )
        return {persona.id: persona for f in asked[: end - 1] for persona in f.result()}, end

    def _page(self, page: int) -> list[model.LivePersona]:
        def read(answer: httpx.Response, content: bytearray, method: str, path: str) -> Any:
            key = (page, hashlib.blake2b(content, digest_size=16).digest())
            if key not in self._pages:
                payload = bodies.success_payload(answer, content, method, path)
                self._pages[key] = wire.personas_from_page(payload, page)
            return self._pages[key]

        params = {"page": page, "limit": PAGE_LIMIT}
        return list(self._request("GET", urls.PERSONAS_PATH, params, read=read))

    def get_persona(self, persona_id: str, *, deadline: float | None = None) -> model.LivePersona:
        """One persona, fresh from the API (within `deadline` when a write is checking itself);
        an answer about another persona is refused: it would be the wrong picture."""
        path = urls.persona_path(persona_id)
        payload = self._request("GET", path, deadline=deadline)
        return _asked(persona_id, wire.persona_from_answer(payload, "GET", path), path)

    def list_account_numbers(self) -> frozenset[str]:
        """Every inbound number on the account that can be read, in canonical E.164."""
        return frozenset(filter(None, map(wire.canonical_number, self.list_inbound())))

    def list_inbound(self) -> dict[str, str | None]:
        """Every inbound number as the API spells it, with its persona_id, if any."""
        return wire.inbound_from_answer(self._request("GET", urls.INBOUND_PATH))

    def read_live(self, pages_hint: int = 0) -> model.Live:
        """The whole live account: all pages of personas, then the account's numbers. Read after
        the listing, GET /v1/inbound is the freshest word on who holds a number: one moved onto
        a persona whose page was read before shows there."""
        personas, pages = self.list_personas(pages_hint)
        try:
            numbers = self.list_inbound()
        except NotSent as stopped:  # by a 401/403 on a page past the end: report that
            raise (self._auth_failure or stopped) from None
        return wire.build_live(personas, pages, numbers)

    def attach(self, persona_id: str, numbers: Iterable[str]) -> None:
        """Attach numbers to a persona (a number held by another persona is reassigned)."""
        self._write("attach", persona_id, sorted(numbers))

    def detach(self, persona_id: str, numbers: Iterable[str]) -> None:
        """Detach numbers from a persona (numbers not on it are left alone by the API)."""
        self._write("detach", persona_id, sorted(numbers))

    def _write(self, action: AgentAction, persona_id: str, numbers: list[str]) -> None:
        path = urls.persona_path(persona_id, "inbound", action)
        wanted = {wire.as_read(number) for number in numbers}

        def took_effect(deadline: float) -> bool:
            now = self.get_persona(persona_id, deadline=deadline).numbers
            return wanted <= now if action == "attach" else not wanted & now

        body = {"inbound_numbers": numbers}
        payload = self._request("POST", path, body=body, took_effect=took_effect)
        if payload is not READ_BACK_DONE:
            wire.persona_from_answer(payload, "POST", path)  # refused unless it is a persona

    def list_agents(self) -> tuple[list[model.LiveAgent], bool]:
        """Every live agent (one GET /v2/agents, at most 500) and whether the list was full."""
        limit = {"limit": wire.AGENT_LIST_LIMIT}
        return wire.agents_from_list(self._request("GET", urls.AGENTS_PATH, limit))

    def get_agent(self, agent_id: str) -> model.LiveAgent | None:
        """One agent with its production pin; None when the API says there is no such agent."""
        path = urls.agent_path(agent_id)
        try:
            payload = self._request("GET", path)
        except ApiError as error:
            # The API saying there is no such agent is a 404 with a NOT_FOUND code; a 404 without
            # it (a proxy's page, a base URL without /v2) is reported as what it is.
            if error.status == 404 and f"_{error.code}".endswith("_NOT_FOUND"):
                return None
            raise
        return _asked(agent_id, wire.agent_from_answer(payload, path), path)

    def agent_twin(self, agent_id: str, *, deadline: float | None = None) -> str | None:
        """The id of the hidden persona that holds the agent's numbers; None before any attach
        (and for an agent id that does not exist: the API answers the same)."""
        path = urls.agent_path(agent_id, "inbound")
        return wire.twin_from_answer(self._request("GET", path, deadline=deadline), agent_id, path)

    def inbound_number(self, number: str, *, deadline: float | None = None) -> model.InboundRoute:
        """What answers one number (GET /v1/inbound/{number}): pathway, prompt, persona."""
        path = urls.inbound_number_path(number)
        return wire.route_from_answer(self._request("GET", path, deadline=deadline), number, path)

    def attach_to_agent(self, agent_id: str, numbers: Iterable[str]) -> None:
        """Route numbers to an agent (their old owner loses them). The answer has no documented
        shape, so success is a 2xx without errors: read the account again to see the result."""
        self._agent_write(agent_id, "attach", sorted(numbers))

    def detach_from_agent(self, agent_id: str, numbers: Iterable[str]) -> None:
        """Take numbers off an agent (others are skipped); they then have no owner at all."""
        self._agent_write(agent_id, "detach", sorted(numbers))

    def _agent_write(self, agent_id: str, action: AgentAction, numbers: list[str]) -> None:
        path = urls.agent_path(agent_id, "inbound", action)

        def took_effect(deadline: float) -> bool:
            # No endpoint lists an agent's numbers: each number's owner is read instead. One not
            # shown cannot say: the write is sent again, which does no harm (attach is
            # last-write-wins, detach skips what the agent does not hold).
            twin = self.agent_twin(agent_id, deadline=deadline)
            owners = [self.inbound_number(n, deadline=deadline).persona_id for n in numbers]
            if any(owner is model.UNREAD for owner in owners):
                return False
            if action == "attach":
                return twin is not None and all(owner == twin for owner in owners)
            return twin is None or all(owner != twin for owner in owners)

        body = {"inbound_numbers": numbers}
        payload = self._request("POST", path, body=body, took_effect=took_effect)
        if action == "detach" and payload is not READ_BACK_DONE:
            wire.detached_from_answer(payload, agent_id, path)  # refused unless it has a count

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The JSON of one GET, unparsed, for `doctor`, which looks at the shapes themselves."""
        return self._request("GET", path, params)

    def update_settings(
        self, persona_id: str, number: str, settings: model.RoutingSettings | None
    ) -> None:
        """Write a number's persona_settings on the persona it is on, whole (None clears them)."""

        def took_effect(deadline: float) -> bool:
            seen = self.get_persona(persona_id, deadline=deadline).settings_of(wire.as_read(number))
            return seen == settings  # UNREAD (not shown) equals no settings written

        segment = urls.path_segment(number, "phone number")
        path = urls.persona_path(persona_id, "inbound", segment, "settings")
        body = {"persona_settings": settings.as_dict() if settings is not None else None}
        self._request("PATCH", path, body=body, took_effect=took_effect)

    def update_label(self, number: str, label: str, persona_id: str | None) -> None:
        """Set a number's dashboard label ("" clears it). An answer lost on the way is checked
        on `persona_id`, the number's persona, if any."""

        def took_effect(deadline: float) -> bool:
            if persona_id is None:
                return False  # nothing to read it back from; setting a label again is harmless
            seen = self.get_persona(persona_id, deadline=deadline).label_of(wire.as_read(number))
            return model.same_label(seen, label)

        body = {"phoneNumber": number, "newLabel": label}
        self._request("POST", urls.LABEL_PATH, body=body, took_effect=took_effect)


def _asked(asked: str, found: _Owner, path: str) -> _Owner:
    """`found`, refused if it is not the one asked for: the wrong picture of the account."""
    if found.id != asked:
        kind = "agent" if isinstance(found, model.LiveAgent) else "persona"
        why = f"the answer is {kind} {found.id!r}, not the one asked for"
        raise ApiError(why, method="GET", path=path)
    return found


def _refused(what: str) -> ApiError:
    why = f"{what}; refusing to plan on an inconsistent list of personas"
    return ApiError(why, method="GET", path=urls.PERSONAS_PATH)
