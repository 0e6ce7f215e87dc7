"""Workspace files: confinement (paths, symlinks, tar members), quota, binary safety."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from tenantflow.sessions import (
    InvalidArchive,
    InvalidPath,
    SessionLimits,
    SessionManager,
    SessionNotFound,
    SessionSpec,
    WorkspaceQuotaExceeded,
)
from tests.sessions.conftest import new_tenant


async def _session(manager: SessionManager, **limits: int) -> tuple[str, str]:
    tenant = new_tenant()
    info = await manager.create(tenant, SessionSpec(limits=SessionLimits(**limits)))
    return tenant, info.id


def _tar(*members: tuple[tarfile.TarInfo, bytes | None], gz: bool = False) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


async def test_write_read_list_delete_binary_safe(manager: SessionManager) -> None:
    tenant, sid = await _session(manager)
    blob = bytes(range(256)) * 10
    assert await manager.files.write(tenant, sid, "/workspace/data/blob.bin", blob) == len(blob)
    await manager.files.write(tenant, sid, "notes.txt", b"a\n")
    await manager.files.write(tenant, sid, "notes.txt", b"b\n", append=True)
    assert await manager.files.read(tenant, sid, "data/blob.bin") == blob
    assert await manager.files.read(tenant, sid, "./notes.txt") == b"a\nb\n"
    entries = {e.path: (e.type, e.size) for e in await manager.files.list(tenant, sid)}
    assert entries == {
        "data": ("dir", 0),
        "data/blob.bin": ("file", 2560),
        "notes.txt": ("file", 4),
    }
    shallow = await manager.files.list(tenant, sid, recursive=False)
    assert [e.path for e in shallow] == ["data", "notes.txt"]
    # The guest sees the same bytes.
    r = await manager.python(
        tenant, sid, "open('data/blob.bin','rb').read() == bytes(range(256)) * 10"
    )
    assert r.result == "True"
    with pytest.raises(InvalidPath):
        await manager.files.delete(tenant, sid, "data")
    await manager.files.delete(tenant, sid, "data", recursive=True)
    with pytest.raises(SessionNotFound):
        await manager.files.read(tenant, sid, "data/blob.bin")


@pytest.mark.parametrize(
    "path",
    [
        "../x",
        "a/../../x",
        "/etc/passwd",
        "/workspace/../etc/passwd",
        "/workspacex/a",
        "a\x00b",
        "..",
    ],
)
async def test_paths_outside_the_workspace_are_refused(manager: SessionManager, path: str) -> None:
    tenant, sid = await _session(manager)
    with pytest.raises(InvalidPath):
        await manager.files.write(tenant, sid, path, b"x")
    with pytest.raises(InvalidPath):
        await manager.files.read(tenant, sid, path)
    with pytest.raises(InvalidPath):
        await manager.files.delete(tenant, sid, path)


async def test_symlinks_planted_in_the_workspace_are_never_followed(
    manager: SessionManager, tmp_path: Path
) -> None:
    tenant, sid = await _session(manager)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("host secret")
    root = (await manager.open(tenant, sid)).workspace_dir
    # As if guest code (or an earlier upload) made them.
    os.symlink(outside, root / "dirlink")
    os.symlink(os.path.join(outside, "secret.txt"), root / "filelink")
    for path in ("dirlink/secret.txt", "filelink"):
        with pytest.raises(InvalidPath):
            await manager.files.read(tenant, sid, path)
        with pytest.raises(InvalidPath):
            await manager.files.write(tenant, sid, path, b"overwrite")
    with pytest.raises(InvalidPath):
        await manager.files.upload_tar(tenant, sid, _tar((_file("x.txt"), b"x")), "dirlink")
    with pytest.raises(InvalidPath):
        await manager.files.list(tenant, sid, "dirlink")
    entries = {e.path: e.type for e in await manager.files.list(tenant, sid)}
    assert entries == {"dirlink": "symlink", "filelink": "symlink"}
    # Deleting a link removes the link, never its target.
    await manager.files.delete(tenant, sid, "filelink")
    await manager.files.delete(tenant, sid, "dirlink")
    assert (outside / "secret.txt").read_text() == "host secret"
    # The tar download keeps links as links (never their targets' content).
    os.symlink(os.path.join(outside, "secret.txt"), root / "again")
    data = await manager.files.download_tar(tenant, sid)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.getmember("again")
        assert member.issym()
    assert b"host secret" not in data


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ((_file("../escape.txt"), b"x"), "'..'"),
        ((_file("a/../../escape.txt"), b"x"), "'..'"),
        ((_file("/tmp/escape.txt"), b"x"), "absolute"),
        ((_link("link", "/etc/passwd"), None), "links"),
        ((_link("link", "../../x"), None), "links"),
        ((_link("hard", "/etc/passwd", tarfile.LNKTYPE), None), "links"),
        ((_link("dev", "", tarfile.CHRTYPE), None), "only files"),
    ],
)
async def test_unsafe_tar_uploads_are_refused_whole(
    manager: SessionManager, member: tuple[tarfile.TarInfo, bytes | None], reason: str
) -> None:
    tenant, sid = await _session(manager)
    data = _tar((_file("good.txt"), b"fine"), member, gz=True)
    with pytest.raises(InvalidArchive, match=reason):
        await manager.files.upload_tar(tenant, sid, data)
    # Nothing was written, not even the safe member before the bad one.
    assert await manager.files.list(tenant, sid) == []


async def test_tar_round_trip(manager: SessionManager) -> None:
    tenant, sid = await _session(manager)
    upload = _tar((_file("src/main.py"), b"print('hi')\n"), (_file("README"), b"read me"))
    assert await manager.files.upload_tar(tenant, sid, upload, "proj") == 2
    r = await manager.shell(tenant, sid, "cd proj && python src/main.py && cat README")
    assert r.stdout == "hi\nread me", r
    with tarfile.open(fileobj=io.BytesIO(await manager.files.download_tar(tenant, sid))) as tar:
        names = sorted(tar.getnames())
        assert names == ["proj", "proj/README", "proj/src", "proj/src/main.py"]
        handle = tar.extractfile("proj/README")
        assert handle is not None and handle.read() == b"read me"
    with pytest.raises(InvalidArchive):
        await manager.files.upload_tar(tenant, sid, b"not a tar at all")


async def test_workspace_quota(manager: SessionManager) -> None:
    tenant, sid = await _session(manager, workspace_bytes=64 * 1024)
    await manager.files.write(tenant, sid, "a.bin", b"x" * 40_000)
    with pytest.raises(WorkspaceQuotaExceeded):
        await manager.files.write(tenant, sid, "b.bin", b"x" * 40_000)
    # Replacing a file counts only the difference.
    await manager.files.write(tenant, sid, "a.bin", b"y" * 50_000)
    with pytest.raises(WorkspaceQuotaExceeded):
        await manager.files.upload_tar(tenant, sid, _tar((_file("big.bin"), b"z" * 30_000)))
    # Guest writes hit the same quota (the sandbox's limit).
    r = await manager.python(tenant, sid, "open('c.bin', 'wb').write(b'q' * 100_000)")
    assert not r.ok and r.limit == "quota", r
    await manager.files.delete(tenant, sid, "c.bin")
    used, quota = await manager.files.usage(tenant, sid)
    assert (used, quota) == (50_000, 64 * 1024)


async def test_archive_member_clashing_with_a_file_is_refused(manager: SessionManager) -> None:
    tenant, sid = await _session(manager)
    await manager.files.write(tenant, sid, "a", b"a file")
    with pytest.raises(InvalidArchive, match="cannot unpack"):
        await manager.files.upload_tar(tenant, sid, _tar((_file("a/b.txt"), b"x")))
    assert await manager.files.read(tenant, sid, "a") == b"a file"
