"""The API tenant code imports inside the sandbox: ``from tenantflow.guest import ...``.

Everything here runs in CPython for WASI and imports nothing that exists only
on the host.
"""

from tenantflow.guest._channel import HostError, call
from tenantflow.guest.fetch import EgressDenied, EgressError, HTTPStatusError, Response, fetch
from tenantflow.guest.tools import ToolArgumentError, ToolError, tools
from tenantflow.guest.workflow import (
    EventTimeoutError,
    NonDeterminismError,
    NonRetryableError,
    Step,
    StepError,
)

__all__ = [
    "EgressDenied",
    "EgressError",
    "EventTimeoutError",
    "HTTPStatusError",
    "HostError",
    "NonDeterminismError",
    "NonRetryableError",
    "Response",
    "Step",
    "StepError",
    "ToolArgumentError",
    "ToolError",
    "call",
    "fetch",
    "tools",
]
