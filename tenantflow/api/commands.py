"""Arguments of ``tenantflow serve`` and ``tenantflow demo``: light to import.

The command functions import the server only when they run, so ``tenantflow
deploy`` and the other client commands start fast.
"""

from __future__ import annotations

import argparse


def configure_serve(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tenantflow serve``."""
    parser.add_argument("--host", help="bind address (default 127.0.0.1; TENANTFLOW_API_HOST)")
    parser.add_argument("--port", type=int, help="bind port (default 8000; TENANTFLOW_API_PORT)")
    parser.add_argument(
        "--database-url", help="SQLAlchemy async URL, e.g. postgresql+asyncpg://... (default: "
        "SQLite in the data dir)"
    )  # fmt: skip
    parser.add_argument("--data-dir", help="root of state on disk (default ./data)")
    parser.add_argument(
        "--no-worker", action="store_true", help="API only; run `tenantflow worker` elsewhere"
    )
    parser.add_argument("--no-migrate", action="store_true", help="do not upgrade the schema")


def configure_demo(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tenantflow demo``."""
    parser.add_argument("--serve", action="store_true", help="keep serving after the demo run")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data-dir", default="data", help="state directory (default ./data)")


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the API and an embedded worker until Ctrl-C."""
    from tenantflow.api.serve import cmd_serve as run

    return run(args)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the embedded demo."""
    from tenantflow.api.demo import cmd_demo as run

    return run(args)
