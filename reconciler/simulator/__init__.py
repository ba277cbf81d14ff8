"""A local simulator of the Bland AI persona, inbound-number and v2 agent API over real HTTP,
for tests, benchmarks and demos. It imports nothing else from the ``reconciler`` package, so it
cannot share the client's assumptions."""

from .account import StateError as StateError
from .account import load_state as load_state
from .api import Reply as Reply
from .api import json_reply as json_reply
from .cli import simulator_command as simulator_command
from .faults import Faults as Faults
from .server import RequestRecord as RequestRecord
from .server import Simulator as Simulator
