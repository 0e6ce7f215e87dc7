"""The ``tenantflow`` command.

Each subcommand is one function ``(args) -> int`` plus one entry in
:data:`COMMANDS` that adds its arguments; add a subcommand by writing both.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from tenantflow.config import Settings, get_settings

Runner = Callable[[argparse.Namespace], int]
Configure = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True, slots=True)
class Command:
    """One subcommand: its help line, its arguments, its function."""

    help: str
    configure: Configure
    run: Runner


def settings_from(args: argparse.Namespace) -> Settings:
    """The process settings with ``--database-url``/``--data-dir`` applied."""
    settings = get_settings()
    changes: dict[str, object] = {}
    if getattr(args, "database_url", None):
        changes["database_url"] = args.database_url
    if getattr(args, "data_dir", None):
        changes["data_dir"] = Path(args.data_dir)
    return settings.model_copy(update=changes) if changes else settings


def _database_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="SQLAlchemy async URL (default: settings)")
    parser.add_argument("--data-dir", help="root of state on disk (default: settings)")


# -- migrate ---------------------------------------------------------------------


def _configure_migrate(parser: argparse.ArgumentParser) -> None:
    _database_args(parser)
    parser.add_argument("--revision", default="head", help="target revision (default: head)")


def cmd_migrate(args: argparse.Namespace) -> int:
    """Upgrade the database to the latest schema."""
    from tenantflow.db.session import migrate_sync

    settings = settings_from(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate_sync(settings.resolved_database_url, args.revision)
    print(f"migrated {settings.resolved_database_url.split('@')[-1]} to {args.revision}")
    return 0


# -- worker ----------------------------------------------------------------------


def _configure_worker(parser: argparse.ArgumentParser) -> None:
    _database_args(parser)
    parser.add_argument(
        "--code-dir",
        help="serve bundles from a directory <tenant>/<workflow>/<hash>/ instead of the "
        "tenants' bundle store",
    )
    parser.add_argument("--worker-id", help="lease owner name (default: host:pid:random)")


def _bundle_resolver(settings: Settings, backend: Any) -> Any:
    """The tenants' bundle loader as the engine's ``CodeResolver`` (missing code is final)."""
    from tenantflow.db.session import session_factory
    from tenantflow.engine import CodeNotFound
    from tenantflow.tenants.errors import NotFoundError
    from tenantflow.tenants.loader import CodeLoader

    loader = CodeLoader(settings, session_factory(backend.engine))

    class BundleResolver:
        async def resolve(self, tenant_id: str, workflow: str, code_hash: str) -> Path:
            try:
                return await loader.resolve(tenant_id, workflow, code_hash)
            except NotFoundError as exc:
                raise CodeNotFound(str(exc)) from exc

    return BundleResolver()


async def _serve_worker(settings: Settings, args: argparse.Namespace) -> None:
    from tenantflow.engine import DirectoryCodeResolver, LocalBackend
    from tenantflow.engine.resolver import CodeResolver
    from tenantflow.sandbox import Sandbox
    from tenantflow.workers import Worker

    backend = await LocalBackend.open(settings.resolved_database_url)
    resolver: CodeResolver
    if args.code_dir:
        resolver = DirectoryCodeResolver(Path(args.code_dir))
    else:
        resolver = _bundle_resolver(settings, backend)
    from tenantflow.db.session import session_factory as _sessions
    from tenantflow.egress.store import EgressService

    # Guest fetch through the egress proxy, under the tenants' stored policies and secrets.
    egress = EgressService(settings, _sessions(backend.engine))
    try:
        async with Sandbox(settings) as sandbox:
            run_sandbox = sandbox
            if not args.code_dir:
                from tenantflow.tenants import TenantStore
                from tenantflow.tenants.enforcement import QuotaSandbox

                # Tenants' quotas apply to runs: live sandboxes, workspace, steps, step time.
                tenants = TenantStore(_sessions(backend.engine), settings)
                run_sandbox = cast(Sandbox, QuotaSandbox(sandbox, tenants))
            worker = Worker(
                settings,
                backend,
                run_sandbox,
                resolver,
                worker_id=args.worker_id,
                extra_handlers=egress.run_handlers,
            )
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, worker.request_shutdown)
            print(f"worker {worker.id} ready", flush=True)
            await worker.run()
    finally:
        await egress.aclose()
        await backend.close()


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a worker until SIGTERM/SIGINT (then finish or release in-flight work)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(_serve_worker(settings_from(args), args))
    return 0


COMMANDS: dict[str, Command] = {
    "migrate": Command("upgrade the database schema", _configure_migrate, cmd_migrate),
    "worker": Command("run a workflow worker", _configure_worker, cmd_worker),
}


def _api_commands() -> dict[str, Command]:
    # The API, demo and tenant commands (tenantflow/api, tenantflow/client).
    from tenantflow.api.commands import cmd_demo, cmd_serve, configure_demo, configure_serve
    from tenantflow.client.cli import TENANT_COMMANDS

    commands = {
        "serve": Command("run the API with an embedded worker", configure_serve, cmd_serve),
        "demo": Command("run the embedded demo (make run)", configure_demo, cmd_demo),
    }
    for name, (help_text, configure, run) in TENANT_COMMANDS.items():
        commands[name] = Command(help_text, configure, run)
    return commands


COMMANDS.update(_api_commands())


def _secrets_command() -> Command:
    # Tenant secrets over the API (set reads stdin), and the operator's key rotation.
    from tenantflow.egress.store import cli as secrets_cli

    return Command(
        "set/list/delete secrets (set reads the value from stdin); operator: rotate-key",
        secrets_cli.configure,
        secrets_cli.run,
    )


COMMANDS["secrets"] = _secrets_command()


def cmd_config(args: argparse.Namespace) -> int:
    """Print every setting (environment variable, default, meaning) as Markdown."""
    from tenantflow.settings_doc import settings_markdown

    sys.stdout.write(settings_markdown())
    return 0


COMMANDS["config"] = Command("list every setting and its default", lambda _p: None, cmd_config)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="tenantflow")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        child = sub.add_parser(name, help=command.help, description=command.help)
        command.configure(child)
        child.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tenantflow`` command."""
    args = build_parser().parse_args(argv)
    result: int = args._run(args)
    return result


def run() -> None:
    """Console entry point: run the command, then exit without interpreter finalization.

    wasmtime's threads can call back into Python while CPython finalizes, which aborts
    the process (SIGABRT). Once the command has finished its work, stop every guest,
    flush logs and streams, and leave with the command's exit code.
    """
    code = main()
    from tenantflow.sandbox.sandbox import stop_guests

    stop_guests()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
