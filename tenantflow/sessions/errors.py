"""Errors of agent sessions: one root with a stable ``code`` the API maps to problem+json."""

from __future__ import annotations


class SessionError(Exception):
    """Root of session errors. ``code`` is stable (the API's problem type)."""

    code = "session-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SessionNotFound(SessionError):
    """No such session (or snapshot) for this tenant; another tenant's is not found either."""

    code = "not-found"


class InvalidPath(SessionError):
    """A path leaves the workspace (``..``, absolute elsewhere, a symlink out) or is malformed."""

    code = "invalid-path"


class WorkspaceQuotaExceeded(SessionError):
    """A write or upload would make the workspace larger than its quota."""

    code = "workspace-quota"

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class SessionLimitReached(SessionError):
    """The tenant already has as many sessions as allowed."""

    code = "quota-exceeded"

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class InvalidArchive(SessionError):
    """An uploaded tar archive was refused (unsafe member, bad format, too large)."""

    code = "invalid-archive"


class SnapshotCorrupt(SessionError):
    """A snapshot's bytes no longer match its recorded content hash; it was not restored."""

    code = "snapshot-corrupt"


class InvalidSessionSpec(SessionError):
    """The session's tools or limits are invalid."""

    code = "validation-error"


class FileTooLarge(SessionError):
    """A single file is larger than the files API allows."""

    code = "request-too-large"
