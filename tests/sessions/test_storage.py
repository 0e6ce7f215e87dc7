"""Session metadata on SQLite and on Postgres: the same operations, and a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tenantflow.db import create_engine, session_factory
from tenantflow.db.session import migrate_sync
from tenantflow.sandbox import Sandbox
from tenantflow.sessions import SessionManager, SessionNotFound, SessionSpec
from tenantflow.sessions.egress import StaticEgress
from tests.conftest import make_settings


async def test_sessions_and_snapshots_persist(
    database_url: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path / "data", database_url=database_url)
    await asyncio.to_thread(migrate_sync, settings.resolved_database_url)
    db = create_engine(settings.resolved_database_url)
    egress = StaticEgress()
    try:
        first = await SessionManager(settings, session_factory(db), sandbox, egress=egress).start()
        a = await first.create("tenant_a", SessionSpec(name="one", env={"K": "V"}))
        b = await first.create("tenant_b", SessionSpec(name="two"))
        await first.files.write("tenant_a", a.id, "f.txt", b"data")
        snap = await first.snapshots.create("tenant_a", a.id, "label")
        await first.close()

        second = await SessionManager(settings, session_factory(db), sandbox, egress=egress).start()
        [listed] = await second.list("tenant_a")
        assert (listed.id, listed.spec.name, listed.spec.env) == (a.id, "one", {"K": "V"})
        assert [s.id for s in await second.list("tenant_b")] == [b.id]
        with pytest.raises(SessionNotFound):
            await second.get("tenant_b", a.id)
        [stored] = await second.snapshots.list("tenant_a", a.id)
        assert (stored.id, stored.sha256, stored.label) == (snap.id, snap.sha256, "label")
        r = await second.python(
            "tenant_a", a.id, "import os\n(open('f.txt').read(), os.environ['K'])"
        )
        assert r.result == "('data', 'V')"
        await second.delete("tenant_a", a.id)
        assert await second.list("tenant_a") == []
        await second.close()
    finally:
        await egress.aclose()
        await db.dispose()
