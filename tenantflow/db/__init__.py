"""SQLAlchemy storage: declarative base, models and the async engine factory.

SQLite (aiosqlite, WAL) is the embedded default; Postgres (asyncpg) serves
production. Schema changes go through the one alembic history in
``migrations/``.
"""

from tenantflow.db.base import Base
from tenantflow.db.session import create_engine, is_sqlite, migrate, session_factory

__all__ = ["Base", "create_engine", "is_sqlite", "migrate", "session_factory"]
