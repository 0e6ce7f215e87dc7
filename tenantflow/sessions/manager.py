"""The session manager: create, find, run code in, hibernate and delete agent sessions.

A session is a tenant-owned workspace directory (under
``data_dir/sessions/<tenant>/<session>/workspace``) plus a row of metadata;
the sandbox interpreter comes and goes (:mod:`tenantflow.sessions.live`).
Every lookup is scoped by tenant: another tenant's session is not found.
Files and snapshots: ``manager.files`` and ``manager.snapshots``
(:mod:`tenantflow.sessions.operations`).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantflow.config import Settings
from tenantflow.db.models.sessions import AgentSession
from tenantflow.egress import CredentialRule, EgressContext, EgressPolicyPatch
from tenantflow.sandbox import Limits, Mounts, Sandbox
from tenantflow.sandbox.interpreter import OutputSink
from tenantflow.sessions.egress import EgressProvider, StaticEgress
from tenantflow.sessions.errors import InvalidSessionSpec, SessionLimitReached, SessionNotFound
from tenantflow.sessions.live import LiveSessions
from tenantflow.sessions.models import ExecResult, SessionInfo, SessionSpec, ToolCall
from tenantflow.sessions.operations import SessionFiles, SessionSnapshots
from tenantflow.sessions.settings import SessionSettings
from tenantflow.sessions.store import SessionStore
from tenantflow.sessions.tools import ToolBox
from tenantflow.sessions.workspace import Workspace

SHELL_CODE = (
    "from tenantflow.guest.shell import run_shell as _tf_run_shell\n"
    "__result__ = _tf_run_shell({command!r}, stream={stream!r})\n"
)


class TenantQuotas(Protocol):
    """A tenant's quotas that bound its sessions (``tenantflow.tenants.Quotas`` is one)."""

    @property
    def max_workspace_bytes(self) -> int: ...

    @property
    def max_live_sandboxes(self) -> int: ...

    @property
    def max_cpu_seconds_per_run(self) -> float: ...


class QuotaSource(Protocol):
    """Where tenant quotas come from (``tenantflow.tenants.TenantStore`` is one)."""

    async def quotas(self, tenant_id: str) -> TenantQuotas:
        """The tenant's effective quotas."""
        ...


# While a python call streams, every print leaves the guest at once (not per 8 KiB).
STREAM_ON = "import tenantflow.guest._channel as _c\n_c.stdout._LIMIT = 1\n"
STREAM_OFF = "_c.stdout.__dict__.pop('_LIMIT', None)\n"


def tenant_dir_name(tenant: str) -> str:
    """A directory name for ``tenant`` that cannot traverse (hashed unless plainly safe)."""
    if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", tenant):
        return tenant
    return "h-" + hashlib.sha256(tenant.encode()).hexdigest()[:32]


@dataclass(eq=False)
class OpenSession:
    """A session's metadata and the objects built from it, cached while the process runs."""

    tenant: str
    id: str
    spec: SessionSpec
    created_at: datetime
    last_active_at: datetime
    parent_snapshot: str | None
    root: Path
    limits: Limits
    workspace: Workspace
    toolbox: ToolBox
    max_call_seconds: float = 600.0
    max_warm: int | None = None
    calls: int = field(default=0)
    deleted: bool = False
    refreshed: float = field(default_factory=time.monotonic)

    @property
    def workspace_dir(self) -> Path:
        """The host directory mounted at ``/workspace``."""
        return self.root / "workspace"


class SessionManager:
    """Agent sessions of every tenant in this process. ``await start()``, ``await close()``."""

    def __init__(
        self,
        settings: Settings,
        db: async_sessionmaker[AsyncSession],
        sandbox: Sandbox,
        *,
        config: SessionSettings | None = None,
        egress: EgressProvider | None = None,
        quotas: QuotaSource | None = None,
    ) -> None:
        self.settings = settings
        self.config = config or SessionSettings()
        self.sandbox = sandbox
        self.store = SessionStore(db)
        self.root = (settings.data_dir / "sessions").resolve()
        self._own_egress = StaticEgress() if egress is None else None
        self.egress: EgressProvider = egress or self._own_egress  # type: ignore[assignment]
        self._quotas = quotas
        self._open: dict[str, OpenSession] = {}
        self.files = SessionFiles(self)
        self.snapshots = SessionSnapshots(self)
        self.live = LiveSessions(
            sandbox,
            self.config.idle_ttl_seconds,
            self.config.reap_interval_seconds,
            on_hibernate=self._hibernated,
            max_warm_per_tenant=self.config.max_warm_per_tenant,
            max_warm_total=self.config.max_warm_total,
        )

    async def start(self) -> SessionManager:
        """Start the sandbox (if needed) and the idle reaper."""
        await self.sandbox.start()
        self.live.start()
        return self

    async def close(self) -> None:
        """Hibernate every warm session; close the egress proxy if it is ours."""
        await self.live.close()
        if self._own_egress is not None:
            await self._own_egress.aclose()

    # -- sessions ------------------------------------------------------------------

    async def create(
        self, tenant: str, spec: SessionSpec | None = None, *, parent_snapshot: str | None = None
    ) -> SessionInfo:
        """Create a session with an empty workspace."""
        spec = spec or SessionSpec()
        if len(spec.tools) > self.config.max_tools:
            raise InvalidSessionSpec(f"at most {self.config.max_tools} tools per session")
        limit = self.config.max_sessions_per_tenant
        if await self.store.count(tenant) >= limit:
            raise SessionLimitReached(f"the tenant already has {limit} sessions", limit=limit)
        now = datetime.now(UTC)
        row = AgentSession(
            id="ses_" + secrets.token_hex(12),
            tenant_id=tenant,
            name=spec.name,
            spec=spec.model_dump_json(),
            created_at=now,
            last_active_at=now,
            parent_snapshot=parent_snapshot,
        )
        session = await self._load(row)
        session.workspace_dir.mkdir(parents=True, exist_ok=True)
        await self.store.add_session(row)
        self._open[row.id] = session
        key = self._pool_key(session)
        if key is not None:
            self.sandbox.prewarm(key, Mounts(workspace=session.workspace_dir), session.limits)
        return self._info(session)

    async def get(self, tenant: str, session_id: str) -> SessionInfo:
        """One of the tenant's sessions."""
        return self._info(await self.open(tenant, session_id))

    async def list(self, tenant: str) -> list[SessionInfo]:
        """The tenant's sessions, newest first."""
        out = []
        for row in await self.store.sessions(tenant):
            cached = self._open.get(row.id)
            if cached is not None:
                out.append(self._info(cached))
                continue
            out.append(
                SessionInfo(
                    id=row.id,
                    tenant=row.tenant_id,
                    spec=SessionSpec.model_validate_json(row.spec),
                    created_at=row.created_at,
                    last_active_at=row.last_active_at,
                    warm=False,
                    parent_snapshot=row.parent_snapshot,
                )
            )
        return out

    async def delete(self, tenant: str, session_id: str) -> None:
        """Delete the session, its workspace and its snapshots."""
        session = await self.open(tenant, session_id)
        async with self.live.lock(session_id):
            await self.live.hibernate(session_id)
            snapshots = await self.store.snapshots(tenant, session_id)
            await self.store.delete_session(tenant, session_id)
            session.deleted = True
            self._open.pop(session_id, None)
            paths = [self.snapshot_path(tenant, snap.id) for snap in snapshots]

            def remove() -> None:
                shutil.rmtree(session.root, ignore_errors=True)
                for path in paths:
                    path.unlink(missing_ok=True)

            await asyncio.to_thread(remove)
        self.live.forget(session_id)

    async def open(self, tenant: str, session_id: str) -> OpenSession:
        """The session's cached state (loaded from the database once per process)."""
        cached = self._open.get(session_id)
        if cached is not None and cached.tenant == tenant:
            return cached
        row = await self.store.session(tenant, session_id)
        session = await self._load(row)
        return self._open.setdefault(session_id, session)

    async def _bounds(self, tenant: str, spec: SessionSpec) -> tuple[Limits, float, int]:
        """(limits, longest call in seconds, warm sessions allowed) from the settings, the
        session's spec and the tenant's current quotas."""
        config = self.config
        quota = min(spec.limits.workspace_bytes or config.workspace_bytes, config.workspace_bytes)
        max_call, max_warm = config.max_call_seconds, config.max_warm_per_tenant
        if self._quotas is not None:
            # The tenant's quotas bound every session of it (0 means no workspace quota).
            tenant_quotas = await self._quotas.quotas(tenant)
            if tenant_quotas.max_workspace_bytes:
                quota = min(quota, tenant_quotas.max_workspace_bytes)
            max_call = min(max_call, tenant_quotas.max_cpu_seconds_per_run)
            max_warm = min(max_warm, tenant_quotas.max_live_sandboxes)
        memory = min(spec.limits.memory_bytes or config.memory_bytes, config.max_memory_bytes)
        limits = self.sandbox.default_limits.with_(
            wall_seconds=min(self._deadline(spec, None), max_call),
            memory_bytes=memory,
            stdout_bytes=config.output_bytes,
            stderr_bytes=config.output_bytes,
            workspace_bytes=quota,
            fuel=spec.limits.fuel,
        )
        return limits, max_call, max_warm

    async def _refresh(self, session: OpenSession) -> None:
        """Re-read what may have changed since the session was loaded: the tenant's quotas
        and egress (policy, rules, secrets). Called at every wake: a wake is a new run."""
        limits, max_call, max_warm = await self._bounds(session.tenant, session.spec)
        session.limits, session.max_call_seconds, session.max_warm = limits, max_call, max_warm
        session.workspace.quota_bytes = limits.workspace_bytes or session.workspace.quota_bytes
        session.toolbox = await self._toolbox(
            session.tenant, session.id, session.spec, session.workspace
        )
        session.refreshed = time.monotonic()

    async def _load(self, row: AgentSession) -> OpenSession:
        spec = SessionSpec.model_validate_json(row.spec)
        limits, max_call, max_warm = await self._bounds(row.tenant_id, spec)
        quota = limits.workspace_bytes or self.config.workspace_bytes
        config = self.config
        root = self.root / tenant_dir_name(row.tenant_id) / row.id
        workspace = Workspace(root / "workspace", quota, config.max_file_bytes)
        toolbox = await self._toolbox(row.tenant_id, row.id, spec, workspace)
        return OpenSession(
            tenant=row.tenant_id,
            id=row.id,
            spec=spec,
            created_at=row.created_at,
            last_active_at=row.last_active_at,
            parent_snapshot=row.parent_snapshot,
            root=root,
            limits=limits,
            workspace=workspace,
            toolbox=toolbox,
            max_call_seconds=max_call,
            max_warm=max_warm,
        )

    async def _toolbox(
        self, tenant: str, session_id: str, spec: SessionSpec, workspace: Workspace
    ) -> ToolBox:
        """The session's tools under the tenant's current egress policy, rules and secrets."""
        base = await self.egress.context(tenant, session=session_id, session_patch=spec.egress)

        def context(
            patch: EgressPolicyPatch | None = None, rules: Sequence[CredentialRule] = ()
        ) -> EgressContext:
            # A tool's own context: its host opened, its credential rule added.
            return EgressContext(
                tenant=base.tenant,
                session=base.session,
                policy=base.policy.override(patch),
                secrets=base.secrets,
                audit=base.audit,
                rules=(*base.rules, *rules),
                limits=base.limits,
            )

        return ToolBox(
            spec.tools,
            workspace,
            self.egress.proxy,
            base,
            context,
            self.config.tool_call_record_bytes,
        )

    def _info(self, session: OpenSession) -> SessionInfo:
        return SessionInfo(
            id=session.id,
            tenant=session.tenant,
            spec=session.spec,
            created_at=session.created_at,
            last_active_at=session.last_active_at,
            warm=self.live.is_warm(session.id),
            parent_snapshot=session.parent_snapshot,
        )

    def snapshot_path(self, tenant: str, snapshot_id: str) -> Path:
        """Where a snapshot's archive lives."""
        return self.root / tenant_dir_name(tenant) / "snapshots" / f"{snapshot_id}.tar.gz"

    def _pool_key(self, session: OpenSession) -> str | None:
        if not self.config.prewarm or session.limits.fuel is not None:
            return None
        return f"session:{session.tenant}"

    def _deadline(self, spec: SessionSpec, deadline: float | None) -> float:
        seconds = deadline or spec.limits.call_seconds or self.config.call_seconds
        return min(seconds, self.config.max_call_seconds)

    async def _hibernated(self, session_id: str) -> None:
        # A hibernated session leaves the cache (it is reloaded on its next use), so memory
        # follows the warm sessions, not every session this process has ever served.
        session = self._open.pop(session_id, None)
        if session is not None and not session.deleted:
            await self.store.touch(session_id, session.last_active_at)

    async def hibernate(self, tenant: str, session_id: str) -> bool:
        """Release the session's interpreter now; whether it was warm."""
        await self.open(tenant, session_id)
        async with self.live.lock(session_id):
            return await self.live.hibernate(session_id)

    # -- exec ------------------------------------------------------------------------

    async def python(
        self,
        tenant: str,
        session_id: str,
        code: str,
        *,
        deadline: float | None = None,
        on_output: OutputSink | None = None,
    ) -> ExecResult:
        """Run Python in the session; a final expression's ``repr`` comes back as ``result``."""
        return await self._exec(tenant, session_id, code, "main", True, deadline, on_output)

    async def shell(
        self,
        tenant: str,
        session_id: str,
        command: str,
        *,
        deadline: float | None = None,
        on_output: OutputSink | None = None,
    ) -> ExecResult:
        """Run a bash command line in the session's shell (state such as ``cd`` persists
        while warm). With ``on_output``, output is streamed per top-level statement."""
        code = SHELL_CODE.format(command=command, stream=on_output is not None)
        result = await self._exec(tenant, session_id, code, "_shell", False, deadline, on_output)
        return result

    async def _exec(
        self,
        tenant: str,
        session_id: str,
        code: str,
        namespace: str,
        echo: bool,
        deadline: float | None,
        on_output: OutputSink | None,
    ) -> ExecResult:
        session = await self.open(tenant, session_id)
        calls: list[ToolCall] = []
        seconds = min(self._deadline(session.spec, deadline), session.max_call_seconds)
        limits = session.limits.with_(wall_seconds=seconds)
        started = time.perf_counter()
        async with self.live.lock(session_id):
            if session.deleted:
                raise SessionNotFound(f"no session {session_id!r}")  # deleted meanwhile
            live = self.live.get(session_id)
            woke = live is None
            if live is None:
                if time.monotonic() - session.refreshed > 1.0:
                    await self._refresh(session)  # each wake is a new run
                pool_key = self._pool_key(session)
                mounts = Mounts(workspace=session.workspace_dir)
                live = await self.live.wake(
                    session_id, tenant, mounts, session.limits, pool_key, cap=session.max_warm
                )
            streaming = on_output is not None and echo
            if streaming:
                await live.sandbox_session.run(STREAM_ON, namespace="_tf", limits=limits)
            run = await live.sandbox_session.run(
                code,
                namespace=namespace,
                echo=echo,
                handlers=session.toolbox.handlers(calls),
                env=session.spec.env,
                limits=limits,
                filename="<cell>" if echo else "<shell>",
                on_output=on_output,
            )
            if streaming and live.alive:
                await live.sandbox_session.run(STREAM_OFF, namespace="_tf", limits=limits)
            live.last_used = time.monotonic()
            session.last_active_at = datetime.now(UTC)
            session.calls += 1
            if not live.alive:
                await self.live.hibernate(session_id)
        result = ExecResult(
            ok=run.ok,
            stdout=run.stdout,
            stderr=run.stderr,
            limit=str(run.limit) if run.limit else None,
            state_kept=not woke,
            woke=woke,
            tool_calls=calls,
        )
        if run.error is not None:
            result.error = {
                "type": run.error.type,
                "message": run.error.message,
                "traceback": run.error.traceback,
            }
        value = run.value
        if echo and isinstance(value, dict):
            result.result = str(value.get("repr"))
        elif not echo and run.ok and isinstance(value, dict):
            result.stdout = str(value.get("stdout", ""))
            result.stderr = str(value.get("stderr", ""))
            result.exit_code = int(value.get("exit_code", 0))
        result.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        return result
