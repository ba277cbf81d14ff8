"""The Bland API client: the only package that speaks HTTP.

`BlandClient` reads the live account (personas, numbers, v2 agents) and makes its writes; every
request goes through one layer of timeouts, retries, a deadline and pacing (`transport`).
"""

from reconciler.api.bodies import DEFAULT_MAX_RESPONSE_BYTES as DEFAULT_MAX_RESPONSE_BYTES
from reconciler.api.bodies import parse_size as parse_size
from reconciler.api.client import BlandClient as BlandClient
from reconciler.api.transport import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from reconciler.api.urls import DEFAULT_BASE_URL as DEFAULT_BASE_URL
from reconciler.api.urls import check_base_url as check_base_url
