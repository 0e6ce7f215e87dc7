"""Snapshots: atomic archives with a content hash, verified restore, fork, corruption refused."""

from __future__ import annotations

import hashlib

import pytest

from tenantflow.sessions import (
    SessionManager,
    SessionNotFound,
    SessionSpec,
    SnapshotCorrupt,
    ToolSpec,
)
from tenantflow.sessions.models import BuiltinTarget
from tests.sessions.conftest import new_tenant


async def test_snapshot_then_restore(manager: SessionManager) -> None:
    tenant = new_tenant()
    info = await manager.create(tenant)
    await manager.shell(tenant, info.id, "mkdir -p d && echo v1 > d/f.txt && echo keep > k.txt")
    snap = await manager.snapshots.create(tenant, info.id, "v1")
    path = manager.snapshot_path(tenant, snap.id)
    assert snap.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (snap.files, snap.label) == (2, "v1")
    assert not list(path.parent.glob(".*.tmp"))  # written under a temporary name, then renamed
    await manager.shell(tenant, info.id, "echo v2 > d/f.txt; rm k.txt; echo new > n.txt")
    await manager.python(tenant, info.id, "x = 1")
    await manager.snapshots.restore(tenant, info.id, snap.id)
    assert not (await manager.get(tenant, info.id)).warm  # restore hibernates
    r = await manager.shell(tenant, info.id, "cat d/f.txt k.txt; ls")
    assert r.stdout == "v1\nkeep\nd\nk.txt\n", r
    assert [s.id for s in await manager.snapshots.list(tenant, info.id)] == [snap.id]


async def test_fork_is_an_independent_copy(manager: SessionManager) -> None:
    tenant = new_tenant()
    spec = SessionSpec(
        name="src", tools=(ToolSpec(name="ls", target=BuiltinTarget(name="files.list")),)
    )
    source = await manager.create(tenant, spec)
    await manager.files.write(tenant, source.id, "state.json", b'{"n": 1}')
    snap = await manager.snapshots.create(tenant, source.id)
    fork = await manager.snapshots.fork(tenant, snap.id)
    assert fork.id != source.id and fork.parent_snapshot == snap.id
    assert fork.spec == spec  # the source's settings, tools included
    assert await manager.files.read(tenant, fork.id, "state.json") == b'{"n": 1}'
    await manager.files.write(tenant, fork.id, "state.json", b'{"n": 2}')
    assert await manager.files.read(tenant, source.id, "state.json") == b'{"n": 1}'
    # Another tenant can neither fork nor restore it.
    with pytest.raises(SessionNotFound):
        await manager.snapshots.fork(new_tenant(), snap.id)


async def test_corrupted_snapshot_is_refused_and_workspace_kept(manager: SessionManager) -> None:
    tenant = new_tenant()
    info = await manager.create(tenant)
    await manager.files.write(tenant, info.id, "a.txt", b"original")
    snap = await manager.snapshots.create(tenant, info.id)
    await manager.files.write(tenant, info.id, "a.txt", b"current")
    path = manager.snapshot_path(tenant, snap.id)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotCorrupt, match="content hash"):
        await manager.snapshots.restore(tenant, info.id, snap.id)
    assert await manager.files.read(tenant, info.id, "a.txt") == b"current"
    with pytest.raises(SnapshotCorrupt):
        await manager.snapshots.fork(tenant, snap.id)
    assert [s.id for s in await manager.list(tenant)] == [info.id]  # no half-made fork left
    path.unlink()
    with pytest.raises(SnapshotCorrupt, match="missing"):
        await manager.snapshots.restore(tenant, info.id, snap.id)


async def test_snapshots_leave_out_symlinks(manager: SessionManager) -> None:
    tenant = new_tenant()
    info = await manager.create(tenant)
    root = (await manager.open(tenant, info.id)).workspace_dir
    (root / "real.txt").write_text("r")
    (root / "link").symlink_to("/etc/passwd")
    snap = await manager.snapshots.create(tenant, info.id)
    await manager.snapshots.restore(tenant, info.id, snap.id)
    assert sorted(p.name for p in root.iterdir()) == ["real.txt"]


async def test_delete_session_deletes_its_snapshots(manager: SessionManager) -> None:
    tenant = new_tenant()
    info = await manager.create(tenant)
    snap = await manager.snapshots.create(tenant, info.id)
    path = manager.snapshot_path(tenant, snap.id)
    assert path.exists()
    await manager.delete(tenant, info.id)
    assert not path.exists()
    with pytest.raises(SessionNotFound):
        await manager.snapshots.get(tenant, snap.id)
