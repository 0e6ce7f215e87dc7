"""Shared fixtures: real sandboxes, real databases (SQLite files and Postgres)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy.engine import make_url

from tenantflow.config import Settings
from tenantflow.sandbox import Sandbox

REPO = Path(__file__).resolve().parent.parent
# Compiled CPython survives between test runs (compiling costs ~3 s).
T = TypeVar("T")
MODULE_CACHE = Path(os.environ.get("TENANTFLOW_TEST_MODULE_CACHE", REPO / ".cache" / "modules"))


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings for a test: its own data directory, the shared module cache."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "module_cache_dir": MODULE_CACHE,
        "warm_pool_size": 1,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings rooted in this test's temporary directory."""
    return make_settings(tmp_path / "data")


@pytest.fixture(scope="session")
async def sandbox(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sandbox]:
    """One started sandbox service for the whole test session."""
    data = tmp_path_factory.mktemp("sandbox-data")
    async with Sandbox(make_settings(data)) as sb:
        yield sb


def _postgres_base_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        if os.environ.get("CI"):
            raise RuntimeError("TEST_DATABASE_URL must be set in CI: Postgres tests may not skip")
        return None
    return url


def _blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a private loop (fixtures stay sync, loop-agnostic)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _execute(dsn: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, empty Postgres database for this test session, dropped afterwards.

    Created next to ``TEST_DATABASE_URL`` so parallel runs never share tables.
    Skips only outside CI when ``TEST_DATABASE_URL`` is unset.
    """
    base = _postgres_base_url()
    if base is None:
        pytest.skip("TEST_DATABASE_URL is not set")
    name = f"tf_test_{uuid.uuid4().hex[:12]}"
    admin = _dsn(base, "postgres")
    _blocking(_execute(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        _blocking(_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that takes this runs once on a SQLite file and once on Postgres.

    The Postgres database is emptied (schema dropped and recreated) for every test.
    """
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'tf.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return _emptied(url)


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> str:
    """The session's Postgres database, emptied for this test (Postgres-only tests)."""
    return _emptied(postgres_url)


def _emptied(url: str) -> str:
    _blocking(_execute(_dsn(url), "DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    return url
