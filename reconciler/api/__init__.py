"""The Bland API client: the only package that speaks HTTP.

`BlandClient` reads the live account (personas, numbers, v2 agents) and makes attach/detach
writes; every request it sends goes through one layer of timeouts, retries, a deadline and
pacing (`transport`).
"""

from reconciler.api.client import BlandClient
from reconciler.api.pacing import AdaptiveWriteLimit
from reconciler.api.sizes import DEFAULT_MAX_RESPONSE_BYTES, parse_size
from reconciler.api.transport import DEFAULT_TIMEOUT, ClientStats
from reconciler.api.urls import DEFAULT_BASE_URL, check_base_url
from reconciler.api.v2 import AGENT_LIST_LIMIT
from reconciler.model import AgentListing

__all__ = [
    "AGENT_LIST_LIMIT",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "AdaptiveWriteLimit",
    "AgentListing",
    "BlandClient",
    "ClientStats",
    "check_base_url",
    "parse_size",
]
