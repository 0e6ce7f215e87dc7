"""A real ``tenantflow`` API on a free 127.0.0.1 port (uvicorn in a thread), and helpers."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tenantflow.api.serve import background
from tenantflow.config import Settings
from tests.conftest import make_settings

PROBLEM = "application/problem+json"


@dataclass
class Running:
    """A server under test."""

    url: str
    admin_key: str
    settings: Settings

    def admin(self) -> dict[str, str]:
        """Headers with the admin key."""
        return {"Authorization": f"Bearer {self.admin_key}"}


@contextmanager
def run_server(settings: Settings) -> Iterator[Running]:
    """Migrate, then serve the app (and an embedded worker) from a thread until the block ends."""
    with background(settings.model_copy(update={"api_port": 0})) as url:
        yield Running(url, settings.admin_api_key, settings)


def server_settings(data_dir: Path, database_url: str | None = None, **extra: Any) -> Settings:
    """Settings for a test server: own data dir, shared module cache, random admin key."""
    values: dict[str, Any] = {"admin_api_key": "adm_" + secrets.token_hex(16)}
    if database_url:
        values["database_url"] = database_url
    values.update(extra)
    return make_settings(data_dir, **values)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One SQLite-backed server for a whole test module."""
    with run_server(server_settings(tmp_path_factory.mktemp("api"))) as running:
        yield running


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Running]:
    """A fresh server per test, on SQLite and on Postgres."""
    with run_server(server_settings(tmp_path / "data", database_url)) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client (each request names its full URL)."""
    async with httpx.AsyncClient(timeout=60) as client:
        yield client


async def new_tenant(http: httpx.AsyncClient, srv: Running, **quotas: Any) -> tuple[str, str]:
    """Create a tenant through the admin API; returns (tenant id, its key)."""
    body: dict[str, Any] = {"name": "acme " + secrets.token_hex(3)}
    if quotas:
        body["quotas"] = quotas
    r = await http.post(f"{srv.url}/v1/admin/tenants", json=body, headers=srv.admin())
    assert r.status_code == 201, r.text
    data = r.json()
    return data["tenant"]["id"], data["api_key"]["key"]


def bearer(key: str) -> dict[str, str]:
    """Authorization header for ``key``."""
    return {"Authorization": f"Bearer {key}"}


def assert_problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is problem+json with this status and type; returns its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body: dict[str, Any] = r.json()
    assert body["type"] == f"/problems/{code}", body
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body
