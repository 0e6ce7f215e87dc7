"""Import ``just_bash`` inside the guest and run its coroutines without an event loop.

just-bash imports ``aiohttp``, ``aiofiles`` and ``nest_asyncio`` at import time
(for curl and its own file systems, which the guest shell does not use). None
of them exist in the guest, so they are stubbed for the duration of the import
and removed again, so tenant code never sees a fake ``aiohttp``.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_OPTIONAL_NATIVE = {"lzma": "_lzma"}
_STUBBED = ("aiohttp", "aiohttp.abc", "aiofiles", "aiofiles.os", "nest_asyncio")


class _Unavailable:
    """Stands in for any class of a stubbed module (used as base class or annotation)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("not available in the sandbox shell")


def _stub(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__getattr__ = lambda attr: _Unavailable  # type: ignore[method-assign]
    module.apply = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    return module


def _register_bare_package() -> None:
    """Make ``just_bash`` importable without running its ``__init__``.

    The package ``__init__`` pulls in ``Bash``, curl's network layer and the
    in-memory and overlay file systems (asyncio, socket, logging, ...), about
    40% of the import time, none of which the guest shell uses.
    """
    if "just_bash" in sys.modules:
        return
    import importlib.util

    spec = importlib.util.find_spec("just_bash")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("just_bash is not installed in /lib")
    package = importlib.util.module_from_spec(spec)
    sys.modules["just_bash"] = package


def import_with_stubs(*modules: str) -> None:
    """Import just-bash ``modules`` with its network and asyncio-file deps stubbed."""
    if all(name in sys.modules for name in modules):
        return
    import importlib
    import importlib.util

    added = [name for name in _STUBBED if name not in sys.modules]
    # Stdlib modules whose C part this CPython build lacks (lzma: no _lzma in WASI).
    for module, native in _OPTIONAL_NATIVE.items():
        if module not in sys.modules and importlib.util.find_spec(native) is None:
            added.append(module)
    for name in added:
        sys.modules[name] = _stub(name)
    try:
        _register_bare_package()
        for name in modules:
            importlib.import_module(name)
    finally:
        for name in added:
            sys.modules.pop(name, None)


def import_just_bash() -> None:
    """Import the parts of just-bash the shell uses."""
    import_with_stubs("just_bash.commands", "just_bash.interpreter", "just_bash.parser")


def drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never really waits (no event loop exists in the guest).

    just-bash's coroutines only await other coroutines and our synchronous file
    system, so each ``send`` runs to completion. A bare ``yield`` (``sleep(0)``)
    is simply resumed; anything that needs a real loop fails loudly instead of
    spinning.
    """
    try:
        while True:
            awaited = coro.send(None)
            if awaited is not None:
                coro.close()
                raise RuntimeError("the sandbox shell cannot wait on asyncio futures")
    except StopIteration as stop:
        value: T = stop.value
        return value
