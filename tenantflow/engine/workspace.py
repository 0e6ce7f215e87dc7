"""Instance workspaces on disk, and lending them to a sandbox run.

An instance's files live in ``data_dir/workspaces/<tenant>/<instance>``. One
sandbox run serves several instances of the same tenant and code one after
the other, so it mounts a run directory (``<tenant>/.runs/<uuid>``) at
``/workspace`` and each instance's directory is renamed into it while that
instance runs (``/workspace/<instance>`` is its working directory), then
renamed back. A worker that dies leaves the directory inside its run
directory; :meth:`Workspaces.lend` finds it there.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from tenantflow.engine.resolver import safe_name


class Workspaces:
    """The workspace tree under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, tenant_id: str, instance_id: str) -> Path:
        """Where an instance's workspace rests between runs."""
        return self.root / safe_name(tenant_id) / instance_id

    def new_run_dir(self, tenant_id: str) -> Path:
        """A fresh (not yet existing) path for a run's ``/workspace``."""
        return self.root / safe_name(tenant_id) / ".runs" / uuid.uuid4().hex

    # The hot paths below use plain strings: pathlib interns every path component, and
    # a worker sees an endless stream of instance ids.

    def lend(self, tenant_id: str, instance_id: str, run_dir: Path) -> None:
        """Move the instance's workspace into ``run_dir`` (creating it if new)."""
        tenant_dir = os.path.join(self.root, safe_name(tenant_id))
        home = os.path.join(tenant_dir, instance_id)
        target = os.path.join(run_dir, instance_id)
        # A run that just hibernated this instance may be moving the directory home right
        # now: look again if the directory moved under us.
        for _ in range(3):
            source = home if os.path.exists(home) else _stranded(tenant_dir, instance_id)
            if source is None:
                break
            try:
                os.rename(source, target)
                return
            except FileNotFoundError:
                continue
        os.makedirs(target, exist_ok=True)

    def give_back(self, tenant_id: str, instance_id: str, run_dir: Path) -> None:
        """Move the instance's workspace home from ``run_dir`` (unless another run took it)."""
        tenant_dir = os.path.join(self.root, safe_name(tenant_id))
        os.makedirs(tenant_dir, exist_ok=True)
        try:
            os.rename(os.path.join(run_dir, instance_id), os.path.join(tenant_dir, instance_id))
        except FileNotFoundError:
            pass

    def discard_run_dir(self, run_dir: Path) -> None:
        """Remove a run directory if every instance directory left it (else keep it)."""
        try:
            run_dir.rmdir()
        except OSError:
            pass


def _stranded(tenant_dir: str, instance_id: str) -> str | None:
    """The directory a dead run left behind in ``<tenant>/.runs/<run>/<instance>``."""
    runs = os.path.join(tenant_dir, ".runs")
    try:
        entries = os.listdir(runs)
    except FileNotFoundError:
        return None
    for entry in entries:
        candidate = os.path.join(runs, entry, instance_id)
        if os.path.isdir(candidate):
            return candidate
    return None
