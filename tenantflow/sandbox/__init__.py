"""WebAssembly sandbox: CPython for WASI under wasmtime, with limits, mounts,
a JSON-lines host bridge and a warm pool. Knows nothing of tenants or SQL."""

from tenantflow.sandbox.errors import (
    HandlerError,
    RuntimeIntegrityError,
    SandboxClosedError,
    SandboxError,
)
from tenantflow.sandbox.interpreter import Deferred, nonblocking
from tenantflow.sandbox.limits import LimitHit, Limits
from tenantflow.sandbox.mounts import Mounts
from tenantflow.sandbox.result import GuestError, RunResult
from tenantflow.sandbox.sandbox import RunControl, Sandbox
from tenantflow.sandbox.session import SandboxSession

__all__ = [
    "Deferred",
    "GuestError",
    "HandlerError",
    "LimitHit",
    "Limits",
    "Mounts",
    "RunControl",
    "RunResult",
    "RuntimeIntegrityError",
    "Sandbox",
    "SandboxClosedError",
    "SandboxError",
    "SandboxSession",
    "nonblocking",
]
