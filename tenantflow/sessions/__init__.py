"""Agent sessions: a tenant-owned workspace that persists, with a sandbox that comes and goes.

``SessionManager`` creates sessions, runs Python and shell commands in them
(notebook-like while warm), hibernates idle ones, and serves their files,
snapshots and programmatic tools.
"""

from tenantflow.sessions.errors import (
    FileTooLarge,
    InvalidArchive,
    InvalidPath,
    InvalidSessionSpec,
    SessionError,
    SessionLimitReached,
    SessionNotFound,
    SnapshotCorrupt,
    WorkspaceQuotaExceeded,
)
from tenantflow.sessions.manager import SessionManager
from tenantflow.sessions.models import (
    BuiltinTarget,
    ExecResult,
    FileEntry,
    HttpTarget,
    SessionInfo,
    SessionLimits,
    SessionSpec,
    SnapshotInfo,
    ToolCall,
    ToolCredential,
    ToolSpec,
)
from tenantflow.sessions.settings import SessionSettings

__all__ = [
    "BuiltinTarget",
    "ExecResult",
    "FileEntry",
    "FileTooLarge",
    "HttpTarget",
    "InvalidArchive",
    "InvalidPath",
    "InvalidSessionSpec",
    "SessionError",
    "SessionInfo",
    "SessionLimitReached",
    "SessionLimits",
    "SessionManager",
    "SessionNotFound",
    "SessionSettings",
    "SessionSpec",
    "SnapshotCorrupt",
    "SnapshotInfo",
    "ToolCall",
    "ToolCredential",
    "ToolSpec",
    "WorkspaceQuotaExceeded",
]
