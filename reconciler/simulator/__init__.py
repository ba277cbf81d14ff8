"""A local, in-process or standalone simulator of the Bland AI persona/inbound-number API.

It plays the server side of the wire for tests, benchmarks and demos, and deliberately imports
nothing else from the ``reconciler`` package so it cannot share the client's assumptions.
"""

from .cli import simulator_command
from .fault_values import ListingMove
from .faults import Faults
from .requestlog import RequestRecord
from .server import Simulator
from .state_file import StateError, load_state

__all__ = [
    "Faults",
    "ListingMove",
    "RequestRecord",
    "Simulator",
    "StateError",
    "load_state",
    "simulator_command",
]
