"""Wire models of agent sessions: create, exec python/shell, files, snapshots.

The tool, limit and egress patch shapes are the ones the sessions package
validates with (:mod:`tenantflow.api.models.specs`, which it re-exports), so
the API and the manager validate one schema, and this module stays pydantic only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from tenantflow.api.models.common import WireModel
from tenantflow.api.models.specs import EgressPolicyPatch, SessionLimits, ToolSpec


class SessionCreate(WireModel):
    """A new session: limits, an egress policy override, tools; or a fork of a snapshot."""

    name: str = Field("", max_length=200)
    limits: SessionLimits = Field(default_factory=SessionLimits)
    egress: EgressPolicyPatch | None = Field(
        None, description="Changes to the tenant's egress policy for this session."
    )
    tools: list[ToolSpec] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict, description="Environment of every call.")
    from_snapshot: str | None = Field(
        None,
        description="Fork: start from this snapshot's workspace. Without name, limits, egress, "
        "tools or env, the snapshot's session's settings are copied.",
    )


class ToolSummary(WireModel):
    """A declared tool as listed on a session."""

    name: str
    description: str
    parameters: dict[str, Any]
    target: dict[str, Any]


class Session(WireModel):
    """A session. ``state`` is ``warm`` while it holds an interpreter, else ``hibernated``."""

    id: str
    name: str
    state: Literal["warm", "hibernated"]
    created_at: datetime
    last_active_at: datetime
    limits: SessionLimits
    egress: EgressPolicyPatch | None
    tools: list[ToolSummary]
    env: dict[str, str]
    parent_snapshot: str | None


class SessionList(WireModel):
    """The tenant's sessions, newest first."""

    items: list[Session]


class PythonRun(WireModel):
    """Python source run in the session's persistent namespace (like a notebook cell)."""

    code: str = Field(max_length=1_000_000)
    timeout: float | None = Field(None, gt=0, description="Deadline in seconds (capped).")


class ShellRun(WireModel):
    """A bash command line run in ``/workspace`` inside the sandbox."""

    command: str = Field(max_length=200_000)
    timeout: float | None = Field(None, gt=0, description="Deadline in seconds (capped).")


class ToolCallRecord(WireModel):
    """One tool call made by the code: name, arguments, duration, outcome."""

    name: str
    arguments: Any
    duration_ms: float
    ok: bool
    error: str | None = None


class GuestFailure(WireModel):
    """The exception the code raised (or the limit that ended it)."""

    type: str
    message: str
    traceback: str = ""


class ExecResult(WireModel):
    """Outcome of a python or shell call.

    ``state_kept`` is true when the same interpreter served the previous call,
    so variables persisted; false after hibernation or a limit hit (files persist).
    """

    ok: bool
    stdout: str
    stderr: str
    result: str | None = Field(None, description="repr of the final expression (python).")
    exit_code: int | None = Field(None, description="Exit status (shell).")
    error: GuestFailure | None = None
    limit: str | None = Field(None, description="The sandbox limit that stopped the call.")
    state_kept: bool
    woke: bool = Field(description="The call woke the session from hibernation.")
    duration_ms: float
    tool_calls: list[ToolCallRecord]


class FileEntry(WireModel):
    """A workspace entry; ``path`` is relative to ``/workspace``."""

    path: str
    type: Literal["file", "dir", "symlink", "other"]
    size: int
    modified: float


class FileList(WireModel):
    """Workspace entries with sizes, and the workspace's use of its quota."""

    items: list[FileEntry]
    used_bytes: int
    quota_bytes: int


class FileWritten(WireModel):
    """A file written."""

    path: str
    size: int


class ArchiveUploaded(WireModel):
    """Files written from an uploaded archive."""

    files: int


class SnapshotCreate(WireModel):
    """Snapshot the workspace."""

    label: str = Field("", max_length=200)


class Snapshot(WireModel):
    """A snapshot: a gzip tar of the workspace and the SHA-256 of its bytes."""

    id: str
    session_id: str
    sha256: str
    size: int
    files: int
    label: str
    created_at: datetime


class SnapshotList(WireModel):
    """A session's snapshots, newest first."""

    items: list[Snapshot]


class Restore(WireModel):
    """Replace the workspace with a snapshot (the session hibernates)."""

    snapshot_id: str
