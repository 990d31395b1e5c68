"""metaflow_core: a fast engine for Metaflow-style flows, in Python and from R.

``from metaflow_core import FlowSpec, step, Parameter, current`` is all a flow
needs. The client (``Flow``, ``Run``, ...) is imported on first use so that a
task process pays only for what it runs.
"""

__version__ = "0.1.0"

from .current import current
from .flowspec import FlowSpec, step
from .parameters import JSONType, Parameter
from .decorators import batch, card, catch, environment, resources, retry, timeout

# ``metadata()`` stays in metaflow_core.client: the name ``metadata`` here is the
# metadata subpackage.
_CLIENT_NAMES = frozenset((
    "Metaflow", "Flow", "Run", "Step", "Task", "DataArtifact", "namespace",
    "get_namespace", "default_namespace", "get_metadata", "default_metadata",
))


def __getattr__(name):
    if name in _CLIENT_NAMES:
        from . import client

        return getattr(client, name)
    raise AttributeError("module 'metaflow_core' has no attribute '%s'" % name)
