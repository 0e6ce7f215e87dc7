"""Every route as a request description, shared by the sync and async clients.

Besides the :class:`Call` builders (one per route, or per mode of a route), this holds
what both clients do the same way: reading an answer (:func:`read`), the wait allowed
for long calls (:func:`timeout_for`) and parsing server-sent events (:class:`EventStream`).
"""

from __future__ import annotations

import json as jsonlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, SecretStr

from tenantflow.api import models as m
from tenantflow.api.models import egress as eg
from tenantflow.api.models import sessions as ses
from tenantflow.api.models.common import Problem
from tenantflow.api.models.specs import EgressPolicyPatch, SessionLimits, ToolSpec
from tenantflow.client.errors import ApiError, StreamError

T = TypeVar("T", bound=BaseModel)
TERMINAL = frozenset({"complete", "errored", "terminated"})
"""Instance states a ``wait`` stops at."""


EXEC_GRACE = 30.0
"""Seconds an exec call's answer may take past its deadline (waking, queueing, transfer)."""
EXEC_MAX_SECONDS = 600.0
"""The server's default cap on any exec call's deadline (``max_call_seconds``)."""

Raw = Literal["text", "bytes", "none"]


@dataclass(frozen=True, slots=True)
class Call:
    """One request and how to read its answer: into ``model``, else as ``raw`` says.

    ``json`` and ``content`` stay out of the repr: they may hold a secret value
    (``set_secret``) or megabytes of file content.
    """

    method: str
    path: str
    model: type[BaseModel] | None
    json: Any = field(default=None, repr=False)
    params: dict[str, Any] = field(default_factory=dict)
    content: bytes | None = field(default=None, repr=False)
    headers: dict[str, str] = field(default_factory=dict)
    raw: Raw = "text"
    wait: float | None = None
    """Seconds the answer may take, when longer than the client's timeout (exec calls)."""


def read(call: Call, response: httpx.Response) -> Any:
    """The answer of ``call``: its model, text, bytes or ``None``; ApiError on a problem."""
    if response.status_code >= 400:
        raise ApiError.from_response(response)
    if call.model is not None:
        return call.model.model_validate(response.json())
    if call.raw == "bytes":
        return response.content
    if call.raw == "none":
        return None
    return response.text


def timeout_for(call: Call, default: httpx.Timeout) -> httpx.Timeout:
    """The client's timeout, with the read timeout raised to ``call.wait`` if that is longer."""
    if call.wait is None or default.read is None or default.read >= call.wait:
        return default
    return httpx.Timeout(
        connect=default.connect, read=call.wait, write=default.write, pool=default.pool
    )


def _q(segment: str) -> str:
    """A path segment, percent-encoded (ids never widen the path).

    ``.`` and ``..`` are encoded too: URL normalisation (httpx does it) would
    otherwise resolve them and send the request to another route.
    """
    quoted = quote(segment, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def _file(path: str) -> str:
    """A workspace path in the URL: ``/`` kept, every segment encoded as by :func:`_q`."""
    return "/".join(_q(part) for part in path.split("/"))


def _iso(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _body(model: BaseModel) -> Any:
    return model.model_dump(mode="json", exclude_unset=True)


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# -- operations ------------------------------------------------------------------------
def healthz() -> Call:
    return Call("GET", "/healthz", m.Health)


def readyz() -> Call:
    return Call("GET", "/readyz", m.Health)


def metrics() -> Call:
    return Call("GET", "/metrics", None)


# -- account and keys ------------------------------------------------------------------
def account() -> Call:
    return Call("GET", "/v1/account", m.Tenant)


def list_keys() -> Call:
    return Call("GET", "/v1/keys", m.ApiKeyList)


def create_key(name: str) -> Call:
    return Call("POST", "/v1/keys", m.ApiKeySecret, json=_body(m.ApiKeyCreate(name=name)))


def rotate_key(key_id: str) -> Call:
    return Call("POST", f"/v1/keys/{_q(key_id)}/rotate", m.ApiKeySecret)


def revoke_key(key_id: str) -> Call:
    return Call("DELETE", f"/v1/keys/{_q(key_id)}", m.ApiKey)


# -- workflows -------------------------------------------------------------------------
def list_workflows() -> Call:
    return Call("GET", "/v1/workflows", m.WorkflowList)


def upload_workflow(name: str, data: bytes) -> Call:
    kind = "application/zip" if data[:2] == b"PK" else "text/x-python"
    return Call(
        "PUT",
        f"/v1/workflows/{_q(name)}",
        m.WorkflowVersion,
        content=data,
        headers={"Content-Type": kind},
    )


def get_workflow(name: str) -> Call:
    return Call("GET", f"/v1/workflows/{_q(name)}", m.Workflow)


def list_versions(name: str) -> Call:
    return Call("GET", f"/v1/workflows/{_q(name)}/versions", m.WorkflowVersionList)


def get_version(name: str, ref: str) -> Call:
    return Call("GET", f"/v1/workflows/{_q(name)}/versions/{_q(ref)}", m.WorkflowVersion)


# -- instances -------------------------------------------------------------------------
def create_instance(workflow: str, body: m.InstanceCreate) -> Call:
    return Call("POST", f"/v1/workflows/{_q(workflow)}/instances", m.Instance, json=_body(body))


def create_instances(workflow: str, items: list[m.InstanceCreate]) -> Call:
    body = {"instances": [_body(i) for i in items]}
    return Call("POST", f"/v1/workflows/{_q(workflow)}/instances/batch", m.InstanceBatch, json=body)


def list_instances(
    workflow: str | None,
    status: str | None,
    created_after: str | None,
    created_before: str | None,
    cursor: str | None,
    limit: int | None,
) -> Call:
    params = _params(
        workflow=workflow,
        status=status,
        created_after=created_after,
        created_before=created_before,
        cursor=cursor,
        limit=limit,
    )
    return Call("GET", "/v1/instances", m.InstanceList, params=params)


def get_instance(instance_id: str) -> Call:
    return Call("GET", f"/v1/instances/{_q(instance_id)}", m.InstanceDetail)


def control(instance_id: str, operation: str) -> Call:
    return Call("POST", f"/v1/instances/{_q(instance_id)}/{operation}", m.Instance)


def send_event(instance_id: str, type: str, payload: Any) -> Call:
    body = _body(m.EventSend(type=type, payload=payload))
    body.setdefault("payload", None)
    return Call("POST", f"/v1/instances/{_q(instance_id)}/events", m.EventAccepted, json=body)


def logs(instance_id: str, after: int | None, limit: int | None) -> Call:
    params = _params(after=after, limit=limit)
    return Call("GET", f"/v1/instances/{_q(instance_id)}/logs", m.LogList, params=params)


# -- admin -----------------------------------------------------------------------------
def create_tenant(name: str, tenant_id: str | None, quotas: m.QuotaUpdate | None) -> Call:
    body = m.TenantCreate(name=name, id=tenant_id, quotas=quotas)
    return Call("POST", "/v1/admin/tenants", m.TenantCreated, json=_body(body))


def list_tenants(cursor: str | None, limit: int | None) -> Call:
    params = _params(cursor=cursor, limit=limit)
    return Call("GET", "/v1/admin/tenants", m.TenantList, params=params)


def get_tenant(tenant_id: str) -> Call:
    return Call("GET", f"/v1/admin/tenants/{_q(tenant_id)}", m.Tenant)


def set_quotas(tenant_id: str, quotas: m.QuotaUpdate) -> Call:
    return Call("PATCH", f"/v1/admin/tenants/{_q(tenant_id)}/quotas", m.Tenant, json=_body(quotas))


def admin_list_keys(tenant_id: str) -> Call:
    return Call("GET", f"/v1/admin/tenants/{_q(tenant_id)}/keys", m.ApiKeyList)


def admin_create_key(tenant_id: str, name: str) -> Call:
    body = _body(m.ApiKeyCreate(name=name))
    return Call("POST", f"/v1/admin/tenants/{_q(tenant_id)}/keys", m.ApiKeySecret, json=body)


def admin_rotate_key(tenant_id: str, key_id: str) -> Call:
    return Call(
        "POST", f"/v1/admin/tenants/{_q(tenant_id)}/keys/{_q(key_id)}/rotate", m.ApiKeySecret
    )


def admin_revoke_key(tenant_id: str, key_id: str) -> Call:
    return Call("DELETE", f"/v1/admin/tenants/{_q(tenant_id)}/keys/{_q(key_id)}", m.ApiKey)


# -- secrets (write-only) ---------------------------------------------------------------
def list_secrets() -> Call:
    return Call("GET", "/v1/secrets", eg.SecretList)


def set_secret(name: str, value: str | SecretStr) -> Call:
    # SecretStr dumps as "**********": the body is built from the checked value itself.
    checked = eg.SecretWrite(value=value)
    body = {"value": checked.value.get_secret_value()}
    return Call("PUT", f"/v1/secrets/{_q(name)}", eg.SecretInfo, json=body)


def get_secret_info(name: str) -> Call:
    return Call("GET", f"/v1/secrets/{_q(name)}", eg.SecretInfo)


def delete_secret(name: str) -> Call:
    return Call("DELETE", f"/v1/secrets/{_q(name)}", None, raw="none")


# -- egress policy ------------------------------------------------------------------------
def get_egress_policy() -> Call:
    return Call("GET", "/v1/egress/policy", eg.TenantPolicy)


def set_egress_policy(policy: eg.EgressPolicy) -> Call:
    return Call("PUT", "/v1/egress/policy", eg.TenantPolicy, json=_body(policy))


def list_workflow_policies() -> Call:
    return Call("GET", "/v1/egress/policy/workflows", eg.WorkflowPolicyList)


def get_workflow_policy(workflow: str) -> Call:
    return Call("GET", f"/v1/egress/policy/workflows/{_q(workflow)}", eg.WorkflowPolicy)


def set_workflow_policy(workflow: str, patch: eg.PolicyPatch) -> Call:
    path = f"/v1/egress/policy/workflows/{_q(workflow)}"
    return Call("PUT", path, eg.WorkflowPolicy, json=_body(patch))


def delete_workflow_policy(workflow: str) -> Call:
    return Call("DELETE", f"/v1/egress/policy/workflows/{_q(workflow)}", None, raw="none")


# -- credential rules ----------------------------------------------------------------------
def list_credential_rules() -> Call:
    return Call("GET", "/v1/egress/rules", eg.CredentialRuleList)


def create_credential_rule(rule: eg.CredentialRuleSpec) -> Call:
    return Call("POST", "/v1/egress/rules", eg.CredentialRuleOut, json=_body(rule))


def get_credential_rule(name: str) -> Call:
    return Call("GET", f"/v1/egress/rules/{_q(name)}", eg.CredentialRuleOut)


def set_credential_rule(name: str, rule: eg.CredentialRuleBody | eg.CredentialRuleSpec) -> Call:
    return Call("PUT", f"/v1/egress/rules/{_q(name)}", eg.CredentialRuleOut, json=_body(rule))


def delete_credential_rule(name: str) -> Call:
    return Call("DELETE", f"/v1/egress/rules/{_q(name)}", None, raw="none")


# -- egress audit log -------------------------------------------------------------------------
def egress_log(
    since: datetime | str | None,
    until: datetime | str | None,
    instance: str | None,
    session: str | None,
    host: str | None,
    decision: eg.Decision | None,
    limit: int | None,
    cursor: str | None,
) -> Call:
    params = _params(
        since=_iso(since),
        until=_iso(until),
        instance=instance,
        session=session,
        host=host,
        decision=decision,
        limit=limit,
        cursor=cursor,
    )
    return Call("GET", "/v1/egress/log", eg.EgressLogPage, params=params)


# -- sessions ---------------------------------------------------------------------------------
def _session(session_id: str) -> str:
    return f"/v1/sessions/{_q(session_id)}"


def session_create(
    name: str | None,
    limits: SessionLimits | None,
    egress: EgressPolicyPatch | None,
    tools: list[ToolSpec] | None,
    env: dict[str, str] | None,
    from_snapshot: str | None = None,
) -> ses.SessionCreate:
    """The body of a new session or fork: only what is given is sent (a fork copies the rest)."""
    given = {
        "name": name,
        "limits": limits,
        "egress": egress,
        "tools": tools,
        "env": env,
        "from_snapshot": from_snapshot,
    }
    return ses.SessionCreate.model_validate({k: v for k, v in given.items() if v is not None})


def create_session(body: ses.SessionCreate) -> Call:
    data = _body(body)
    if "tools" in data:
        # Tools go whole: a target's ``kind`` is its union's discriminator, which the
        # server needs even where it is the default (an unset-only dump drops it).
        data["tools"] = [tool.model_dump(mode="json") for tool in body.tools]
    return Call("POST", "/v1/sessions", ses.Session, json=data)


def list_sessions() -> Call:
    return Call("GET", "/v1/sessions", ses.SessionList)


def get_session(session_id: str) -> Call:
    return Call("GET", _session(session_id), ses.Session)


def delete_session(session_id: str) -> Call:
    return Call("DELETE", _session(session_id), None, raw="none")


def hibernate_session(session_id: str) -> Call:
    return Call("POST", f"{_session(session_id)}/hibernate", ses.Session)


def _exec(session_id: str, kind: str, body: BaseModel, timeout: float | None, stream: bool) -> Call:
    return Call(
        "POST",
        f"{_session(session_id)}/{kind}",
        ses.ExecResult,
        json=_body(body),
        params={"stream": "true"} if stream else {},
        wait=(timeout if timeout is not None else EXEC_MAX_SECONDS) + EXEC_GRACE,
    )


def run_python(session_id: str, code: str, timeout: float | None, stream: bool) -> Call:
    return _exec(session_id, "python", ses.PythonRun(code=code, timeout=timeout), timeout, stream)


def run_shell(session_id: str, command: str, timeout: float | None, stream: bool) -> Call:
    body = ses.ShellRun(command=command, timeout=timeout)
    return _exec(session_id, "shell", body, timeout, stream)


# -- session files --------------------------------------------------------------------------
def list_files(session_id: str, path: str, recursive: bool) -> Call:
    params = _params(path=path or None, recursive=recursive)
    return Call("GET", f"{_session(session_id)}/files", ses.FileList, params=params)


def read_file(session_id: str, path: str) -> Call:
    return Call("GET", f"{_session(session_id)}/files/{_file(path)}", None, raw="bytes")


def write_file(session_id: str, path: str, data: bytes, append: bool) -> Call:
    return Call(
        "PUT",
        f"{_session(session_id)}/files/{_file(path)}",
        ses.FileWritten,
        params=_params(append=append or None),
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )


def delete_file(session_id: str, path: str, recursive: bool) -> Call:
    return Call(
        "DELETE",
        f"{_session(session_id)}/files/{_file(path)}",
        None,
        params=_params(recursive=recursive or None),
        raw="none",
    )


def download_archive(session_id: str) -> Call:
    return Call("GET", f"{_session(session_id)}/archive", None, raw="bytes")


def upload_archive(session_id: str, data: bytes, path: str) -> Call:
    kind = "application/gzip" if data[:2] == b"\x1f\x8b" else "application/x-tar"
    return Call(
        "POST",
        f"{_session(session_id)}/archive",
        ses.ArchiveUploaded,
        params=_params(path=path or None),
        content=data,
        headers={"Content-Type": kind},
    )


# -- snapshots --------------------------------------------------------------------------------
def create_snapshot(session_id: str, label: str) -> Call:
    body = _body(ses.SnapshotCreate(label=label))
    return Call("POST", f"{_session(session_id)}/snapshots", ses.Snapshot, json=body)


def list_snapshots(session_id: str) -> Call:
    return Call("GET", f"{_session(session_id)}/snapshots", ses.SnapshotList)


def delete_snapshot(session_id: str, snapshot_id: str) -> Call:
    path = f"{_session(session_id)}/snapshots/{_q(snapshot_id)}"
    return Call("DELETE", path, None, raw="none")


def restore_snapshot(session_id: str, snapshot_id: str) -> Call:
    body = _body(ses.Restore(snapshot_id=snapshot_id))
    return Call("POST", f"{_session(session_id)}/restore", ses.Session, json=body)


# -- server-sent events of streamed exec calls ------------------------------------------------
@dataclass(frozen=True, slots=True)
class ExecEvent:
    """One event of a streamed python or shell call.

    ``stdout`` and ``stderr`` events carry output in ``text`` as it arrives; the
    last event is ``result``, whose ``result`` holds the same :class:`ExecResult`
    the non-streamed call answers with (all the output included).
    """

    kind: Literal["stdout", "stderr", "result"]
    text: str = ""
    result: ses.ExecResult | None = None


class EventStream:
    """Parses the lines of a ``text/event-stream`` answer into :class:`ExecEvent`.

    ``feed`` each line (without its line ending); an ``error`` event raises
    :class:`StreamError`, events of kinds this client does not know are skipped
    (a newer server may add some). ``end`` when the lines run out: a stream that
    stops before its ``result`` is an error too, never a silent partial answer.
    """

    def __init__(self) -> None:
        self._kind = ""
        self._data: list[str] = []
        self.done = False

    def feed(self, line: str) -> ExecEvent | None:
        """The event ``line`` completes, if any."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._kind = value
        elif name == "data":
            self._data.append(value)
        return None

    def end(self) -> None:
        """The stream closed: raise unless the result (or an error) arrived.

        An event not ended by a blank line is dropped, as the SSE standard says: the
        connection broke while it was being sent.
        """
        if not self.done:
            raise StreamError(
                Problem(
                    type="/problems/stream-ended",
                    title="Stream ended",
                    status=200,
                    detail="the event stream ended before the call's result",
                )
            )

    def _dispatch(self) -> ExecEvent | None:
        kind, data = self._kind, "\n".join(self._data)
        self._kind, self._data = "", []
        if not data:
            return None
        value = jsonlib.loads(data)
        if kind == "error":
            self.done = True
            raise StreamError.from_event(value)
        if kind == "result":
            self.done = True
            return ExecEvent("result", result=ses.ExecResult.model_validate(value))
        if kind == "stdout":
            return ExecEvent("stdout", text=str(value))
        if kind == "stderr":
            return ExecEvent("stderr", text=str(value))
        return None
