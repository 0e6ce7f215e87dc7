"""Where an instance's code lives: ``(tenant, workflow, code hash) -> bundle directory``.

The bundle directory is mounted read-only at ``/code``. Entry convention:
``/code/main.py`` defines ``run(event, step)``. The tenants package provides
the real resolver (content-addressed bundles); :class:`DirectoryCodeResolver`
serves tests, examples and single-machine setups.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from tenantflow.engine.errors import CodeNotFound

ENTRY_MODULE = "main"
ENTRY_FUNCTION = "run"
_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


class CodeResolver(Protocol):
    """Finds the bundle directory of one pinned code version."""

    async def resolve(self, tenant_id: str, workflow: str, code_hash: str) -> Path:
        """The directory to mount at ``/code``; raises :class:`CodeNotFound`."""


def safe_name(value: str) -> str:
    """``value`` if it is a safe directory name, else a stable hash of it."""
    if _SAFE.match(value) and value not in (".", ".."):
        return value
    return "h-" + hashlib.sha256(value.encode()).hexdigest()[:32]


def hash_files(files: Mapping[str, str | bytes]) -> str:
    """The content hash of a bundle given as ``{relative path: content}``."""
    digest = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        raw = data.encode() if isinstance(data, str) else data
        digest.update(name.encode() + b"\0" + str(len(raw)).encode() + b"\0" + raw)
    return digest.hexdigest()


class DirectoryCodeResolver:
    """Bundles stored as ``root/<tenant>/<workflow>/<code_hash>/``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, tenant_id: str, workflow: str, code_hash: str) -> Path:
        """Where a bundle lives (whether or not it exists)."""
        return self.root / safe_name(tenant_id) / safe_name(workflow) / safe_name(code_hash)

    async def resolve(self, tenant_id: str, workflow: str, code_hash: str) -> Path:
        """The bundle directory; raises :class:`CodeNotFound` if it is missing."""
        path = self.path(tenant_id, workflow, code_hash)
        if not (path / f"{ENTRY_MODULE}.py").is_file():
            raise CodeNotFound(f"no code {code_hash} for workflow {workflow!r} of {tenant_id!r}")
        return path

    def publish(self, tenant_id: str, workflow: str, files: str | Mapping[str, str | bytes]) -> str:
        """Store a bundle (``main.py`` source, or files) and return its content hash."""
        bundle = {f"{ENTRY_MODULE}.py": files} if isinstance(files, str) else dict(files)
        code_hash = hash_files(bundle)
        target = self.path(tenant_id, workflow, code_hash)
        if not target.exists():
            staging = target.with_name(f".{code_hash}.{os.getpid()}")
            for name, data in bundle.items():
                path = staging / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data.encode() if isinstance(data, str) else data)
            try:
                staging.rename(target)
            except OSError:
                if not target.exists():
                    raise
        return code_hash
