"""Operator surface: health, readiness, metrics, OpenAPI, admin tenant management."""

from __future__ import annotations

import httpx

from tenantflow.tenants.bundles import sha256_hex
from tests.api.conftest import Running, assert_problem, bearer, new_tenant

MAIN = b"def run(event, step):\n    return event\n"


async def test_health_readiness_and_metrics(
    shared_server: Running, http: httpx.AsyncClient
) -> None:
    url = shared_server.url
    assert (await http.get(f"{url}/healthz")).json() == {"status": "ok", "checks": {}}
    ready = (await http.get(f"{url}/readyz")).json()
    assert ready["status"] == "ok" and ready["checks"] == {"database": "ok", "sandbox": "ok"}
    _t, key = await new_tenant(http, shared_server, max_bundle_bytes=1024)
    await http.put(f"{url}/v1/workflows/m", content=MAIN + b"#" * 2000, headers=bearer(key))
    r = await http.get(f"{url}/metrics", headers=shared_server.admin())
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'tenantflow_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'tenantflow_quota_rejections_total{quota="max_bundle_bytes"}' in text
    assert "tenantflow_http_request_duration_seconds_bucket" in text
    assert_problem(await http.get(f"{url}/metrics", headers=bearer(key)), 403, "forbidden")


async def test_openapi_is_complete(shared_server: Running, http: httpx.AsyncClient) -> None:
    spec = (await http.get(f"{shared_server.url}/openapi.json")).json()
    paths = spec["paths"]
    for path, methods in {
        "/v1/workflows": {"get"},
        "/v1/workflows/{name}": {"get", "put"},
        "/v1/workflows/{name}/versions": {"get"},
        "/v1/workflows/{name}/instances": {"post"},
        "/v1/workflows/{name}/instances/batch": {"post"},
        "/v1/instances": {"get"},
        "/v1/instances/{instance_id}": {"get"},
        "/v1/instances/{instance_id}/pause": {"post"},
        "/v1/instances/{instance_id}/resume": {"post"},
        "/v1/instances/{instance_id}/terminate": {"post"},
        "/v1/instances/{instance_id}/restart": {"post"},
        "/v1/instances/{instance_id}/events": {"post"},
        "/v1/instances/{instance_id}/logs": {"get"},
        "/v1/admin/tenants": {"get", "post"},
        "/v1/admin/tenants/{tenant_id}/quotas": {"patch"},
        "/v1/admin/tenants/{tenant_id}/keys": {"get", "post"},
        "/healthz": {"get"},
        "/readyz": {"get"},
        "/metrics": {"get"},
    }.items():
        assert methods <= set(paths[path]), path
        for method in methods:
            operation = paths[path][method]
            assert operation.get("summary"), (path, method)
            errors = {k for k in operation["responses"] if k.startswith(("4", "5"))}
            for status in errors:
                content = operation["responses"][status].get("content", {})
                assert "application/problem+json" in content, (path, method, status)
    upload = paths["/v1/workflows/{name}"]["put"]["requestBody"]["content"]
    assert {"application/zip", "text/x-python", "application/octet-stream"} <= set(upload)
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


async def test_admin_tenants_and_quotas(shared_server: Running, http: httpx.AsyncClient) -> None:
    url, admin = shared_server.url, shared_server.admin()
    tid, _key = await new_tenant(http, shared_server)
    r = await http.patch(
        f"{url}/v1/admin/tenants/{tid}/quotas", json={"max_bundle_bytes": 2048}, headers=admin
    )
    assert r.status_code == 200 and r.json()["quotas"]["max_bundle_bytes"] == 2048
    r = await http.patch(
        f"{url}/v1/admin/tenants/{tid}/quotas", json={"max_bundle_bytes": None}, headers=admin
    )
    assert r.json()["quotas"]["max_bundle_bytes"] == shared_server.settings.quota_bundle_bytes
    r = await http.post(f"{url}/v1/admin/tenants", json={"name": "x", "id": tid}, headers=admin)
    assert_problem(r, 409, "conflict")
    assert_problem(await http.get(f"{url}/v1/admin/tenants/nope", headers=admin), 404, "not-found")
    page = (await http.get(f"{url}/v1/admin/tenants?limit=1", headers=admin)).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    r = await http.patch(
        f"{url}/v1/admin/tenants/{tid}/quotas", json={"max_live_sandboxes": 0}, headers=admin
    )
    assert_problem(r, 422, "validation-error")


async def test_loader_only_serves_a_tenants_own_versions(
    shared_server: Running, http: httpx.AsyncClient
) -> None:
    from tenantflow.db import create_engine, session_factory
    from tenantflow.tenants import CodeLoader, NotFoundError

    url = shared_server.url
    tid_a, key_a = await new_tenant(http, shared_server)
    tid_b, _key_b = await new_tenant(http, shared_server)
    assert (
        await http.put(f"{url}/v1/workflows/w", content=MAIN, headers=bearer(key_a))
    ).status_code == 201
    engine = create_engine(shared_server.settings.resolved_database_url)
    try:
        loader = CodeLoader(shared_server.settings, session_factory(engine))
        code = await loader.resolve(tid_a, "w", sha256_hex(MAIN))
        assert (code / "main.py").read_bytes() == MAIN
        for tenant, workflow in ((tid_b, "w"), (tid_a, "other")):
            try:
                await loader.resolve(tenant, workflow, sha256_hex(MAIN))
            except NotFoundError:
                continue
            raise AssertionError(f"{tenant}/{workflow} resolved another tenant's bundle")
    finally:
        await engine.dispose()


async def test_idempotent_create_answers_200_the_second_time(
    shared_server: Running, http: httpx.AsyncClient
) -> None:
    url = shared_server.url
    _t, key = await new_tenant(http, shared_server)
    await http.put(f"{url}/v1/workflows/w", content=MAIN, headers=bearer(key))
    body = {"event": {"n": 1}, "idempotency_key": "order-1"}
    first = await http.post(f"{url}/v1/workflows/w/instances", json=body, headers=bearer(key))
    again = await http.post(f"{url}/v1/workflows/w/instances", json=body, headers=bearer(key))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    missing = await http.post(f"{url}/v1/workflows/nope/instances", json={}, headers=bearer(key))
    assert_problem(missing, 404, "not-found")
    huge = {"event": "x" * (1024 * 1024 + 10)}
    r = await http.post(f"{url}/v1/workflows/w/instances", json=huge, headers=bearer(key))
    assert_problem(r, 422, "validation-error")
