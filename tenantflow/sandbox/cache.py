"""On-disk cache of compiled wasm modules.

A cache file is ``MAGIC + sha256(payload) + payload``: a file whose checksum
does not match (truncated, corrupt) or that wasmtime refuses (another version
or engine config) is recompiled and replaced, never trusted blindly. Writes
are atomic (temporary file + rename), so concurrent processes never see a
half-written artifact.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from importlib.metadata import version
from pathlib import Path

import wasmtime

log = logging.getLogger(__name__)

MAGIC = b"TFWASM1\n"
_DIGEST = 32


def cache_key(wasm_sha256: str, engine_fingerprint: str) -> str:
    """Name of the cache entry for one wasm binary under one engine config."""
    material = f"{wasm_sha256}|wasmtime-{_wasmtime_version()}|{engine_fingerprint}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def _wasmtime_version() -> str:
    return version("wasmtime")


def _read_verified(path: Path) -> bytes | None:
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        return None
    header = len(MAGIC) + _DIGEST
    if len(blob) < header or not blob.startswith(MAGIC):
        log.warning("module cache %s: bad header, recompiling", path)
        return None
    payload = blob[header:]
    if hashlib.sha256(payload).digest() != blob[len(MAGIC) : header]:
        log.warning("module cache %s: checksum mismatch, recompiling", path)
        return None
    return payload


def _write_atomic(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(MAGIC + hashlib.sha256(payload).digest() + payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_module(
    engine: wasmtime.Engine, wasm: bytes, key: str, cache_dir: Path
) -> tuple[wasmtime.Module, bool]:
    """Load a compiled module from the cache or compile and store it.

    Returns the module and whether it came from the cache.
    """
    path = cache_dir / f"{key}.cwasm"
    payload = _read_verified(path)
    if payload is not None:
        try:
            return wasmtime.Module.deserialize(engine, payload), True
        except wasmtime.WasmtimeError as exc:
            log.warning("module cache %s refused by wasmtime (%s), recompiling", path, exc)
    module = wasmtime.Module(engine, wasm)
    _write_atomic(path, bytes(module.serialize()))
    return module, False
