"""A local simulator of the Bland AI persona, inbound-number and v2 agent API over real HTTP,
for tests, benchmarks and demos. It imports nothing else from the ``reconciler`` package, so it
cannot share the client's assumptions."""

from .cli import simulator_command as simulator_command
from .server import RequestRecord as RequestRecord
from .server import Simulator as Simulator
