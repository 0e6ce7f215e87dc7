"""``tenantflow serve``: the API plus an embedded worker, on SQLite unless told otherwise."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from tenantflow.api.app import Hook, create_app
from tenantflow.api.execution import start_execution, stop_execution
from tenantflow.api.services import Services
from tenantflow.config import Settings, get_settings
from tenantflow.db.session import migrate_sync

log = logging.getLogger(__name__)


def engine_hooks(settings: Settings, *, embedded_worker: bool) -> tuple[Hook, Hook]:
    """Startup/shutdown hooks that attach the engine (and a worker) to the services."""

    async def startup(svc: Services) -> None:
        await start_execution(svc, embedded_worker=embedded_worker)

    async def shutdown(svc: Services) -> None:
        await stop_execution(svc)

    return startup, shutdown


def build_app(
    settings: Settings, *, embedded_worker: bool = True, log_level: str = "info"
) -> uvicorn.Config:
    """A uvicorn config for the API (with the engine, and a worker unless told not to)."""
    startup, shutdown = engine_hooks(settings, embedded_worker=embedded_worker)
    app = create_app(settings, on_startup=startup, on_shutdown=shutdown)
    return uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
    )


def serve(settings: Settings, *, embedded_worker: bool = True, migrate: bool = True) -> None:
    """Run the API (and a worker) until interrupted."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if migrate:
        migrate_sync(settings.resolved_database_url)
    uvicorn.Server(build_app(settings, embedded_worker=embedded_worker)).run()


def settings_with(args: argparse.Namespace, base: Settings | None = None) -> Settings:
    """Settings with the command line's overrides applied."""
    settings = base or get_settings()
    changes: dict[str, object] = {}
    for name in ("database_url", "host", "port", "data_dir"):
        value = getattr(args, name, None)
        if value is None or value == "":
            continue
        key = {"host": "api_host", "port": "api_port"}.get(name, name)
        changes[key] = Path(value) if name == "data_dir" else value
    return settings.model_copy(update=changes) if changes else settings


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the API and an embedded worker until Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = settings_with(args)
    if not settings.admin_api_key:
        print(
            "note: TENANTFLOW_ADMIN_API_KEY is not set, so the admin API (and creating "
            "tenants) is disabled",
            file=sys.stderr,
        )
    serve(settings, embedded_worker=not args.no_worker, migrate=not args.no_migrate)
    return 0


@contextmanager
def background(settings: Settings, *, embedded_worker: bool = True) -> Iterator[str]:
    """Serve from a thread of this process until the block ends; yields the base URL.

    Binds ``settings.api_host``/``api_port`` (port 0: any free port).
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate_sync(settings.resolved_database_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.api_host, settings.api_port))
    host, port = sock.getsockname()[:2]
    config = build_app(settings, embedded_worker=embedded_worker, log_level="warning")
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)

    thread = threading.Thread(target=run, name="tenantflow-api", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not start: {failure or 'timeout'}")
            time.sleep(0.02)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()
