"""Workflow versions: upload (checked, validated in the sandbox, content-addressed), list, resolve.

Versions are immutable. Uploading bytes a workflow already has is a no-op
that returns the existing version; otherwise the version number grows by one
and "latest" moves to it.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantflow.config import Settings
from tenantflow.db.models.tenants import Bundle, Workflow, WorkflowVersion
from tenantflow.sandbox import Sandbox
from tenantflow.tenants._singleflight import SingleFlight
from tenantflow.tenants.accounts import TenantStore
from tenantflow.tenants.bundles import detect_kind, sha256_hex
from tenantflow.tenants.errors import InvalidBundleError, NotFoundError
from tenantflow.tenants.loader import CodeLoader
from tenantflow.tenants.validate import validate_bundle

WORKFLOW_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Upload:
    """The outcome of an upload: the version, and whether it is new."""

    version: WorkflowVersion
    created: bool


def check_name(name: str) -> str:
    """A workflow name: letters, digits, ``_ . -``, at most 100 characters."""
    if not WORKFLOW_NAME.match(name):
        raise InvalidBundleError(
            "workflow names are 1-100 letters, digits, '_', '.' or '-', starting with a "
            "letter or digit"
        )
    return name


class WorkflowStore:
    """A tenant's workflows and their versions."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        tenants: TenantStore,
        loader: CodeLoader,
        sandbox: Sandbox,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.tenants = tenants
        self.loader = loader
        self.sandbox = sandbox
        self.latest_cache_seconds = settings.api_key_cache_seconds
        self._pins: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._flight: SingleFlight[tuple[str, str, str], str] = SingleFlight()

    async def upload(self, tenant_id: str, name: str, data: bytes) -> Upload:
        """Store ``data`` as a new version of ``name`` unless it is already one."""
        check_name(name)
        quotas = await self.tenants.quotas(tenant_id)
        quotas.check_bundle_size(len(data))
        if not data:
            raise InvalidBundleError("the bundle is empty")
        sha = sha256_hex(data)
        existing = await self._find(tenant_id, name, sha)
        if existing is not None:
            return Upload(existing, created=False)
        kind = detect_kind(data)
        cache = self.loader.cache
        async with cache.lock(sha):
            code_dir = await asyncio.to_thread(cache.put, sha, data, kind)
            try:
                await validate_bundle(self.sandbox, code_dir, self.settings.bundle_validate_seconds)
            except InvalidBundleError:
                shutil.rmtree(cache.entry(sha), ignore_errors=True)
                raise
        for _attempt in range(5):
            try:
                return await self._insert(tenant_id, name, sha, kind, data)
            except IntegrityError:
                # A concurrent upload took the version number (or stored the same bytes).
                existing = await self._find(tenant_id, name, sha)
                if existing is not None:
                    return Upload(existing, created=False)
        raise InvalidBundleError("too many concurrent uploads of this workflow; try again")

    async def _find(self, tenant_id: str, name: str, sha: str) -> WorkflowVersion | None:
        async with self.sessions() as session:
            result: WorkflowVersion | None = await session.scalar(
                select(WorkflowVersion).where(
                    WorkflowVersion.tenant_id == tenant_id,
                    WorkflowVersion.workflow == name,
                    WorkflowVersion.sha256 == sha,
                )
            )
            return result

    async def _insert(self, tenant_id: str, name: str, sha: str, kind: str, data: bytes) -> Upload:
        now = datetime.now(UTC)
        async with self.sessions() as session, session.begin():
            if await session.get(Bundle, sha) is None:
                session.add(
                    Bundle(sha256=sha, kind=kind, size=len(data), content=data, created_at=now)
                )
                await session.flush()
            workflow = await session.get(Workflow, (tenant_id, name))
            number = 1 if workflow is None else workflow.latest_version + 1
            if workflow is None:
                workflow = Workflow(
                    tenant_id=tenant_id,
                    name=name,
                    latest_sha256=sha,
                    latest_version=number,
                    created_at=now,
                    updated_at=now,
                )
                session.add(workflow)
            else:
                workflow.latest_sha256 = sha
                workflow.latest_version = number
                workflow.updated_at = now
            version = WorkflowVersion(
                tenant_id=tenant_id,
                workflow=name,
                version=number,
                sha256=sha,
                size=len(data),
                kind=kind,
                created_at=now,
            )
            session.add(version)
        self._pins.pop((tenant_id, name, "latest"), None)
        return Upload(version, created=True)

    async def all(self, tenant_id: str) -> list[Workflow]:
        """The tenant's workflows by name."""
        async with self.sessions() as session:
            rows = await session.scalars(
                select(Workflow).where(Workflow.tenant_id == tenant_id).order_by(Workflow.name)
            )
            return list(rows)

    async def get(self, tenant_id: str, name: str) -> Workflow:
        """One workflow of the tenant."""
        async with self.sessions() as session:
            row = await session.get(Workflow, (tenant_id, name))
        if row is None:
            raise NotFoundError(f"no workflow {name!r}")
        return row

    async def versions(self, tenant_id: str, name: str) -> list[WorkflowVersion]:
        """Every version of a workflow, newest first."""
        await self.get(tenant_id, name)
        async with self.sessions() as session:
            rows = await session.scalars(
                select(WorkflowVersion)
                .where(WorkflowVersion.tenant_id == tenant_id, WorkflowVersion.workflow == name)
                .order_by(WorkflowVersion.version.desc())
            )
            return list(rows)

    async def pin(self, tenant_id: str, name: str, ref: str = "latest") -> str:
        """The SHA-256 an instance created now with ``ref`` pins (cached: the hot path).

        Numbered and hashed versions never change; "latest" is re-read after
        ``latest_cache_seconds`` (at once in this process after an upload).
        """
        key = (tenant_id, name, ref)
        hit = self._pins.get(key)
        now = time.monotonic()
        if hit is not None and (ref != "latest" or hit[1] > now):
            return hit[0]
        return await self._flight.do(key, lambda: self._load_pin(key))

    async def _load_pin(self, key: tuple[str, str, str]) -> str:
        sha = (await self.version(*key)).sha256
        if len(self._pins) > 100_000:
            self._pins.clear()
        self._pins[key] = (sha, time.monotonic() + self.latest_cache_seconds)
        return sha

    async def version(self, tenant_id: str, name: str, ref: str = "latest") -> WorkflowVersion:
        """Resolve ``ref``: ``latest``, a version number, or a full SHA-256."""
        query = select(WorkflowVersion).where(
            WorkflowVersion.tenant_id == tenant_id, WorkflowVersion.workflow == name
        )
        if ref == "latest":
            workflow = await self.get(tenant_id, name)
            query = query.where(WorkflowVersion.version == workflow.latest_version)
        elif ref.isdigit():
            query = query.where(WorkflowVersion.version == int(ref))
        elif SHA256.match(ref):
            query = query.where(WorkflowVersion.sha256 == ref)
        else:
            raise NotFoundError(f"no version {ref!r} of workflow {name!r}")
        async with self.sessions() as session:
            row = await session.scalar(query)
        if row is None:
            raise NotFoundError(f"no version {ref!r} of workflow {name!r}")
        return row
