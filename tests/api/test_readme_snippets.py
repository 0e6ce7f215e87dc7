"""The README's Python client examples run, as written, against a real server."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from tenantflow.client import Client
from tests.api.conftest import Running

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def _python_blocks() -> list[str]:
    blocks, current, inside = [], [], False
    for line in README.splitlines():
        if line.startswith("```"):
            if inside:
                blocks.append("\n".join(current))
                current = []
            inside = line.strip() == "```python"
            continue
        if inside:
            current.append(line)
    return [b for b in blocks if b.startswith("from tenantflow.client import Client")]


def _tenant_key(srv: Running) -> str:
    with Client(srv.url, srv.admin_key) as admin:
        made = admin.create_tenant("readme " + secrets.token_hex(3))
    assert made.api_key is not None
    return made.api_key.key


def test_the_readme_has_client_examples() -> None:
    assert len(_python_blocks()) >= 2


@pytest.mark.parametrize("index", range(len(_python_blocks())))
def test_client_example_runs(
    shared_server: Running, index: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # examples name files relative to the repository
    key = _tenant_key(shared_server)
    source = _python_blocks()[index]
    source = source.replace('"http://127.0.0.1:8000"', repr(shared_server.url))
    source = source.replace('"tf_..."', repr(key))
    scope: dict[str, Any] = {"url": shared_server.url, "api_key": key, "print": lambda *a: None}
    exec(compile(source, f"README.md python block {index}", "exec"), scope)
