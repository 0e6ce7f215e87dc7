"""``tenantflow demo`` (``make run``): a server on SQLite, a demo tenant, the examples, one run.

Starts the API with an embedded worker, creates (or reuses) the tenant
``demo``, deploys every workflow in ``examples/``, runs ``order-approval``
(a retried step, a durable sleep, an approval event) to completion and prints
where to look. Exits 0, or keeps serving with ``--serve``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
from pathlib import Path

from tenantflow.api.serve import background, settings_with
from tenantflow.client import ApiError, Client
from tenantflow.client._progress import Progress
from tenantflow.client.cli import bundle_bytes
from tenantflow.config import Settings

TENANT = "demo"
MAIN_WORKFLOW = "order-approval"


def examples_dir() -> Path:
    """``examples/`` of the source tree (or of the current directory)."""
    for candidate in (Path(__file__).resolve().parents[2] / "examples", Path("examples")):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("examples/ not found; run from the repository root")


def _workflows(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(root.iterdir()):
        if path.name.startswith((".", "_")):
            continue
        if path.suffix == ".py" or (path.is_dir() and (path / "main.py").is_file()):
            found[path.stem.replace("_", "-")] = path
    return found


def _tenant_key(admin: Client) -> str:
    try:
        return admin.create_tenant("Demo tenant", tenant_id=TENANT).api_key.key
    except ApiError as exc:
        if exc.status != 409:
            raise
        # The data dir survived an earlier demo: same tenant, a fresh key.
        return admin.admin_create_key(TENANT, "demo").key


def _admin_key(settings: Settings) -> str:
    if settings.admin_api_key:
        return settings.admin_api_key
    path = settings.data_dir / "demo-admin-key"
    if path.exists():
        return path.read_text().strip()
    key = "adm_" + secrets.token_urlsafe(24)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def _say(text: str = "") -> None:
    print(text, flush=True)


def run_demo(settings: Settings, *, keep_serving: bool) -> int:
    """The demo; returns the exit code."""
    admin_key = _admin_key(settings)
    settings = settings.model_copy(update={"admin_api_key": admin_key})
    _say(f"tenantflow demo: data in {settings.data_dir.resolve()}, database "
         f"{settings.resolved_database_url.split('///')[-1]}")  # fmt: skip
    with background(settings) as url:
        _say(f"API listening on {url}")
        with Client(url, admin_key) as admin:
            key = _tenant_key(admin)
        _say(f"tenant {TENANT!r} ready")
        with Client(url, key) as tf:
            for name, path in _workflows(examples_dir()).items():
                version = tf.upload_workflow(name, bundle_bytes(path))
                state = "new" if version.created else "unchanged"
                _say(f"  deployed {name:<16} v{version.version} ({state}, {version.kind}) "
                     f"sha256 {version.sha256[:12]}")  # fmt: skip
            instance = tf.create_instance(MAIN_WORKFLOW, {"order": 42, "amount": 99.5})
            _say(f"started {MAIN_WORKFLOW} instance {instance.id}")
            progress = Progress(f"  {MAIN_WORKFLOW}")
            waiting = tf.wait(
                instance.id,
                timeout=120,
                until=lambda d: d.status.value == "waiting",
                on_poll=lambda d: progress.update(d.status.value),
            )
            progress.done(f"{waiting.status.value} for event {waiting.waiting_for!r}")
            if waiting.status.value != "waiting":
                _say(json.dumps(waiting.error, indent=2))
                return 1
            tf.send_event(instance.id, "approved", {"by": "demo operator"})
            _say("  sent event 'approved'")
            progress = Progress(f"  {MAIN_WORKFLOW}")
            done = tf.wait(
                instance.id, timeout=120, on_poll=lambda d: progress.update(d.status.value)
            )
            progress.done(done.status.value)
            _say("  timeline:")
            for step in done.steps:
                _say(f"    {step.seq}. {step.name:<14} {step.kind:<6} {step.status:<9} "
                     f"attempts={step.attempts}")  # fmt: skip
            _say(f"  output: {json.dumps(done.output)}")
            _say("  logs:")
            for line in tf.logs(instance.id).items:
                for text in line.text.splitlines():
                    _say(f"    [{line.step or '-'}] {text}")
            if done.status.value != "complete":
                return 1
        _where(url, key, admin_key, instance.id)
        if keep_serving:
            _say("serving; Ctrl-C to stop")
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                _say("stopping")
    return 0


def _where(url: str, key: str, admin_key: str, instance_id: str) -> None:
    _say()
    _say("Where to look:")
    _say(f"  API docs      {url}/docs   (OpenAPI: {url}/openapi.json)")
    _say(f"  the instance  curl -H 'Authorization: Bearer {key}' {url}/v1/instances/{instance_id}")
    _say(f"  metrics       curl -H 'Authorization: Bearer {admin_key}' {url}/metrics")
    _say("  CLI (with the server running: `tenantflow demo --serve` or `tenantflow serve`):")
    _say(f"    export TENANTFLOW_URL={url} TENANTFLOW_API_KEY={key}")
    _say("    tenantflow instances")
    _say(f"    tenantflow status {instance_id}")
    _say(f"    tenantflow logs {instance_id}")
    _say('    tenantflow run hello --event \'{"name": "Ada"}\' --wait')


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the embedded demo."""
    settings = settings_with(args)
    try:
        return run_demo(settings, keep_serving=args.serve)
    except OSError as exc:
        if args.port and "in use" in str(exc):
            print(f"port {args.port} is busy; retrying on a free port", file=sys.stderr)
            return run_demo(settings.model_copy(update={"api_port": 0}), keep_serving=args.serve)
        raise
    except (ApiError, TimeoutError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
