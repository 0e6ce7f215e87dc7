"""Tenant CLI commands over the REST API: deploy, run, status, events, logs, instances.

Each command is ``(args) -> exit code``; :func:`add_commands` registers them on an
argparse sub-parser table. The server and key come from ``--url``/``--key`` or
``TENANTFLOW_URL``/``TENANTFLOW_API_KEY``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tenantflow.api import models as m
from tenantflow.client._progress import Progress
from tenantflow.client._sync import Client
from tenantflow.client.errors import ApiError

EXIT_OK = 0
EXIT_INSTANCE_FAILED = 1  # the instance ended errored or terminated
EXIT_USAGE = 2
EXIT_API_ERROR = 3  # the server refused (problem+json printed)
EXIT_UNREACHABLE = 4
EXIT_TIMEOUT = 5

Command = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """Bad command-line input (exit code 2)."""


def _client(args: argparse.Namespace) -> Client:
    url = args.url or os.environ.get("TENANTFLOW_URL") or "http://127.0.0.1:8000"
    key = args.key or os.environ.get("TENANTFLOW_API_KEY")
    if not key:
        raise UsageError("no API key: pass --key or set TENANTFLOW_API_KEY")
    return Client(url, key, timeout=args.timeout_http)


def _json_arg(text: str | None, what: str) -> Any:
    if text is None:
        return None
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc}") from None


def _print(model: Any) -> None:
    print(model.model_dump_json(indent=2) if hasattr(model, "model_dump_json") else model)


def bundle_bytes(path: Path) -> bytes:
    """A file's bytes, or a directory zipped (``main.py`` at its root; no caches or dotfiles)."""
    if path.is_file():
        return path.read_bytes()
    if not path.is_dir():
        raise UsageError(f"{path} is neither a file nor a directory")
    if not (path / "main.py").is_file():
        raise UsageError(f"{path} has no main.py at its root")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(path.rglob("*")):
            rel = file.relative_to(path)
            if file.is_dir() or any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
                continue
            if file.suffix == ".pyc":
                continue
            info = zipfile.ZipInfo(rel.as_posix(), date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            # Fixed timestamps: the same tree zips to the same bytes (a no-op re-deploy).
            zf.writestr(info, file.read_bytes())
    return buf.getvalue()


# -- commands -------------------------------------------------------------------------
def cmd_deploy(args: argparse.Namespace) -> int:
    """Upload a workflow version."""
    path = Path(args.file)
    name = args.name or (path.stem if path.is_file() else path.name)
    with _client(args) as tf:
        version = tf.upload_workflow(name, bundle_bytes(path))
    state = "new version" if version.created else "unchanged (same bytes)"
    print(f"{name} v{version.version} {state}  sha256 {version.sha256[:16]}...")
    return EXIT_OK


def _wait(tf: Client, instance_id: str, timeout: float) -> int:
    progress = Progress(f"instance {instance_id}")
    try:
        detail = tf.wait(
            instance_id,
            timeout=timeout,
            poll=0.25,
            on_poll=lambda d: progress.update(_describe(d)),
        )
    except TimeoutError:
        progress.done("still running; gave up waiting")
        return EXIT_TIMEOUT
    progress.done(detail.status.value)
    _print(detail)
    return EXIT_OK if detail.status.value == "complete" else EXIT_INSTANCE_FAILED


def _describe(detail: m.InstanceDetail) -> str:
    state = detail.status.value
    if detail.waiting_for:
        state += f" for event {detail.waiting_for!r}"
    if detail.steps:
        last = detail.steps[-1]
        state += f", step {last.name!r} {last.status}"
    return state


def cmd_run(args: argparse.Namespace) -> int:
    """Start an instance (optionally wait for it to end)."""
    event = _json_arg(args.event, "--event")
    with _client(args) as tf:
        instance = tf.create_instance(
            args.name, event, idempotency_key=args.idempotency_key, version=args.version
        )
        print(instance.id if not args.wait else f"started {instance.id}", flush=True)
        if args.wait:
            return _wait(tf, instance.id, args.wait_timeout)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """An instance with its step timeline."""
    with _client(args) as tf:
        if args.wait:
            return _wait(tf, args.id, args.wait_timeout)
        _print(tf.get_instance(args.id))
    return EXIT_OK


def cmd_events(args: argparse.Namespace) -> int:
    """Send an event to an instance."""
    payload = _json_arg(args.payload, "payload")
    with _client(args) as tf:
        tf.send_event(args.id, args.type, payload)
    print(f"sent {args.type!r} to {args.id}")
    return EXIT_OK


def cmd_logs(args: argparse.Namespace) -> int:
    """Guest output of an instance, per step."""
    with _client(args) as tf:
        after: int | None = None
        while True:
            page = tf.logs(args.id, after=after, limit=500)
            for line in page.items:
                step = line.step or "-"
                stream = sys.stderr if line.stream == "stderr" else sys.stdout
                stream.write(f"[{step}] {line.text}" + ("" if line.text.endswith("\n") else "\n"))
            if page.next_after is None:
                break
            after = page.next_after
    return EXIT_OK


def cmd_instances(args: argparse.Namespace) -> int:
    """List instances, newest first."""
    with _client(args) as tf:
        page = tf.list_instances(
            workflow=args.workflow, status=args.status, cursor=args.cursor, limit=args.limit
        )
    if args.json:
        _print(page)
        return EXIT_OK
    for item in page.items:
        created = f"{item.created_at:%Y-%m-%d %H:%M:%S}"
        print(f"{item.id}  {item.workflow:<20} {item.status.value:<10} {created}")
    if page.next_cursor:
        print(f"(more: --cursor {page.next_cursor})")
    return EXIT_OK


def run_command(command: Command, args: argparse.Namespace) -> int:
    """Run a command with friendly errors and exit codes."""
    try:
        return command(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ApiError as exc:
        print(f"error: {exc.detail} ({exc.status} {exc.code})", file=sys.stderr)
        guest = exc.problem.guest_error
        if guest:
            print(guest, file=sys.stderr)
        if exc.problem.quota:
            print(f"quota {exc.problem.quota} = {exc.problem.limit}", file=sys.stderr)
        for err in (exc.problem.errors or [])[:5]:
            print(f"  {'.'.join(map(str, err.get('loc', [])))}: {err.get('msg')}", file=sys.stderr)
        return EXIT_API_ERROR
    except httpx.TransportError as exc:
        print(
            f"error: cannot reach the server ({exc}); is `tenantflow serve` running?",
            file=sys.stderr,
        )
        return EXIT_UNREACHABLE
    except FileNotFoundError as exc:
        print(f"error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return EXIT_USAGE


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="API base URL (env TENANTFLOW_URL)")
    parser.add_argument("--key", help="tenant API key (env TENANTFLOW_API_KEY)")
    parser.add_argument("--timeout-http", type=float, default=60.0, help=argparse.SUPPRESS)


def _configure_deploy(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a .py file, a zip, or a directory with main.py")
    p.add_argument("--name", help="workflow name (default: file or directory name)")
    _common(p)


def _configure_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="workflow name")
    p.add_argument("--event", help="JSON event (or @file.json)")
    p.add_argument("--idempotency-key")
    p.add_argument("--version", default="latest", help="latest, a number, or a SHA-256")
    p.add_argument("--wait", action="store_true", help="wait until the instance ends")
    p.add_argument("--wait-timeout", type=float, default=300.0)
    _common(p)


def _configure_status(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", help="instance id")
    p.add_argument("--wait", action="store_true", help="wait until the instance ends")
    p.add_argument("--wait-timeout", type=float, default=300.0)
    _common(p)


def _configure_events(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", help="instance id")
    p.add_argument("type", help="event type (what wait_for_event(type=...) waits for)")
    p.add_argument("payload", nargs="?", default=None, help="JSON payload (or @file.json)")
    _common(p)


def _configure_logs(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", help="instance id")
    _common(p)


def _configure_instances(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workflow")
    p.add_argument("--status", choices=[s.value for s in m.Status])
    p.add_argument("--cursor")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    _common(p)


def _friendly(command: Command) -> Command:
    return lambda args: run_command(command, args)


TENANT_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Command]] = {
    "deploy": ("upload a workflow version", _configure_deploy, _friendly(cmd_deploy)),
    "run": ("start a workflow instance", _configure_run, _friendly(cmd_run)),
    "status": ("show an instance and its step timeline", _configure_status, _friendly(cmd_status)),
    "events": ("send an event to an instance", _configure_events, _friendly(cmd_events)),
    "logs": ("print an instance's guest output per step", _configure_logs, _friendly(cmd_logs)),
    "instances": ("list instances", _configure_instances, _friendly(cmd_instances)),
}
"""name -> (help, configure the parser, run): the CLI's table takes these as they are."""
