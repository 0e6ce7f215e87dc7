"""Built-in tool targets: workspace files (same rules as the files API) and their schemas."""

from __future__ import annotations

import base64
from typing import Any

from tenantflow.sessions.workspace import Workspace

_PATH = {"type": "string", "description": "Path in /workspace (relative or absolute)."}

BUILTIN_SCHEMAS: dict[str, dict[str, Any]] = {
    "files.read": {
        "type": "object",
        "properties": {"path": _PATH, "encoding": {"enum": ["utf-8", "base64"]}},
        "required": ["path"],
        "additionalProperties": False,
    },
    "files.write": {
        "type": "object",
        "properties": {
            "path": _PATH,
            "content": {"type": "string"},
            "encoding": {"enum": ["utf-8", "base64"]},
            "append": {"type": "boolean"},
        },
        "required": ["path", "content"],
        "additionalProperties": False,
    },
    "files.list": {
        "type": "object",
        "properties": {"path": _PATH, "recursive": {"type": "boolean"}},
        "additionalProperties": False,
    },
    "files.delete": {
        "type": "object",
        "properties": {"path": _PATH, "recursive": {"type": "boolean"}},
        "required": ["path"],
        "additionalProperties": False,
    },
    "fetch": {
        "type": "object",
        "properties": {
            "url": {"type": "string"},
            "method": {"type": "string"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "body": {"type": "string"},
        },
        "required": ["url"],
        "additionalProperties": False,
    },
}


def run_file_builtin(workspace: Workspace, name: str, args: dict[str, Any]) -> Any:
    """Run a ``files.*`` built-in; raises a ``SessionError`` subclass on refusal."""
    path = str(args.get("path", ""))
    base64_encoded = args.get("encoding") == "base64"
    if name == "files.read":
        data = workspace.read(path)
        return (
            base64.b64encode(data).decode() if base64_encoded else data.decode("utf-8", "replace")
        )
    if name == "files.write":
        content = str(args["content"])
        data = base64.b64decode(content) if base64_encoded else content.encode()
        size = workspace.write(path, data, append=bool(args.get("append")))
        return {"path": path, "size": size}
    if name == "files.list":
        entries = workspace.list(path, recursive=bool(args.get("recursive", True)))
        return [{"path": e.path, "type": e.type, "size": e.size} for e in entries]
    if name == "files.delete":
        workspace.delete(path, recursive=bool(args.get("recursive")))
        return {"deleted": path}
    raise ValueError(f"unknown builtin {name!r}")
