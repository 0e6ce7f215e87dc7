"""The compiled-module cache and the runtime's integrity check."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime

from tenantflow.sandbox import RuntimeIntegrityError, Sandbox
from tenantflow.sandbox.cache import MAGIC, load_module
from tenantflow.sandbox.runtime import default_wasm_path
from tests.conftest import make_settings

TINY_WAT = '(module (func (export "answer") (result i32) i32.const 42))'


def _answer(module: wasmtime.Module, engine: wasmtime.Engine) -> int:
    store = wasmtime.Store(engine)
    instance = wasmtime.Instance(store, module, [])
    answer = instance.exports(store)["answer"]
    assert isinstance(answer, wasmtime.Func)
    value = answer(store)
    assert isinstance(value, int)
    return value


def test_cache_miss_then_hit(tmp_path: Path) -> None:
    engine = wasmtime.Engine()
    wasm = wasmtime.wat2wasm(TINY_WAT)
    module, cached = load_module(engine, wasm, "k", tmp_path)
    assert not cached
    module, cached = load_module(engine, wasm, "k", tmp_path)
    assert cached
    assert _answer(module, engine) == 42


@pytest.mark.parametrize(
    "damage",
    [
        lambda blob: blob[: len(blob) // 2],  # truncated
        lambda blob: blob[:-10] + b"x" * 10,  # corrupt payload
        lambda blob: b"not a cache file at all",  # foreign file
    ],
)
def test_damaged_cache_file_is_recompiled(tmp_path: Path, damage: object) -> None:
    engine = wasmtime.Engine()
    wasm = wasmtime.wat2wasm(TINY_WAT)
    load_module(engine, wasm, "k", tmp_path)
    path = tmp_path / "k.cwasm"
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    module, cached = load_module(engine, wasm, "k", tmp_path)
    assert not cached
    assert _answer(module, engine) == 42
    assert load_module(engine, wasm, "k", tmp_path)[1]  # repaired on disk


def test_artifact_of_another_engine_config_is_recompiled(tmp_path: Path) -> None:
    wasm = wasmtime.wat2wasm(TINY_WAT)
    other = wasmtime.Config()
    other.consume_fuel = True
    load_module(wasmtime.Engine(other), wasm, "k", tmp_path)
    # A valid checksum but compiled for a different config: wasmtime refuses it, we recompile.
    engine = wasmtime.Engine()
    module, cached = load_module(engine, wasm, "k", tmp_path)
    assert not cached
    assert _answer(module, engine) == 42
    assert (tmp_path / "k.cwasm").read_bytes().startswith(MAGIC)


def test_cache_is_reused_by_another_process(sandbox: Sandbox) -> None:
    # The session's sandbox has compiled (or loaded) CPython into the shared cache dir.
    cache_dir = sandbox.settings.resolved_module_cache_dir
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from tenantflow.config import Settings\n"
        "from tenantflow.sandbox.engine import WasmEngine\n"
        "from tenantflow.sandbox.runtime import load_runtime\n"
        "s = Settings()\n"
        "engine = WasmEngine(load_runtime(None, s.runtime_sha256), Path(sys.argv[1]), fuel=False)\n"
        "print(engine.from_cache)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(cache_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip() == "True"


def test_runtime_hash_mismatch_names_both_hashes(tmp_path: Path) -> None:
    fake = tmp_path / "python.wasm"
    fake.write_bytes(default_wasm_path().read_bytes()[:-1] + b"\x00")
    actual = hashlib.sha256(fake.read_bytes()).hexdigest()
    settings = make_settings(tmp_path / "data", runtime_wasm=fake)
    sb = Sandbox(settings)
    with pytest.raises(RuntimeIntegrityError) as caught:
        sb.engine(fuel=False)
    message = str(caught.value)
    assert settings.runtime_sha256 in message
    assert actual in message
