"""What one run may consume, and which limit stopped it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from tenantflow.config import Settings


class LimitHit(StrEnum):
    """The limit that ended a run."""

    DEADLINE = "deadline"
    FUEL = "fuel"
    MEMORY = "memory"
    OUTPUT = "output"
    QUOTA = "quota"
    OPEN_FILES = "open_files"


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-run limits. ``None`` for fuel means no instruction budget.

    ``memory_bytes`` caps the guest's linear memory; ``workspace_bytes`` caps
    the size of ``/workspace`` (sampled while running and checked at the end).
    """

    wall_seconds: float = 30.0
    fuel: int | None = None
    memory_bytes: int = 256 * 1024 * 1024
    stdout_bytes: int = 1024 * 1024
    stderr_bytes: int = 1024 * 1024
    open_files: int = 256
    workspace_bytes: int | None = 100 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """The operator's default limits."""
        return cls(
            wall_seconds=settings.run_wall_seconds,
            memory_bytes=settings.run_memory_bytes,
            stdout_bytes=settings.run_stdout_bytes,
            stderr_bytes=settings.run_stderr_bytes,
            open_files=settings.run_open_files,
            workspace_bytes=settings.workspace_quota_bytes or None,
        )

    def with_(self, **changes: Any) -> Limits:
        """A copy with some limits changed."""
        return replace(self, **changes)
