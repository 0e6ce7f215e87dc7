"""Secret names over HTTP: what ``PUT /v1/secrets/{name}`` accepts and refuses.

Requests are sent with the name percent-encoded (as :mod:`tenantflow.client` does),
so dot segments reach the server instead of being resolved away by URL normalisation.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
import pytest

from tests.api.conftest import Running, assert_problem, bearer, new_tenant

OLD_PATTERN = re.compile(r"[A-Za-z0-9_.\-]{1,100}")
"""What a secret name could be before names of only dots were refused."""

STILL_VALID = [
    "API_TOKEN",
    "a",
    "-",
    "_",
    "9",
    ".env",
    "a.b",
    "..a",
    "a..",
    ".-.",
    "._",
    "x" * 100,
    "." * 99 + "a",
]
REFUSED = [
    ".",
    "..",
    "...",
    "." * 100,
    "x" * 101,
    "a\n",  # '$' must not match before a trailing newline
    "a b",
    "é",
    "a:b",
]


def encoded(name: str) -> str:
    """The name as one path segment, dots included (``%2E``)."""
    return quote(name, safe="").replace(".", "%2E")


def test_the_cases_are_what_they_claim() -> None:
    """Every still-valid name was valid before; the refused ones are only dots or were
    never valid (the test would prove nothing otherwise)."""
    assert all(OLD_PATTERN.fullmatch(name) for name in STILL_VALID)
    for name in REFUSED:
        assert set(name) == {"."} or not OLD_PATTERN.fullmatch(name), name


@pytest.fixture
async def tenant_key(http: httpx.AsyncClient, shared_server: Running) -> str:
    _, key = await new_tenant(http, shared_server)
    return key


async def test_names_of_only_dots_are_refused(
    http: httpx.AsyncClient, shared_server: Running, tenant_key: str
) -> None:
    url, h = f"{shared_server.url}/v1/secrets", bearer(tenant_key)
    for name in REFUSED:
        r = await http.put(f"{url}/{encoded(name)}", json={"value": "v"}, headers=h)
        body = assert_problem(r, 422, "validation-error")
        assert body["errors"][0]["loc"] == ["path", "name"], (name, body)
    assert (await http.get(url, headers=h)).json()["items"] == []


async def test_every_other_valid_name_stays_valid(
    http: httpx.AsyncClient, shared_server: Running, tenant_key: str
) -> None:
    url, h = f"{shared_server.url}/v1/secrets", bearer(tenant_key)
    for name in STILL_VALID:
        r = await http.put(f"{url}/{encoded(name)}", json={"value": "v"}, headers=h)
        assert r.status_code == 201, (name, r.text)
        assert r.json()["name"] == name
        got = await http.get(f"{url}/{encoded(name)}", headers=h)
        assert got.status_code == 200 and got.json()["name"] == name
    listed = [s["name"] for s in (await http.get(url, headers=h)).json()["items"]]
    assert sorted(listed) == sorted(STILL_VALID)
    for name in STILL_VALID:
        assert (await http.delete(f"{url}/{encoded(name)}", headers=h)).status_code == 204


async def test_reading_and_deleting_accept_names_set_before_the_rule(
    http: httpx.AsyncClient, shared_server: Running, tenant_key: str
) -> None:
    """``GET`` and ``DELETE`` still take only-dots names (a 404 here, not a 422), so a
    secret stored under one before they were refused can still be seen and removed."""
    url, h = f"{shared_server.url}/v1/secrets", bearer(tenant_key)
    for name in (".", ".."):
        assert_problem(await http.get(f"{url}/{encoded(name)}", headers=h), 404, "not-found")
        assert_problem(await http.delete(f"{url}/{encoded(name)}", headers=h), 404, "not-found")
