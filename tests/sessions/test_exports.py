"""The public surface of tenantflow.sessions and of the guest's tools, pinned."""

from __future__ import annotations

import tenantflow.guest
import tenantflow.sessions
from tenantflow.sandbox import Sandbox


def test_sessions_exports() -> None:
    assert tenantflow.sessions.__all__ == [
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
    for name in tenantflow.sessions.__all__:
        assert getattr(tenantflow.sessions, name).__doc__


def test_guest_exports_tools() -> None:
    assert {"tools", "ToolError", "ToolArgumentError"} <= set(tenantflow.guest.__all__)


async def test_using_tools_imports_nothing_slow_in_the_guest(sandbox: Sandbox) -> None:
    # typing (~50 ms) and json (~35 ms) must stay out of the guest, tools included.
    code = (
        "import sys\nfrom tenantflow.guest import tools\n"
        "try:\n    tools.search('x')\nexcept Exception:\n    pass\n"
        "__result__ = sorted({'typing', 'json', 'ast'} & set(sys.modules))"
    )
    result = await sandbox.run(code)
    assert result.ok, result.error
    assert result.value == []
