"""Wire models shared by every resource."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class WireModel(BaseModel):
    """Base of every wire model: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """An RFC 9457 problem: every error response has this shape."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="Stable URI naming the problem, e.g. /problems/not-found.")
    title: str
    status: int
    detail: str
    instance: str | None = None
    quota: str | None = Field(None, description="The quota exceeded (quota-exceeded only).")
    limit: float | None = Field(None, description="The quota's or size limit's value.")
    guest_error: str | None = Field(None, description="The sandbox's error text (invalid-bundle).")
    errors: list[dict[str, Any]] | None = Field(None, description="Schema errors (validation).")


class Health(WireModel):
    """Liveness or readiness."""

    status: str
    checks: dict[str, str] = Field(default_factory=dict)
