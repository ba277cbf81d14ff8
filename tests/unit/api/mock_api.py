"""A BlandClient over httpx.MockTransport and the API's persona objects, for the api tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from reconciler.api import BlandClient

Handler = Callable[[httpx.Request], httpx.Response]


def make_client(handler: Handler, **options: Any) -> tuple[BlandClient, list[float]]:
    slept: list[float] = []
    options.setdefault("attempts", 5)
    options.setdefault("sleep", slept.append)
    client = BlandClient(
        "https://api.example.test", "secret-key", transport=httpx.MockTransport(handler), **options
    )
    return client, slept


def persona_json(index: int, numbers: list[Any] | None = None) -> dict[str, Any]:
    return {
        "id": f"p{index:05d}",
        "name": f"Persona {index}",
        "deleted_at": None,
        "inbound_numbers": numbers or [],
    }


def paged(total: int, calls: list[int], *, cap: int = 100) -> Handler:
    """GET /v1/personas over `total` personas, at most `cap` a page whatever `limit` asks."""

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "secret-key"
        page, limit = int(request.url.params["page"]), int(request.url.params["limit"])
        calls.append(page)
        limit = min(limit, cap)
        items = [persona_json(i) for i in range((page - 1) * limit, min(total, page * limit))]
        return httpx.Response(200, json={"data": items, "errors": None})

    return handler
