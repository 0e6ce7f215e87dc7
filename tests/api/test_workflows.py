"""Workflow upload over HTTP: versions, no-op re-uploads, bad bundles, size quota."""

from __future__ import annotations

import io
import zipfile

import httpx
import pytest

from tests.api.conftest import Running, assert_problem, bearer, new_tenant

MAIN = b"def run(event, step):\n    return event\n"


def zipped(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


async def test_versions_are_content_addressed(
    shared_server: Running, http: httpx.AsyncClient
) -> None:
    url, (_t, key) = shared_server.url, await new_tenant(http, shared_server)
    h = bearer(key)
    first = await http.put(f"{url}/v1/workflows/orders", content=MAIN, headers=h)
    assert first.status_code == 201 and first.json()["version"] == 1
    again = await http.put(f"{url}/v1/workflows/orders", content=MAIN, headers=h)
    assert again.status_code == 200 and again.json()["version"] == 1
    assert again.json()["sha256"] == first.json()["sha256"]
    bundle = zipped(
        {
            "main.py": b"from lib.util import twice\n\ndef run(event, step):\n"
            b"    return twice(event)\n",
            "lib/__init__.py": b"",
            "lib/util.py": b"def twice(x):\n    return x * 2\n",
        }
    )
    second = await http.put(f"{url}/v1/workflows/orders", content=bundle, headers=h)
    assert second.status_code == 201, second.text
    assert second.json()["version"] == 2 and second.json()["kind"] == "zip"
    latest = (await http.get(f"{url}/v1/workflows/orders/versions/latest", headers=h)).json()
    assert latest["version"] == 2
    versions = (await http.get(f"{url}/v1/workflows/orders/versions", headers=h)).json()["items"]
    assert [v["version"] for v in versions] == [2, 1]
    # Re-uploading version 1's bytes is a no-op: latest stays at 2.
    assert (
        await http.put(f"{url}/v1/workflows/orders", content=MAIN, headers=h)
    ).status_code == 200
    wf = (await http.get(f"{url}/v1/workflows/orders", headers=h)).json()
    assert wf["latest_version"] == 2


BAD = [
    (b"def run(event, step)\n    return 1\n", "SyntaxError"),
    (b"def handler(event, step):\n    return 1\n", "no run"),
    (b"raise RuntimeError('boom at import')\n", "boom at import"),
    (b"import not_a_module_anywhere\n", "ModuleNotFoundError"),
    (b"x = '\xff\xfe'\n", "not UTF-8"),
    (zipped({"main.py": MAIN, "../../etc/evil.py": b"x = 1\n"}), "path traversal"),
    (zipped({"main.py": MAIN, "zeros.txt": b"\0" * (8 * 1024 * 1024)}), "zip bomb"),
    (zipped({"main.py": MAIN, "ext.so": b"\x7fELF"}), "native code"),
    (zipped({"helpers.py": MAIN}), "no main.py"),
    (zipped({"main.py": MAIN, "lib/bad.py": b"def broken(:\n"}), "lib/bad.py"),
]


@pytest.mark.parametrize(("body", "text"), BAD)
async def test_bad_bundles_are_refused_with_the_reason(
    shared_server: Running, http: httpx.AsyncClient, body: bytes, text: str
) -> None:
    url, (_t, key) = shared_server.url, await new_tenant(http, shared_server)
    r = await http.put(f"{url}/v1/workflows/bad", content=body, headers=bearer(key))
    problem = assert_problem(r, 422, "invalid-bundle")
    assert text in problem["detail"] + problem.get("guest_error", ""), problem
    assert_problem(await http.get(f"{url}/v1/workflows/bad", headers=bearer(key)), 404, "not-found")


async def test_bundle_size_quota_and_hard_cap(
    shared_server: Running, http: httpx.AsyncClient
) -> None:
    url = shared_server.url
    _t, key = await new_tenant(http, shared_server, max_bundle_bytes=4096)
    big = MAIN + b"#" * 5000 + b"\n"
    problem = assert_problem(
        await http.put(f"{url}/v1/workflows/big", content=big, headers=bearer(key)),
        413,
        "quota-exceeded",
    )
    assert problem["quota"] == "max_bundle_bytes" and problem["limit"] == 4096
    # Past the server's hard upload cap the body is refused before it is read.
    huge = b"#" * (shared_server.settings.api_max_upload_bytes + 1)
    assert_problem(
        await http.put(f"{url}/v1/workflows/big", content=huge, headers=bearer(key)),
        413,
        "request-too-large",
    )


async def test_fastapi_errors_are_problems(shared_server: Running, http: httpx.AsyncClient) -> None:
    url, (_t, key) = shared_server.url, await new_tenant(http, shared_server)
    h = bearer(key)
    assert_problem(await http.get(f"{url}/nowhere", headers=h), 404, "not-found")
    assert_problem(await http.delete(f"{url}/v1/workflows", headers=h), 405, "method-not-allowed")
    assert_problem(
        await http.put(f"{url}/v1/workflows/bad%20name", content=MAIN, headers=h),
        422,
        "validation-error",
    )
    r = await http.post(
        f"{url}/v1/keys", content=b"{not json", headers={**h, "Content-Type": "application/json"}
    )
    assert_problem(r, 422, "validation-error")
    r = await http.post(f"{url}/v1/keys", json={"name": "x" * 5000}, headers=h)
    assert_problem(r, 422, "validation-error")
    big = b'{"name": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    r = await http.post(
        f"{url}/v1/keys", content=big, headers={**h, "Content-Type": "application/json"}
    )
    assert_problem(r, 413, "request-too-large")
