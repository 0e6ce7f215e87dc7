"""Retry back-off: when the next attempt of a failed step runs.

The guest sends its normalized policy (``tenantflow.guest.workflow.retry_policy``):
``limit`` retries after the first attempt, ``delay`` seconds, ``backoff``
``constant`` | ``linear`` | ``exponential``, optional ``max_delay``. Defaults
match Cloudflare Workflows: 5 retries, 10 s, exponential.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tenantflow.guest.workflow import DEFAULT_RETRIES as _GUEST_DEFAULTS

# The policy of a step that sets no ``retries`` (shared with the guest, so they never differ).
DEFAULT_RETRIES: Mapping[str, Any] = dict(_GUEST_DEFAULTS)


def next_delay(policy: Mapping[str, Any], attempt: int) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or ``None`` if attempts are exhausted.

    ``attempt`` counts from 1 (the attempt that just failed).
    """
    limit = int(policy.get("limit", 5))
    if attempt > limit:
        return None
    delay = float(policy.get("delay", 10.0))
    backoff = policy.get("backoff", "exponential")
    if backoff == "linear":
        delay *= attempt
    elif backoff == "exponential":
        delay *= 2 ** (attempt - 1)
    elif backoff != "constant":
        raise ValueError(f"unknown backoff {backoff!r}")
    max_delay = policy.get("max_delay")
    if max_delay is not None:
        delay = min(delay, float(max_delay))
    return max(delay, 0.0)
