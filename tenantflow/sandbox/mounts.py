"""The three directories a guest can see. Nothing else of the host is visible."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Mounts:
    """Host directories behind ``/workspace`` (read-write) and ``/code`` (read-only).

    ``/lib`` (read-only: the guest package) is always mounted by the sandbox.
    """

    workspace: Path | None = None
    code: Path | None = None

    def resolved(self) -> Mounts:
        """The same mounts with absolute paths."""
        return Mounts(
            workspace=self.workspace.resolve() if self.workspace else None,
            code=self.code.resolve() if self.code else None,
        )
