"""The local backend: SQLite (embedded default) or Postgres, through SQLAlchemy 2 async."""

from tenantflow.engine.local.store import LocalBackend

__all__ = ["LocalBackend"]
