"""The asynchronous client (httpx.AsyncClient): the same methods as :class:`Client`, awaited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import httpx
from pydantic import SecretStr

from tenantflow.api import models as m
from tenantflow.api.models import egress as eg
from tenantflow.api.models import sessions as ses
from tenantflow.api.models.specs import EgressPolicyPatch, SessionLimits, ToolSpec
from tenantflow.client import _calls as c
from tenantflow.client.errors import ApiError


class AsyncClient:
    """Every route of the tenantflow API, typed with the server's own wire models.

    ``AsyncClient(url, key)``: ``key`` is a tenant key, or the admin key for ``admin_*``
    methods, ``create_tenant`` and ``metrics``. Errors raise :class:`ApiError`.
    Secret values only travel to the server: no method returns one.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _request(self, call: c.Call) -> httpx.Request:
        return self._http.build_request(
            call.method,
            call.path,
            json=call.json,
            params=call.params or None,
            content=call.content,
            headers=call.headers or None,
            timeout=c.timeout_for(call, self._http.timeout),
        )

    async def _do(self, call: c.Call) -> Any:
        return c.read(call, await self._http.send(self._request(call)))

    async def _typed(self, call: c.Call, model: type[c.T]) -> c.T:
        return cast(c.T, await self._do(call))

    async def _bytes(self, call: c.Call) -> bytes:
        return cast(bytes, await self._do(call))

    async def _events(self, call: c.Call) -> AsyncIterator[c.ExecEvent]:
        response = await self._http.send(self._request(call), stream=True)
        try:
            if response.status_code >= 400:
                await response.aread()
                raise ApiError.from_response(response)
            events = c.EventStream()
            async for line in response.aiter_lines():
                event = events.feed(line)
                if event is not None:
                    yield event
                if events.done:
                    return
            events.end()
        finally:
            await response.aclose()

    # -- operations -------------------------------------------------------------------
    async def healthz(self) -> m.Health:
        """Liveness."""
        return await self._typed(c.healthz(), m.Health)

    async def readyz(self) -> m.Health:
        """Readiness (raises ApiError 503 when not ready)."""
        return await self._typed(c.readyz(), m.Health)

    async def metrics(self) -> str:
        """Prometheus text (admin key)."""
        return cast(str, await self._do(c.metrics()))

    # -- account and keys -------------------------------------------------------------
    async def account(self) -> m.Tenant:
        """The calling tenant and its quotas."""
        return await self._typed(c.account(), m.Tenant)

    async def list_keys(self) -> m.ApiKeyList:
        """This tenant's keys (prefixes only)."""
        return await self._typed(c.list_keys(), m.ApiKeyList)

    async def create_key(self, name: str = "default") -> m.ApiKeySecret:
        """Issue another key (its secret is shown once)."""
        return await self._typed(c.create_key(name), m.ApiKeySecret)

    async def rotate_key(self, key_id: str) -> m.ApiKeySecret:
        """Replace a key; the old one is revoked."""
        return await self._typed(c.rotate_key(key_id), m.ApiKeySecret)

    async def revoke_key(self, key_id: str) -> m.ApiKey:
        """Revoke a key."""
        return await self._typed(c.revoke_key(key_id), m.ApiKey)

    # -- workflows --------------------------------------------------------------------
    async def list_workflows(self) -> m.WorkflowList:
        """The tenant's workflows."""
        return await self._typed(c.list_workflows(), m.WorkflowList)

    async def upload_workflow(self, name: str, bundle: bytes | str | Path) -> m.WorkflowVersion:
        """Upload a version: bytes, or the path of a ``.py`` file or a zip."""
        data = (
            bundle
            if isinstance(bundle, bytes)
            else await asyncio.to_thread(Path(bundle).read_bytes)
        )
        return await self._typed(c.upload_workflow(name, data), m.WorkflowVersion)

    async def get_workflow(self, name: str) -> m.Workflow:
        """One workflow."""
        return await self._typed(c.get_workflow(name), m.Workflow)

    async def list_versions(self, name: str) -> m.WorkflowVersionList:
        """Every version of a workflow, newest first."""
        return await self._typed(c.list_versions(name), m.WorkflowVersionList)

    async def get_version(self, name: str, ref: str = "latest") -> m.WorkflowVersion:
        """One version by number, SHA-256 or 'latest'."""
        return await self._typed(c.get_version(name, ref), m.WorkflowVersion)

    # -- instances --------------------------------------------------------------------
    async def create_instance(
        self,
        workflow: str,
        event: Any = None,
        *,
        idempotency_key: str | None = None,
        version: str = "latest",
    ) -> m.Instance:
        """Start an instance (the same idempotency key returns the same instance)."""
        body = m.InstanceCreate(event=event, idempotency_key=idempotency_key, version=version)
        return await self._typed(c.create_instance(workflow, body), m.Instance)

    async def create_instances(
        self, workflow: str, items: list[m.InstanceCreate]
    ) -> m.InstanceBatch:
        """Start up to 100 instances at once."""
        return await self._typed(c.create_instances(workflow, items), m.InstanceBatch)

    async def list_instances(
        self,
        *,
        workflow: str | None = None,
        status: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> m.InstanceList:
        """One page of instances, newest first."""
        call = c.list_instances(workflow, status, created_after, created_before, cursor, limit)
        return await self._typed(call, m.InstanceList)

    async def iter_instances(self, **filters: Any) -> AsyncIterator[m.Instance]:
        """Every matching instance, following cursors."""
        cursor = None
        while True:
            page = await self.list_instances(cursor=cursor, **filters)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def get_instance(self, instance_id: str) -> m.InstanceDetail:
        """Status with the step timeline."""
        return await self._typed(c.get_instance(instance_id), m.InstanceDetail)

    async def pause(self, instance_id: str) -> m.Instance:
        """Pause an instance."""
        return await self._typed(c.control(instance_id, "pause"), m.Instance)

    async def resume(self, instance_id: str) -> m.Instance:
        """Resume a paused instance."""
        return await self._typed(c.control(instance_id, "resume"), m.Instance)

    async def terminate(self, instance_id: str) -> m.Instance:
        """Stop an instance for good."""
        return await self._typed(c.control(instance_id, "terminate"), m.Instance)

    async def restart(self, instance_id: str) -> m.Instance:
        """Run an instance again from the start (same pinned version)."""
        return await self._typed(c.control(instance_id, "restart"), m.Instance)

    async def send_event(self, instance_id: str, type: str, payload: Any = None) -> m.EventAccepted:
        """Send an event to an instance."""
        return await self._typed(c.send_event(instance_id, type, payload), m.EventAccepted)

    async def logs(
        self, instance_id: str, *, after: int | None = None, limit: int | None = None
    ) -> m.LogList:
        """Guest stdout/stderr per step."""
        return await self._typed(c.logs(instance_id, after, limit), m.LogList)

    async def wait(
        self,
        instance_id: str,
        *,
        timeout: float = 60.0,  # noqa: ASYNC109  (same signature as Client.wait)
        poll: float = 0.2,
        until: Callable[[m.InstanceDetail], bool] | None = None,
        on_poll: Callable[[m.InstanceDetail], None] | None = None,
    ) -> m.InstanceDetail:
        """Poll until the instance ends or ``until`` holds; TimeoutError past ``timeout``."""

        def done(d: m.InstanceDetail) -> bool:
            return d.status.value in c.TERMINAL or (until is not None and until(d))

        deadline = time.monotonic() + timeout
        while True:
            detail = await self.get_instance(instance_id)
            if on_poll is not None:
                on_poll(detail)
            if done(detail):
                return detail
            if time.monotonic() > deadline:
                raise TimeoutError(f"instance {instance_id} is still {detail.status.value}")
            await asyncio.sleep(poll)

    # -- admin ------------------------------------------------------------------------
    async def create_tenant(
        self, name: str, *, tenant_id: str | None = None, quotas: m.QuotaUpdate | None = None
    ) -> m.TenantCreated:
        """Create a tenant (admin key); the response carries its first key."""
        return await self._typed(c.create_tenant(name, tenant_id, quotas), m.TenantCreated)

    async def list_tenants(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> m.TenantList:
        """Tenants by id (admin key)."""
        return await self._typed(c.list_tenants(cursor, limit), m.TenantList)

    async def get_tenant(self, tenant_id: str) -> m.Tenant:
        """One tenant (admin key)."""
        return await self._typed(c.get_tenant(tenant_id), m.Tenant)

    async def set_quotas(self, tenant_id: str, quotas: m.QuotaUpdate) -> m.Tenant:
        """Change a tenant's quotas (admin key)."""
        return await self._typed(c.set_quotas(tenant_id, quotas), m.Tenant)

    async def admin_list_keys(self, tenant_id: str) -> m.ApiKeyList:
        """A tenant's keys (admin key)."""
        return await self._typed(c.admin_list_keys(tenant_id), m.ApiKeyList)

    async def admin_create_key(self, tenant_id: str, name: str = "default") -> m.ApiKeySecret:
        """Issue a key for a tenant (admin key)."""
        return await self._typed(c.admin_create_key(tenant_id, name), m.ApiKeySecret)

    async def admin_rotate_key(self, tenant_id: str, key_id: str) -> m.ApiKeySecret:
        """Rotate a tenant's key (admin key)."""
        return await self._typed(c.admin_rotate_key(tenant_id, key_id), m.ApiKeySecret)

    async def admin_revoke_key(self, tenant_id: str, key_id: str) -> m.ApiKey:
        """Revoke a tenant's key (admin key)."""
        return await self._typed(c.admin_revoke_key(tenant_id, key_id), m.ApiKey)

    # -- secrets (write-only) -----------------------------------------------------------
    async def list_secrets(self) -> eg.SecretList:
        """The tenant's secrets: names and timestamps, never values."""
        return await self._typed(c.list_secrets(), eg.SecretList)

    async def set_secret(self, name: str, value: str | SecretStr) -> eg.SecretInfo:
        """Create or replace a secret; the answer names it (the value is never returned)."""
        return await self._typed(c.set_secret(name, value), eg.SecretInfo)

    async def get_secret_info(self, name: str) -> eg.SecretInfo:
        """A secret's name and timestamps (no route returns its value)."""
        return await self._typed(c.get_secret_info(name), eg.SecretInfo)

    async def delete_secret(self, name: str) -> None:
        """Delete a secret (credential rules naming it fail until it is set again)."""
        await self._do(c.delete_secret(name))

    # -- egress policy ------------------------------------------------------------------
    async def get_egress_policy(self) -> eg.TenantPolicy:
        """The tenant's egress policy (default deny, nothing allowed, until one is set)."""
        return await self._typed(c.get_egress_policy(), eg.TenantPolicy)

    async def set_egress_policy(self, policy: eg.EgressPolicy) -> eg.TenantPolicy:
        """Replace the egress policy (what ``get_egress_policy`` returned may be sent back)."""
        return await self._typed(c.set_egress_policy(policy), eg.TenantPolicy)

    async def list_workflow_policies(self) -> eg.WorkflowPolicyList:
        """Every workflow override of the tenant policy, with its effective policy."""
        return await self._typed(c.list_workflow_policies(), eg.WorkflowPolicyList)

    async def get_workflow_policy(self, workflow: str) -> eg.WorkflowPolicy:
        """A workflow's override (``None`` if it has none) and the policy its runs get."""
        return await self._typed(c.get_workflow_policy(workflow), eg.WorkflowPolicy)

    async def set_workflow_policy(self, workflow: str, patch: eg.PolicyPatch) -> eg.WorkflowPolicy:
        """Replace a workflow's override of the tenant policy."""
        return await self._typed(c.set_workflow_policy(workflow, patch), eg.WorkflowPolicy)

    async def delete_workflow_policy(self, workflow: str) -> None:
        """Remove a workflow's override: it inherits the tenant policy again."""
        await self._do(c.delete_workflow_policy(workflow))

    # -- credential rules -----------------------------------------------------------------
    async def list_credential_rules(self) -> eg.CredentialRuleList:
        """The tenant's credential rules by name."""
        return await self._typed(c.list_credential_rules(), eg.CredentialRuleList)

    async def create_credential_rule(self, rule: eg.CredentialRuleSpec) -> eg.CredentialRuleOut:
        """Create a rule (conflict if the name exists; refused unless default deny)."""
        return await self._typed(c.create_credential_rule(rule), eg.CredentialRuleOut)

    async def get_credential_rule(self, name: str) -> eg.CredentialRuleOut:
        """One credential rule."""
        return await self._typed(c.get_credential_rule(name), eg.CredentialRuleOut)

    async def set_credential_rule(
        self, name: str, rule: eg.CredentialRuleBody | eg.CredentialRuleSpec
    ) -> eg.CredentialRuleOut:
        """Create or replace the rule ``name`` (a rule ``get_credential_rule`` returned fits)."""
        return await self._typed(c.set_credential_rule(name, rule), eg.CredentialRuleOut)

    async def delete_credential_rule(self, name: str) -> None:
        """Delete a rule: requests stop getting its secret."""
        await self._do(c.delete_credential_rule(name))

    # -- egress audit log ---------------------------------------------------------------
    async def egress_log(
        self,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        instance: str | None = None,
        session: str | None = None,
        host: str | None = None,
        decision: eg.Decision | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> eg.EgressLogPage:
        """One page of the egress audit log, newest first."""
        call = c.egress_log(since, until, instance, session, host, decision, limit, cursor)
        return await self._typed(call, eg.EgressLogPage)

    async def iter_egress_log(self, **filters: Any) -> AsyncIterator[eg.EgressLogEntry]:
        """Every matching audit entry, following cursors."""
        cursor = None
        while True:
            page = await self.egress_log(cursor=cursor, **filters)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # -- sessions -----------------------------------------------------------------------
    async def create_session(
        self,
        name: str = "",
        *,
        limits: SessionLimits | None = None,
        egress: EgressPolicyPatch | None = None,
        tools: list[ToolSpec] | None = None,
        env: dict[str, str] | None = None,
    ) -> ses.Session:
        """Create an agent session (it starts hibernated; the first call wakes it)."""
        body = c.session_create(name, limits, egress, tools, env)
        return await self._typed(c.create_session(body), ses.Session)

    async def fork_session(
        self,
        snapshot_id: str,
        *,
        name: str | None = None,
        limits: SessionLimits | None = None,
        egress: EgressPolicyPatch | None = None,
        tools: list[ToolSpec] | None = None,
        env: dict[str, str] | None = None,
    ) -> ses.Session:
        """A new session starting from a snapshot's workspace (settings copied unless given)."""
        body = c.session_create(name, limits, egress, tools, env, from_snapshot=snapshot_id)
        return await self._typed(c.create_session(body), ses.Session)

    async def list_sessions(self) -> ses.SessionList:
        """The tenant's sessions, newest first."""
        return await self._typed(c.list_sessions(), ses.SessionList)

    async def get_session(self, session_id: str) -> ses.Session:
        """One session."""
        return await self._typed(c.get_session(session_id), ses.Session)

    async def delete_session(self, session_id: str) -> None:
        """Delete a session, its workspace and its snapshots."""
        await self._do(c.delete_session(session_id))

    async def hibernate_session(self, session_id: str) -> ses.Session:
        """Release the session's interpreter now (variables are lost; files stay)."""
        return await self._typed(c.hibernate_session(session_id), ses.Session)

    async def run_python(
        self,
        session_id: str,
        code: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109  (the call's deadline on the server)
    ) -> ses.ExecResult:
        """Run Python; variables persist while the session is warm (``state_kept`` says so).

        ``timeout`` is the call's deadline on the server; the client waits that long
        (or the server's cap, 600 s, without one) plus a grace, whatever its own timeout.
        """
        return await self._typed(c.run_python(session_id, code, timeout, False), ses.ExecResult)

    def stream_python(
        self, session_id: str, code: str, *, timeout: float | None = None
    ) -> AsyncIterator[c.ExecEvent]:
        """``run_python``, yielding output as it arrives and then the ``result`` event."""
        return self._events(c.run_python(session_id, code, timeout, True))

    async def run_shell(
        self,
        session_id: str,
        command: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109  (the call's deadline on the server)
    ) -> ses.ExecResult:
        """Run a bash command line in ``/workspace`` (``exit_code`` is its status)."""
        return await self._typed(c.run_shell(session_id, command, timeout, False), ses.ExecResult)

    def stream_shell(
        self, session_id: str, command: str, *, timeout: float | None = None
    ) -> AsyncIterator[c.ExecEvent]:
        """``run_shell``, yielding output as it arrives and then the ``result`` event."""
        return self._events(c.run_shell(session_id, command, timeout, True))

    # -- session files --------------------------------------------------------------------
    async def list_files(
        self, session_id: str, path: str = "", *, recursive: bool = True
    ) -> ses.FileList:
        """Workspace entries under ``path`` with sizes, and the workspace's quota use."""
        return await self._typed(c.list_files(session_id, path, recursive), ses.FileList)

    async def read_file(self, session_id: str, path: str) -> bytes:
        """A workspace file's bytes (``path`` relative to ``/workspace``)."""
        return await self._bytes(c.read_file(session_id, path))

    async def write_file(
        self, session_id: str, path: str, data: bytes | str, *, append: bool = False
    ) -> ses.FileWritten:
        """Write (or ``append``) bytes, or text as UTF-8; parent directories are created."""
        content = data.encode() if isinstance(data, str) else data
        return await self._typed(c.write_file(session_id, path, content, append), ses.FileWritten)

    async def delete_file(self, session_id: str, path: str, *, recursive: bool = False) -> None:
        """Delete a file, a symlink or, with ``recursive``, a directory."""
        await self._do(c.delete_file(session_id, path, recursive))

    async def download_archive(self, session_id: str) -> bytes:
        """The whole workspace as a gzip tar."""
        return await self._bytes(c.download_archive(session_id))

    async def upload_archive(
        self, session_id: str, archive: bytes, *, path: str = ""
    ) -> ses.ArchiveUploaded:
        """Unpack a tar (or gzip tar) into ``path``; refused whole if any member is unsafe."""
        return await self._typed(c.upload_archive(session_id, archive, path), ses.ArchiveUploaded)

    # -- snapshots ------------------------------------------------------------------------
    async def create_snapshot(self, session_id: str, label: str = "") -> ses.Snapshot:
        """Snapshot the workspace (a gzip tar and its SHA-256)."""
        return await self._typed(c.create_snapshot(session_id, label), ses.Snapshot)

    async def list_snapshots(self, session_id: str) -> ses.SnapshotList:
        """The session's snapshots, newest first."""
        return await self._typed(c.list_snapshots(session_id), ses.SnapshotList)

    async def delete_snapshot(self, session_id: str, snapshot_id: str) -> None:
        """Delete one of the session's snapshots."""
        await self._do(c.delete_snapshot(session_id, snapshot_id))

    async def restore_snapshot(self, session_id: str, snapshot_id: str) -> ses.Session:
        """Replace the workspace with a snapshot (hash checked; the session hibernates)."""
        return await self._typed(c.restore_snapshot(session_id, snapshot_id), ses.Session)
