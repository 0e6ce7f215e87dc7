"""``tenantflow secrets``: set, list and delete a tenant's secrets; rotate the master key.

``set``, ``list`` and ``delete`` act over the REST API with a tenant key
(``--url``/``--key`` or ``TENANTFLOW_URL``/``TENANTFLOW_API_KEY``). ``set`` reads
the value from stdin (or a no-echo prompt on a terminal), never from the
command line, where it would land in shell history and ``ps``.

``rotate-key`` is the operator's: it works on the database directly (settings,
``--database-url``, ``--data-dir``) and re-encrypts every tenant's secrets.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from tenantflow.config import Settings, get_settings

EXIT_OK, EXIT_USAGE, EXIT_API_ERROR, EXIT_UNREACHABLE = 0, 2, 3, 4


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tenantflow secrets``."""
    sub = parser.add_subparsers(dest="secrets_command", required=True)
    set_p = sub.add_parser("set", help="set a secret; the value is read from stdin")
    set_p.add_argument("name", help="secret name (letters, digits, '_', '.', '-')")
    # Catches a value typed after the name, so argparse never echoes it in an error.
    set_p.add_argument("stray", nargs="*", help=argparse.SUPPRESS)
    list_p = sub.add_parser("list", help="list secret names and timestamps")
    list_p.add_argument("--json", action="store_true")
    del_p = sub.add_parser("delete", help="delete a secret")
    del_p.add_argument("name")
    for p in (set_p, list_p, del_p):
        p.add_argument("--url", help="API base URL (env TENANTFLOW_URL)")
        p.add_argument("--key", help="tenant API key (env TENANTFLOW_API_KEY)")
    rot = sub.add_parser("rotate-key", help="operator: new master key, re-encrypt all secrets")
    rot.add_argument("--database-url", help="SQLAlchemy async URL (default: settings)")
    rot.add_argument("--data-dir", help="root of state on disk (default: settings)")


def run(args: argparse.Namespace) -> int:
    """Run ``tenantflow secrets <command>``."""
    if args.secrets_command == "rotate-key":
        return asyncio.run(_rotate(_settings(args)))
    url = (args.url or os.environ.get("TENANTFLOW_URL") or "http://127.0.0.1:8000").rstrip("/")
    key = args.key or os.environ.get("TENANTFLOW_API_KEY")
    if not key:
        print("error: no API key: pass --key or set TENANTFLOW_API_KEY", file=sys.stderr)
        return EXIT_USAGE
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=30, trust_env=False) as http:
            if args.secrets_command == "set":
                if args.stray:
                    print(
                        "error: secret values are read from stdin, never from the command "
                        'line (shell history, ps); try: printf %s "$VALUE" | '
                        "tenantflow secrets set NAME",
                        file=sys.stderr,
                    )
                    return EXIT_USAGE
                return _set(http, args.name)
            if args.secrets_command == "delete":
                return _answer(http.delete(f"/v1/secrets/{args.name}"), f"deleted {args.name}")
            return _list(http, json_out=args.json)
    except httpx.TransportError as exc:
        print(f"error: cannot reach {url} ({type(exc).__name__})", file=sys.stderr)
        return EXIT_UNREACHABLE


def _settings(args: argparse.Namespace) -> Settings:
    changes: dict[str, object] = {}
    if args.database_url:
        changes["database_url"] = args.database_url
    if args.data_dir:
        changes["data_dir"] = Path(args.data_dir)
    settings = get_settings()
    return settings.model_copy(update=changes) if changes else settings


def read_value() -> str:
    """The secret value: stdin (one trailing newline dropped), or a no-echo prompt on a tty."""
    if sys.stdin.isatty():
        return getpass.getpass("secret value: ")
    value = sys.stdin.read()
    if value.endswith("\n"):
        value = value[:-1]
        if value.endswith("\r"):
            value = value[:-1]
    return value


def _set(http: httpx.Client, name: str) -> int:
    value = read_value()
    if not value:
        print("error: empty secret value (pipe it on stdin)", file=sys.stderr)
        return EXIT_USAGE
    response = http.put(f"/v1/secrets/{name}", json={"value": value})
    verb = "created" if response.status_code == 201 else "updated"
    return _answer(response, f"{verb} {name}")


def _list(http: httpx.Client, *, json_out: bool) -> int:
    response = http.get("/v1/secrets")
    if response.status_code != 200:
        return _answer(response, "")
    items: list[dict[str, Any]] = response.json()["items"]
    if json_out:
        print(json.dumps(items, indent=2))
    for item in [] if json_out else items:
        print(f"{item['name']}\tupdated {item['updated_at']}")
    return EXIT_OK


def _answer(response: httpx.Response, ok: str) -> int:
    if response.is_success:
        print(ok)
        return EXIT_OK
    try:
        body = response.json()
        detail = f"{body.get('title', 'error')}: {body.get('detail', '')} ({body.get('type')})"
    except ValueError:
        detail = f"HTTP {response.status_code}"
    print(f"error: {detail}", file=sys.stderr)
    return EXIT_API_ERROR


async def _rotate(settings: Settings) -> int:
    from tenantflow.db import create_engine, session_factory
    from tenantflow.egress.store.service import EgressService

    engine = create_engine(settings.resolved_database_url)
    service = EgressService(settings, session_factory(engine))
    try:
        report = await service.rotate_master_key()
    finally:
        await service.aclose()
        await engine.dispose()
    print(json.dumps(report, indent=2))
    if service.keys.from_config:
        print(
            "done: remove the old key from TENANTFLOW_SECRETS_PREVIOUS_KEYS",
            file=sys.stderr,
        )
    return EXIT_OK
