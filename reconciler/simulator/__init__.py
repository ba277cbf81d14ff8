"""A local simulator of the Bland AI persona, inbound-number and v2 agent API over real HTTP.

It plays the server side of the wire for tests, benchmarks and demos, and imports nothing else
from the ``reconciler`` package so it cannot share the client's assumptions.
"""

from .account import StateError, load_state
from .cli import simulator_command
from .faults import Faults
from .httpd import Reply, json_reply
from .server import RequestRecord, Simulator

__all__ = [
    "Faults",
    "Reply",
    "RequestRecord",
    "Simulator",
    "StateError",
    "json_reply",
    "load_state",
    "simulator_command",
]
