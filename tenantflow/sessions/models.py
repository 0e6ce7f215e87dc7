"""What a session is made of (its spec, tools) and what its calls return."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The pydantic shapes live with the wire models (pydantic only, so the client stays
# light); they are re-exported here, where the sessions package has always had them.
from tenantflow.api.models.specs import (
    BUILTINS,
    RESERVED_TOOL_NAMES,
    TOOL_NAME,
    BuiltinTarget,
    EgressPolicyPatch,
    HttpTarget,
    SessionLimits,
    Target,
    ToolCredential,
    ToolSpec,
)

__all__ = [
    "BUILTINS",
    "RESERVED_TOOL_NAMES",
    "TOOL_NAME",
    "BuiltinTarget",
    "ExecResult",
    "FileEntry",
    "HttpTarget",
    "SessionInfo",
    "SessionLimits",
    "SessionSpec",
    "SnapshotInfo",
    "Target",
    "ToolCall",
    "ToolCredential",
    "ToolSpec",
]


class SessionSpec(BaseModel):
    """How a session was created: limits, egress override, tools, environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field("", max_length=200)
    limits: SessionLimits = Field(default_factory=SessionLimits)
    egress: EgressPolicyPatch | None = None
    tools: tuple[ToolSpec, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique_tools(self) -> SessionSpec:
        names = [t.name for t in self.tools]
        if len(names) != len(set(names)):
            raise ValueError("tool names must be unique")
        return self


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A session as stored, plus whether its sandbox is warm right now."""

    id: str
    tenant: str
    spec: SessionSpec
    created_at: datetime
    last_active_at: datetime
    warm: bool
    parent_snapshot: str | None = None


@dataclass(slots=True)
class ToolCall:
    """One tool call a guest made during a call: listed in the exec response."""

    name: str
    arguments: Any
    duration_ms: float
    ok: bool
    error: str | None = None


@dataclass(slots=True)
class ExecResult:
    """The outcome of one python or shell call in a session.

    ``state_kept`` says whether the interpreter (and so the notebook
    variables) from earlier calls served this one; after hibernation or a
    limit hit it is false: a fresh interpreter over the same files.
    """

    ok: bool
    stdout: str = ""
    stderr: str = ""
    result: str | None = None
    exit_code: int | None = None
    error: dict[str, str] | None = None
    limit: str | None = None
    state_kept: bool = False
    woke: bool = False
    duration_ms: float = 0.0
    tool_calls: list[ToolCall] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One entry of the workspace listing (paths are relative to ``/workspace``)."""

    path: str
    type: Literal["file", "dir", "symlink", "other"]
    size: int
    modified: float


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """A stored snapshot: a gzip tar of the workspace and the SHA-256 of its bytes."""

    id: str
    session_id: str
    sha256: str
    size: int
    files: int
    created_at: datetime
    label: str = ""
