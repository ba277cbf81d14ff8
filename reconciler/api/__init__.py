"""The Bland API client: the only package that speaks HTTP.

`BlandClient` reads the live account (personas, numbers, v2 agents) and makes its writes; every
request goes through one layer of timeouts, retries, a deadline and pacing (`transport`).
"""

from reconciler.api.client import BlandClient as BlandClient
