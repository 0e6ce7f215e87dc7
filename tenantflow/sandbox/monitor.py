"""Host-side measurements of what guests hold: workspace bytes and open files.

WASI file operations go straight from wasmtime to the host file system, so
these limits are enforced by sampling (every few epoch ticks) and checked
again when a run ends; a run can overshoot the workspace quota by what it
writes between two samples, and is then stopped with the ``quota`` limit.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def tree_size(root: Path) -> int:
    """Bytes of all regular files under ``root`` (symlinks not followed)."""
    total = 0
    stack = [str(root)]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        else:
                            total += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total


def open_files_by_prefix(owners: Mapping[K, Sequence[Path]]) -> dict[K, int]:
    """Count this process's open descriptors whose target lies under each owner's paths."""
    counts = dict.fromkeys(owners, 0)
    if not owners:
        return counts
    prefixes = [(owner, str(path) + os.sep) for owner, paths in owners.items() for path in paths]
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return counts
    for fd in fds:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}") + os.sep
        except OSError:
            continue
        for owner, prefix in prefixes:
            if target.startswith(prefix):
                counts[owner] += 1
    return counts
