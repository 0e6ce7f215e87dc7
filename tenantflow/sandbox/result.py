"""The outcome of one sandbox run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tenantflow.sandbox.limits import LimitHit


@dataclass(frozen=True, slots=True)
class GuestError:
    """An exception raised in the guest, or the reason the host ended it."""

    type: str
    message: str
    traceback: str = ""


@dataclass(slots=True)
class RunResult:
    """What a run produced. ``limit`` names the limit that stopped it, if any."""

    ok: bool
    value: Any = None
    error: GuestError | None = None
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    duration_s: float = 0.0
    fuel_used: int | None = None
    limit: LimitHit | None = None
    warm: bool = False
    handler_calls: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
