"""The wire models stay pydantic only: the client imports them without the server's stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ["wasmtime", "sqlalchemy", "fastapi"]

IMPORT_EVERY_MODEL = (
    "import importlib, pkgutil, sys\n"
    "import tenantflow.api.models as models\n"
    "names = sorted(m.name for m in pkgutil.iter_modules(models.__path__))\n"
    "for name in names:\n"
    "    importlib.import_module('tenantflow.api.models.' + name)\n"
    "print(','.join(names))\n"
    f"print(','.join(m for m in {HEAVY!r} if m in sys.modules) or '-')\n"
)


def test_importing_the_models_loads_no_server_stack() -> None:
    """``tenantflow.api.models`` and each of its modules, in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_MODEL],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    imported, loaded = done.stdout.split()
    # The check covers the modules that had the problem (a listing that missed them
    # would pass vacuously).
    assert {"egress", "sessions", "specs"} <= set(imported.split(","))
    assert loaded == "-", f"importing the wire models loaded {loaded}"


def test_the_domain_packages_use_the_wire_shapes() -> None:
    """One schema: the sessions and egress packages re-export the shapes the API sends."""
    import tenantflow.egress
    import tenantflow.egress.policy
    import tenantflow.sessions
    import tenantflow.sessions.models
    from tenantflow.api.models import sessions, specs

    assert tenantflow.egress.EgressPolicyPatch is specs.EgressPolicyPatch
    assert tenantflow.egress.policy.EgressPolicyPatch is specs.EgressPolicyPatch
    for name in ("SessionLimits", "ToolSpec", "ToolCredential", "HttpTarget", "BuiltinTarget"):
        assert getattr(tenantflow.sessions, name) is getattr(specs, name)
        assert getattr(tenantflow.sessions.models, name) is getattr(specs, name)
    assert tenantflow.sessions.models.TOOL_NAME == specs.TOOL_NAME
    assert sessions.SessionCreate.model_fields["tools"].annotation == list[specs.ToolSpec]
