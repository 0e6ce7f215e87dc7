"""Workflow bundles: one ``.py`` file or a zip of pure-Python code, checked and unpacked safely.

Nothing here trusts the upload: sizes come from counting bytes as they are
written (a zip's headers may lie), member names are checked for traversal,
symlinks and native code are refused, and source must be UTF-8.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tenantflow.tenants.errors import InvalidBundleError

ENTRY_MODULE = "main"
"""The module of a bundle the engine calls: ``main.run(event, step)``."""
ENTRY_FILE = f"{ENTRY_MODULE}.py"
ENTRY = f"{ENTRY_MODULE}:run"

NATIVE_SUFFIXES = (".so", ".pyd", ".dll", ".dylib", ".exe", ".wasm")
SKIPPED_PARTS = ("__pycache__",)
# Below this size a high compression ratio is normal (a file of spaces); above it, a bomb.
RATIO_FLOOR_BYTES = 256 * 1024
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class BundleLimits:
    """What one zip may hold once unpacked."""

    max_files: int
    max_unpacked_bytes: int
    max_ratio: int


def sha256_hex(data: bytes) -> str:
    """The content address of a bundle."""
    return hashlib.sha256(data).hexdigest()


def detect_kind(data: bytes) -> str:
    """``"zip"`` for a zip archive, otherwise ``"py"`` (a single source file)."""
    return "zip" if data[:4] in (b"PK\x03\x04", b"PK\x05\x06") else "py"


def check_source(data: bytes, name: str) -> str:
    """Decode Python source as UTF-8, refusing anything else with the offending offset."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidBundleError(
            f"{name} is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}"
        ) from None
    if "\x00" in text:
        raise InvalidBundleError(f"{name} contains a NUL byte; Python source cannot")
    return text


def _safe_name(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The member's relative path, or None for a directory entry or skipped file."""
    raw = info.filename
    if not info.flag_bits & 0x800 and not raw.isascii():
        # Without the UTF-8 flag the name was decoded as cp437: a legacy encoding we refuse.
        raise InvalidBundleError(
            f"zip member name {raw!r} is not UTF-8 (the archive does not mark it as UTF-8)"
        )
    if "\\" in raw or "\x00" in raw or raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise InvalidBundleError(f"zip member {raw!r} has an unsafe path")
    path = PurePosixPath(raw)
    parts = [p for p in path.parts if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise InvalidBundleError(f"zip member {raw!r} escapes the bundle (path traversal)")
    if info.is_dir() or not parts:
        return None
    if stat.S_ISLNK(info.external_attr >> 16):
        raise InvalidBundleError(f"zip member {raw!r} is a symbolic link; links are refused")
    if any(p in SKIPPED_PARTS for p in parts) or raw.endswith(".pyc"):
        return None
    if raw.lower().endswith(NATIVE_SUFFIXES):
        raise InvalidBundleError(
            f"zip member {raw!r} is native code; bundles hold pure Python only"
        )
    return PurePosixPath(*parts)


def _members(
    archive: zipfile.ZipFile, limits: BundleLimits
) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    infos = archive.infolist()
    if len(infos) > limits.max_files:
        raise InvalidBundleError(
            f"zip has {len(infos)} entries; at most {limits.max_files} are allowed"
        )
    members: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
    seen: set[str] = set()
    declared = 0
    for info in infos:
        path = _safe_name(info)
        if path is None:
            continue
        key = str(path).lower()
        if key in seen:
            raise InvalidBundleError(f"zip member {info.filename!r} appears twice")
        seen.add(key)
        declared += info.file_size
        if declared > limits.max_unpacked_bytes:
            raise InvalidBundleError(
                f"zip unpacks to more than {limits.max_unpacked_bytes} bytes (zip bomb?)"
            )
        if info.file_size > RATIO_FLOOR_BYTES and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise InvalidBundleError(
                f"zip member {info.filename!r} expands "
                f"{info.file_size // max(info.compress_size, 1)}x; at most "
                f"{limits.max_ratio}x is allowed (zip bomb?)"
            )
        members.append((info, path))
    if ENTRY_FILE not in {str(p) for _, p in members}:
        raise InvalidBundleError(f"zip has no {ENTRY_FILE} at its root (the workflow's entry)")
    return members


def unpack(data: bytes, kind: str, dest: Path, limits: BundleLimits) -> None:
    """Write the bundle's files under ``dest`` (which must not exist yet)."""
    dest.mkdir(parents=True)
    if kind == "py":
        check_source(data, ENTRY_FILE)
        (dest / ENTRY_FILE).write_bytes(data)
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, UnicodeDecodeError, ValueError) as exc:
        raise InvalidBundleError(f"not a readable zip archive: {exc}") from None
    with archive:
        members = _members(archive, limits)
        written = 0
        for info, path in members:
            target = dest.joinpath(*path.parts)
            # Belt and braces: the resolved target must stay inside dest.
            if not target.resolve().is_relative_to(dest.resolve()):
                raise InvalidBundleError(f"zip member {info.filename!r} escapes the bundle")
            target.parent.mkdir(parents=True, exist_ok=True)
            body = bytearray()
            try:
                with archive.open(info) as source:
                    while chunk := source.read(_CHUNK):
                        written += len(chunk)
                        if written > limits.max_unpacked_bytes:
                            raise InvalidBundleError(
                                f"zip unpacks to more than {limits.max_unpacked_bytes} bytes "
                                "(zip bomb?)"
                            )
                        body += chunk
            except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError) as exc:
                raise InvalidBundleError(
                    f"zip member {info.filename!r} cannot be read: {exc}"
                ) from None
            if path.suffix in (".py", ".pyi"):
                check_source(bytes(body), str(path))
            with open(target, "xb") as out:
                out.write(body)


def file_hashes(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``root`` (the cache's manifest)."""
    hashes: dict[str, str] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            hashes[path.relative_to(root).as_posix()] = hashlib.sha256(
                path.read_bytes()
            ).hexdigest()
    return hashes
