"""Authorization matrix: no key, bad key, revoked key, admin vs tenant, other tenants' resources."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import Running, assert_problem, bearer, new_tenant

MAIN = b"def run(event, step):\n    return event\n"

TENANT_ROUTES = [
    ("GET", "/v1/account"),
    ("GET", "/v1/keys"),
    ("GET", "/v1/workflows"),
    ("GET", "/v1/workflows/w"),
    ("PUT", "/v1/workflows/w"),
    ("GET", "/v1/workflows/w/versions"),
]
ADMIN_ROUTES = [
    ("GET", "/v1/admin/tenants"),
    ("POST", "/v1/admin/tenants"),
    ("GET", "/v1/admin/tenants/x"),
    ("PATCH", "/v1/admin/tenants/x/quotas"),
    ("GET", "/v1/admin/tenants/x/keys"),
    ("GET", "/metrics"),
]


@pytest.mark.parametrize(("method", "path"), TENANT_ROUTES + ADMIN_ROUTES)
async def test_no_key_and_bad_key_are_401(
    shared_server: Running, http: httpx.AsyncClient, method: str, path: str
) -> None:
    url = shared_server.url + path
    r = await http.request(method, url, json={} if method in ("POST", "PATCH") else None)
    assert_problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"] == "Bearer"
    for bad in ("nonsense", "tf_abcdef_wrong", "tf__", "Bearer"):
        r = await http.request(method, url, headers=bearer(bad))
        assert_problem(r, 401, "unauthorized")


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_tenant_key_on_admin_routes_is_403(
    shared_server: Running, http: httpx.AsyncClient, method: str, path: str
) -> None:
    _tid, key = await new_tenant(http, shared_server)
    r = await http.request(method, shared_server.url + path, headers=bearer(key), json={})
    assert_problem(r, 403, "forbidden")


async def test_admin_key_cannot_act_as_tenant(
    shared_server: Running, http: httpx.AsyncClient
) -> None:
    r = await http.get(f"{shared_server.url}/v1/workflows", headers=shared_server.admin())
    assert_problem(r, 403, "forbidden")


async def test_revoked_and_rotated_keys_stop_working(
    shared_server: Running, http: httpx.AsyncClient
) -> None:
    url = shared_server.url
    tid, key = await new_tenant(http, shared_server)
    assert (await http.get(f"{url}/v1/account", headers=bearer(key))).json()["id"] == tid
    # A second key, then rotate the first: old one dies, new one works.
    r = await http.post(f"{url}/v1/keys", json={"name": "ci"}, headers=bearer(key))
    assert r.status_code == 201
    second = r.json()
    listed = (await http.get(f"{url}/v1/keys", headers=bearer(key))).json()["items"]
    assert {k["prefix"] for k in listed} >= {second["prefix"]}
    assert all("key" not in k and "secret_hash" not in k for k in listed)
    first_id = next(k["id"] for k in listed if k["name"] == "default")
    r = await http.post(f"{url}/v1/keys/{first_id}/rotate", headers=bearer(second["key"]))
    assert r.status_code == 201
    rotated = r.json()["key"]
    assert_problem(await http.get(f"{url}/v1/account", headers=bearer(key)), 401, "unauthorized")
    assert (await http.get(f"{url}/v1/account", headers=bearer(rotated))).status_code == 200
    # The operator revokes the second key.
    r = await http.delete(
        f"{url}/v1/admin/tenants/{tid}/keys/{second['id']}", headers=shared_server.admin()
    )
    assert r.status_code == 200 and r.json()["revoked_at"]
    r = await http.get(f"{url}/v1/account", headers=bearer(second["key"]))
    assert_problem(r, 401, "unauthorized")


async def test_other_tenants_resources_are_404(
    shared_server: Running, http: httpx.AsyncClient
) -> None:
    url = shared_server.url
    _a, key_a = await new_tenant(http, shared_server)
    _b, key_b = await new_tenant(http, shared_server)
    r = await http.put(f"{url}/v1/workflows/private", content=MAIN, headers=bearer(key_a))
    assert r.status_code == 201, r.text
    sha = r.json()["sha256"]
    for path in (
        "/v1/workflows/private",
        "/v1/workflows/private/versions",
        "/v1/workflows/private/versions/1",
        f"/v1/workflows/private/versions/{sha}",
    ):
        assert (await http.get(url + path, headers=bearer(key_a))).status_code == 200
        assert_problem(await http.get(url + path, headers=bearer(key_b)), 404, "not-found")
    assert (await http.get(f"{url}/v1/workflows", headers=bearer(key_b))).json()["items"] == []
    keys_a = (await http.get(f"{url}/v1/keys", headers=bearer(key_a))).json()["items"]
    r = await http.delete(f"{url}/v1/keys/{keys_a[0]['id']}", headers=bearer(key_b))
    assert_problem(r, 404, "not-found")
    r = await http.post(f"{url}/v1/keys/{keys_a[0]['id']}/rotate", headers=bearer(key_b))
    assert_problem(r, 404, "not-found")
    # Tenant A's key still works: B's attempts changed nothing.
    assert (await http.get(f"{url}/v1/account", headers=bearer(key_a))).status_code == 200
