"""The read-only ``/lib`` directory: the guest package, byte-compiled for the guest.

``/lib/tenantflow/__init__.py`` is empty on purpose: inside the sandbox,
``import tenantflow.guest`` must not run the host package's ``__init__``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from pathlib import Path

import tenantflow.guest

GUEST_SOURCE = Path(tenantflow.guest.__file__).parent

GUEST_PACKAGES = ("just_bash",)
"""Pure-Python host packages copied to the top of ``/lib`` (the guest shell needs them)."""


def _package_dirs() -> list[tuple[str, Path]]:
    dirs: list[tuple[str, Path]] = []
    for name in GUEST_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue  # not installed: the guest feature that needs it reports the import error
        dirs.append((name, Path(next(iter(spec.submodule_search_locations)))))
    return dirs


def _fingerprint() -> str:
    digest = hashlib.sha256()
    trees = [("tenantflow/guest", GUEST_SOURCE), *_package_dirs()]
    for prefix, root in trees:
        for path in sorted(root.rglob("*.py")):
            digest.update(f"{prefix}/{path.relative_to(root)}".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_lib_dir(cache_root: Path) -> tuple[Path, bool]:
    """Lay out ``/lib`` under ``cache_root`` once per guest-code version.

    Returns the directory and whether it still needs byte-compiling (done by
    the caller inside the sandbox, because the guest is CPython 3.12).
    """
    target = cache_root / f"lib-{_fingerprint()}"
    if (target / ".complete").exists():
        return target, False
    staging = cache_root / f".lib-{os.getpid()}-{os.urandom(4).hex()}"
    guest = staging / "tenantflow" / "guest"
    shutil.copytree(GUEST_SOURCE, guest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (staging / "tenantflow" / "__init__.py").write_text("")
    for name, source in _package_dirs():
        shutil.copytree(
            source, staging / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    try:
        staging.rename(target)
    except OSError:
        # Another process laid it out first; use theirs.
        shutil.rmtree(staging, ignore_errors=True)
    return target, not (target / ".complete").exists()


def mark_compiled(lib_dir: Path) -> None:
    """Record that ``lib_dir`` holds the guest's byte code."""
    (lib_dir / ".complete").write_text("ok\n")


COMPILE_LIB = "import compileall; compileall.compile_dir('/lib', quiet=1)"
