"""Fuzz every operation of /openapi.json with schemathesis: no 5xx, every error is problem+json.

Bounded: a few dozen generated cases per operation (about a minute in all).
Tenant routes get a tenant key, admin routes the admin key, so the fuzzer
reaches past authentication into validation and the handlers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import response_schema_conformance

from tests.api.conftest import PROBLEM, Running, run_server, server_settings

EXAMPLES = 20
"""Cases per operation and mode: about a minute for the whole API."""
HELLO = b"def run(event, step):\n    return step.do('greet', lambda: event)\n"


@schemathesis.serializer("application/x-tar", "application/zip", "text/x-python")
def _raw_bytes(ctx: Any, value: Any) -> bytes:
    # Binary uploads: the generated value (bytes or text) is sent as it is.
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, str]]:
    with run_server(server_settings(tmp_path_factory.mktemp("fuzz"))) as running:
        admin = {"Authorization": f"Bearer {running.admin_key}"}
        made = httpx.post(
            f"{running.url}/v1/admin/tenants", json={"name": "fuzz", "id": "fuzz"}, headers=admin
        ).json()
        key = made["api_key"]["key"]
        tenant = {"Authorization": f"Bearer {key}"}
        httpx.put(f"{running.url}/v1/workflows/hello", content=HELLO, headers=tenant, timeout=60)
        httpx.post(f"{running.url}/v1/workflows/hello/instances", json={}, headers=tenant)
        yield running, key


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_and_problem_json(
    fuzz_target: tuple[Running, str], mode: GenerationMode
) -> None:
    running, key = fuzz_target
    schema = schemathesis.openapi.from_url(f"{running.url}/openapi.json")
    failures: list[str] = []
    calls: list[int] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        admin_route = operation.path.startswith("/v1/admin") or operation.path == "/metrics"
        token = running.admin_key if admin_route else key

        @given(case=operation.as_strategy(generation_mode=mode), auth=st.just(f"Bearer {token}"))
        @settings(
            max_examples=EXAMPLES, deadline=None, database=None,
            suppress_health_check=list(HealthCheck), derandomize=True,
        )  # fmt: skip
        def fuzz(case: Case, auth: str) -> None:
            case.headers = {**(case.headers or {}), "Authorization": auth}
            response = case.call(base_url=running.url)
            calls.append(response.status_code)
            problem = check(case, response)
            if problem:
                failures.append(f"{case.method} {case.formatted_path}: {problem}")

        try:
            fuzz()
        except Unsatisfiable:
            # Nothing invalid can be said to this operation (no parameters, no body).
            assert mode is GenerationMode.NEGATIVE, operation.label
    assert operations >= 20, operations
    assert len(calls) >= operations * 3, len(calls)
    assert not failures, "\n".join(failures[:20])


def check(case: Case, response: Any) -> str | None:
    """What is wrong with one response, or None."""
    status = response.status_code
    if status >= 500:
        return f"{status}: {response.text[:300]}"
    if status < 400:
        try:
            case.validate_response(response, checks=[response_schema_conformance])
        except Exception as exc:  # schemathesis raises a failure group; report it
            return f"{status} does not match its schema: {str(exc)[:300]}"
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    if not content_type.startswith(PROBLEM):
        return f"{status} is {content_type}: {response.text[:200]}"
    body = response.json()
    if not (
        str(body.get("type", "")).startswith("/problems/")
        and body.get("status") == status
        and isinstance(body.get("title"), str)
        and isinstance(body.get("detail"), str)
    ):
        return f"{status} problem body is incomplete: {body}"
    return None
