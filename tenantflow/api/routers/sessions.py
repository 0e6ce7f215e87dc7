"""Agent sessions: create/list/get/delete, python and shell calls, files, snapshots.

Every route is scoped to the caller's tenant: another tenant's session is a
404. Session errors become problem+json through :class:`SessionRoute`.
``?stream=true`` on python and shell answers with server-sent events:
``stdout`` and ``stderr`` events as output arrives, then one ``result`` event,
or one ``error`` event whose data is the problem (RFC 9457) the same call
would have answered with unstreamed: the 200 has been sent by then.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute

from tenantflow.api.auth import ServicesDep, TenantId
from tenantflow.api.models.sessions import (
    ArchiveUploaded,
    ExecResult,
    FileList,
    FileWritten,
    PythonRun,
    Restore,
    Session,
    SessionCreate,
    SessionList,
    ShellRun,
    Snapshot,
    SnapshotCreate,
    SnapshotList,
    ToolSummary,
)
from tenantflow.api.models.sessions import FileEntry as WireFileEntry
from tenantflow.api.problems import PROBLEMS, ApiProblem, problem_response
from tenantflow.api.routers._docs import AUTHED, problems
from tenantflow.api.routers.egress import validated
from tenantflow.api.services import Services
from tenantflow.sessions import ExecResult as DomainExecResult
from tenantflow.sessions import (
    SessionError,
    SessionInfo,
    SessionLimitReached,
    SessionManager,
    SessionSpec,
    SnapshotInfo,
    WorkspaceQuotaExceeded,
)

log = logging.getLogger(__name__)

# Problem types of sessions, added to the API's registry (documented at /problems/<code>).
PROBLEMS.setdefault(
    "invalid-path",
    (400, "Invalid path", "The path leaves /workspace ('..', another absolute path, a symlink)."),
)
PROBLEMS.setdefault(
    "workspace-quota",
    (413, "Workspace quota exceeded", "The write would make the workspace exceed its quota."),
)
PROBLEMS.setdefault(
    "invalid-archive",
    (422, "Invalid archive", "The tar archive holds an unsafe member or cannot be read."),
)
PROBLEMS.setdefault(
    "snapshot-corrupt",
    (409, "Snapshot corrupt", "The snapshot's bytes do not match its content hash."),
)


def to_problem(exc: SessionError) -> ApiProblem:
    """The problem+json for a session error."""
    if isinstance(exc, SessionLimitReached):
        return ApiProblem("quota-exceeded", exc.message, quota="sessions", limit=exc.limit)
    if isinstance(exc, WorkspaceQuotaExceeded):
        return ApiProblem("workspace-quota", exc.message, quota="workspace_bytes", limit=exc.limit)
    code = exc.code if exc.code in PROBLEMS else "bad-request"
    return ApiProblem(code, exc.message)


class SessionRoute(APIRoute):
    """Turns :class:`SessionError` raised by a route into its problem."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except SessionError as exc:
                raise to_problem(exc) from None

        return route


router = APIRouter(
    prefix="/v1/sessions", tags=["sessions"], responses=AUTHED, route_class=SessionRoute
)

SessionId = Annotated[str, PathParam(pattern=r"^ses_[0-9a-f]{24}$")]
Stream = Annotated[bool, Query(description="Answer with server-sent events as output arrives.")]


def session_manager(svc: Services) -> SessionManager:
    """The process's session manager, made on first use (over the API's egress service)."""
    found: SessionManager | None = getattr(svc, "agent_sessions", None)
    if found is None:
        found = SessionManager(
            svc.settings, svc.sessions, svc.sandbox, egress=svc.egress, quotas=svc.tenants
        )
        svc.agent_sessions = found
    return found


def manager(svc: ServicesDep) -> SessionManager:
    """Dependency: the process's session manager."""
    return session_manager(svc)


Manager = Annotated[SessionManager, Depends(manager)]


def session_out(info: SessionInfo) -> Session:
    """Wire form of a session."""
    spec = info.spec
    return Session(
        id=info.id,
        name=spec.name,
        state="warm" if info.warm else "hibernated",
        created_at=info.created_at,
        last_active_at=info.last_active_at,
        limits=spec.limits,
        egress=spec.egress,
        tools=[
            ToolSummary(
                name=t.name,
                description=t.description,
                parameters=t.parameters,
                target=t.target.model_dump(),
            )
            for t in spec.tools
        ],
        env=spec.env,
        parent_snapshot=info.parent_snapshot,
    )


def exec_out(result: DomainExecResult) -> ExecResult:
    """Wire form of a call's result."""
    return ExecResult.model_validate(
        {**asdict(result), "tool_calls": [asdict(c) for c in result.tool_calls]}
    )


def snapshot_out(info: SnapshotInfo) -> Snapshot:
    """Wire form of a snapshot."""
    return Snapshot.model_validate(asdict(info))


# -- sessions ----------------------------------------------------------------------


async def _check_egress(spec: SessionSpec | None, tenant: str, svc: Services) -> None:
    """A session's egress patch is good only if the policy it makes with the tenant's is."""
    if spec is None or spec.egress is None:
        return
    patch = spec.egress
    base = await svc.egress.policies.tenant(tenant)
    validated(lambda: base.policy.override(patch), where=("body", "egress"))


@router.post("", status_code=status.HTTP_201_CREATED, responses=problems(404, 429))
async def create_session(
    body: SessionCreate, tenant: TenantId, mgr: Manager, svc: ServicesDep
) -> Session:
    """Create a session (or fork one from ``from_snapshot``)."""
    fields = body.model_dump(exclude_unset=True, exclude={"from_snapshot"})
    spec = SessionSpec.model_validate(fields) if fields else None
    await _check_egress(spec, tenant, svc)
    if body.from_snapshot is not None:
        return session_out(await mgr.snapshots.fork(tenant, body.from_snapshot, spec))
    return session_out(await mgr.create(tenant, spec or SessionSpec()))


@router.get("")
async def list_sessions(tenant: TenantId, mgr: Manager) -> SessionList:
    """The tenant's sessions, newest first."""
    return SessionList(items=[session_out(s) for s in await mgr.list(tenant)])


@router.get("/{session_id}", responses=problems(404))
async def get_session(session_id: SessionId, tenant: TenantId, mgr: Manager) -> Session:
    """One session."""
    return session_out(await mgr.get(tenant, session_id))


@router.delete("/{session_id}", status_code=204, responses=problems(404))
async def delete_session(session_id: SessionId, tenant: TenantId, mgr: Manager) -> Response:
    """Delete the session, its workspace and its snapshots."""
    await mgr.delete(tenant, session_id)
    return Response(status_code=204)


@router.post("/{session_id}/hibernate", responses=problems(404))
async def hibernate(session_id: SessionId, tenant: TenantId, mgr: Manager) -> Session:
    """Release the session's interpreter now (variables are lost; files stay)."""
    await mgr.hibernate(tenant, session_id)
    return session_out(await mgr.get(tenant, session_id))


# -- exec ---------------------------------------------------------------------------


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _internal_problem(request: Request) -> dict[str, Any]:
    response = problem_response("internal-error", "internal error", instance=request.url.path)
    body: dict[str, Any] = json.loads(bytes(response.body))
    return body


async def problem_body(request: Request, exc: Exception) -> dict[str, Any]:
    """The problem+json body the unstreamed route would have answered ``exc`` with.

    A streamed call's errors come after its 200 began, so they travel as an
    ``error`` event instead of a response. Its data is made by the app's own
    exception handlers, the ones that answer the unstreamed route (a session
    error first becomes its problem, as :class:`SessionRoute` does): the same
    ``type``, ``title``, ``status``, ``detail``, ``instance`` and extension
    members, whatever the error.
    """
    if isinstance(exc, SessionError):
        exc = to_problem(exc)
    handlers: dict[Any, Callable[[Request, Exception], Any]] = request.app.exception_handlers
    handler = next((handlers[cls] for cls in type(exc).__mro__ if cls in handlers), None)
    if handler is None:  # an app without the problem handlers: what its 500 would say
        log.error("no exception handler for a streamed error", exc_info=exc)
        return _internal_problem(request)
    response = handler(request, exc)
    if inspect.isawaitable(response):
        response = await response
    body: dict[str, Any] = json.loads(bytes(response.body))
    return body


def _streamed(
    request: Request, run: Callable[[Callable[[str, str], None]], Coroutine[Any, Any, Any]]
) -> Response:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def on_output(stream: str, text: str) -> None:
        # Called on the sandbox's thread.
        loop.call_soon_threadsafe(queue.put_nowait, (stream, text))

    async def work() -> None:
        try:
            result = await run(on_output)
            await queue.put(("result", exec_out(result).model_dump(mode="json")))
        except Exception as exc:
            # Handled (and, for unexpected errors, logged) as the unstreamed route would be.
            try:
                problem = await problem_body(request, exc)
            except Exception:  # the stream must still end, with a problem
                log.exception("streamed session call failed")
                problem = _internal_problem(request)
            await queue.put(("error", problem))

    async def events() -> AsyncIterator[bytes]:
        task = asyncio.ensure_future(work())
        try:
            while True:
                kind, data = await queue.get()
                yield _sse(kind, data)
                if kind in ("result", "error"):
                    return
        finally:
            if not task.done():
                # The client left: the call still ends at its deadline; nobody reads it.
                task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


@router.post(
    "/{session_id}/python",
    responses={**problems(404), 200: {"content": {"text/event-stream": {}}}},
)
async def run_python(
    session_id: SessionId,
    body: PythonRun,
    request: Request,
    tenant: TenantId,
    mgr: Manager,
    stream: Stream = False,
) -> Any:
    """Run Python. Variables persist between calls while the session is warm; the final
    expression's repr is ``result``. ``state_kept`` says whether earlier variables survived."""
    if stream:
        await mgr.open(tenant, session_id)  # a missing session is a 404, not an event
        return _streamed(
            request,
            lambda sink: mgr.python(
                tenant, session_id, body.code, deadline=body.timeout, on_output=sink
            ),
        )
    return exec_out(await mgr.python(tenant, session_id, body.code, deadline=body.timeout))


@router.post(
    "/{session_id}/shell",
    responses={**problems(404), 200: {"content": {"text/event-stream": {}}}},
)
async def run_shell(
    session_id: SessionId,
    body: ShellRun,
    request: Request,
    tenant: TenantId,
    mgr: Manager,
    stream: Stream = False,
) -> Any:
    """Run a bash command line in ``/workspace`` (pipes, redirections, ``&&``, loops, ...)."""
    if stream:
        await mgr.open(tenant, session_id)  # a missing session is a 404, not an event
        return _streamed(
            request,
            lambda sink: mgr.shell(
                tenant, session_id, body.command, deadline=body.timeout, on_output=sink
            ),
        )
    return exec_out(await mgr.shell(tenant, session_id, body.command, deadline=body.timeout))


# -- files ------------------------------------------------------------------------

FilePath = Annotated[str, PathParam(description="Path relative to /workspace.")]
BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


@router.get("/{session_id}/files", responses=problems(400, 404))
async def list_files(
    session_id: SessionId,
    tenant: TenantId,
    mgr: Manager,
    path: str = "",
    recursive: bool = True,
) -> FileList:
    """Entries under ``path`` (recursive by default) with sizes; symlinks are not followed."""
    entries = await mgr.files.list(tenant, session_id, path, recursive=recursive)
    used, quota = await mgr.files.usage(tenant, session_id)
    items = [WireFileEntry.model_validate(asdict(e)) for e in entries]
    return FileList(items=items, used_bytes=used, quota_bytes=quota)


@router.get(
    "/{session_id}/files/{path:path}",
    response_class=Response,
    responses={**problems(400, 404, 413), 200: {"content": BINARY}},
)
async def read_file(
    session_id: SessionId, path: FilePath, tenant: TenantId, mgr: Manager
) -> Response:
    """A file's bytes (binary safe)."""
    data = await mgr.files.read(tenant, session_id, path)
    return Response(data, media_type="application/octet-stream")


@router.put(
    "/{session_id}/files/{path:path}",
    responses=problems(400, 404, 413),
    openapi_extra={"requestBody": {"required": True, "content": BINARY}},
)
async def write_file(
    session_id: SessionId,
    path: FilePath,
    request: Request,
    tenant: TenantId,
    mgr: Manager,
    append: bool = False,
) -> FileWritten:
    """Write the request body to a file (binary safe), creating parent directories."""
    data = await request.body()
    size = await mgr.files.write(tenant, session_id, path, data, append=append)
    return FileWritten(path=path, size=size)


@router.delete("/{session_id}/files/{path:path}", status_code=204, responses=problems(400, 404))
async def delete_file(
    session_id: SessionId,
    path: FilePath,
    tenant: TenantId,
    mgr: Manager,
    recursive: bool = False,
) -> Response:
    """Delete a file, a symlink (not its target) or, with ``recursive``, a directory."""
    await mgr.files.delete(tenant, session_id, path, recursive=recursive)
    return Response(status_code=204)


@router.get(
    "/{session_id}/archive",
    response_class=Response,
    responses={**problems(404), 200: {"content": {"application/gzip": {}}}},
)
async def download_archive(session_id: SessionId, tenant: TenantId, mgr: Manager) -> Response:
    """The whole workspace as a gzip tar."""
    data = await mgr.files.download_tar(tenant, session_id)
    headers = {"Content-Disposition": f'attachment; filename="{session_id}.tar.gz"'}
    return Response(data, media_type="application/gzip", headers=headers)


@router.post(
    "/{session_id}/archive",
    responses=problems(400, 404, 413),
    openapi_extra={"requestBody": {"required": True, "content": {"application/x-tar": {}}}},
)
async def upload_archive(
    session_id: SessionId, request: Request, tenant: TenantId, mgr: Manager, path: str = ""
) -> ArchiveUploaded:
    """Unpack a tar (optionally gzip) into ``path``. Refused whole if any member is
    absolute, has ``..``, is a link or a device, or the quota would be exceeded."""
    data = await request.body()
    return ArchiveUploaded(files=await mgr.files.upload_tar(tenant, session_id, data, path))


# -- snapshots ------------------------------------------------------------------------


@router.post(
    "/{session_id}/snapshots", status_code=status.HTTP_201_CREATED, responses=problems(404, 429)
)
async def create_snapshot(
    session_id: SessionId, body: SnapshotCreate, tenant: TenantId, mgr: Manager
) -> Snapshot:
    """Snapshot the workspace: a gzip tar written atomically, with its SHA-256."""
    return snapshot_out(await mgr.snapshots.create(tenant, session_id, body.label))


@router.get("/{session_id}/snapshots", responses=problems(404))
async def list_snapshots(session_id: SessionId, tenant: TenantId, mgr: Manager) -> SnapshotList:
    """The session's snapshots, newest first."""
    items = [snapshot_out(s) for s in await mgr.snapshots.list(tenant, session_id)]
    return SnapshotList(items=items)


@router.delete("/{session_id}/snapshots/{snapshot_id}", status_code=204, responses=problems(404))
async def delete_snapshot(
    session_id: SessionId, snapshot_id: str, tenant: TenantId, mgr: Manager
) -> Response:
    """Delete one of the session's snapshots."""
    info = await mgr.snapshots.get(tenant, snapshot_id)
    if info.session_id != session_id:
        raise ApiProblem("not-found", f"no snapshot {snapshot_id!r} in this session")
    await mgr.snapshots.delete(tenant, snapshot_id)
    return Response(status_code=204)


@router.post("/{session_id}/restore", responses=problems(404, 409))
async def restore(session_id: SessionId, body: Restore, tenant: TenantId, mgr: Manager) -> Session:
    """Replace the workspace with a snapshot after checking its hash (the session hibernates).
    A corrupted snapshot is refused (409) and the workspace is left as it was."""
    await mgr.snapshots.restore(tenant, session_id, body.snapshot_id)
    return session_out(await mgr.get(tenant, session_id))
