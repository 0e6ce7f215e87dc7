"""Validation of a bundle inside the real sandbox: every module compiles, ``main.run`` exists.

The check runs as guest code with the bundle mounted at ``/code``, so what
the tenant sees is exactly what the guest's CPython says.
"""

from __future__ import annotations

from pathlib import Path

from tenantflow.sandbox import Mounts, RunResult, Sandbox
from tenantflow.tenants.bundles import ENTRY_FILE, ENTRY_MODULE
from tenantflow.tenants.errors import InvalidBundleError

CHECK = """
import os
for _root, _dirs, _files in os.walk('/code'):
    _dirs.sort()
    for _name in sorted(_files):
        if _name.endswith('.py'):
            _path = os.path.join(_root, _name)
            with open(_path, 'rb') as _fh:
                _source = _fh.read()
            try:
                compile(_source, _path, 'exec', dont_inherit=True)
            except SyntaxError as _exc:
                _line = (_exc.text or '').strip()
                _where = '%s, line %s' % (_path[len('/code/'):], _exc.lineno)
                raise SyntaxError(
                    '%s (%s)%s' % (_exc.msg, _where, ': ' + _line if _line else '')
                ) from None
import ENTRY_MODULE as _entry
_run = getattr(_entry, 'run', None)
if not callable(_run):
    raise TypeError('ENTRY_FILE defines no run(event, step) function')
__result__ = True
""".replace("ENTRY_MODULE", ENTRY_MODULE).replace("ENTRY_FILE", ENTRY_FILE)


async def validate_bundle(sandbox: Sandbox, code_dir: Path, wall_seconds: float) -> None:
    """Raise :class:`InvalidBundleError` with the guest's error text if the bundle is bad."""
    result = await sandbox.run(
        CHECK,
        mounts=Mounts(code=code_dir),
        limits=sandbox.default_limits.with_(wall_seconds=wall_seconds, workspace_bytes=None),
        filename="<validate>",
    )
    if result.ok:
        return
    if result.limit is not None:
        text = f"validation stopped by the {result.limit.value} limit"
        if result.error is not None:
            text += f": {result.error.message}"
        raise InvalidBundleError(f"bundle rejected: {text}", guest_error=text)
    error = result.error
    text = f"{error.type}: {error.message}" if error else "the guest failed without an error"
    raise InvalidBundleError(f"bundle rejected: {text}", guest_error=_guest_text(result))


def _guest_text(result: RunResult) -> str:
    """The guest's traceback without the validator's own frames."""
    error = result.error
    if error is None:
        return ""
    lines = error.traceback.splitlines() if error.traceback else []
    kept: list[str] = []
    skip = False
    for line in lines:
        if line.startswith('  File "<validate>"'):
            skip = True
            continue
        if skip and line.startswith("    "):
            continue
        skip = False
        kept.append(line)
    return "\n".join(kept) or f"{error.type}: {error.message}"
