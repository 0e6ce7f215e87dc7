"""Session metadata in SQL: the one module that reads and writes the session tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantflow.db.models.sessions import AgentSession, SessionSnapshot
from tenantflow.sessions.errors import SessionNotFound


class SessionStore:
    """Rows of ``agent_sessions`` and ``session_snapshots``, always scoped by tenant."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add_session(self, row: AgentSession) -> None:
        """Insert a new session row."""
        async with self._sessions() as db, db.begin():
            db.add(row)

    async def session(self, tenant: str, session_id: str) -> AgentSession:
        """The tenant's session; :class:`SessionNotFound` for anyone else's or a missing one."""
        async with self._sessions() as db:
            row = await db.get(AgentSession, session_id)
        if row is None or row.tenant_id != tenant:
            raise SessionNotFound(f"no session {session_id!r}")
        return row

    async def sessions(self, tenant: str, limit: int = 1000) -> list[AgentSession]:
        """The tenant's sessions, newest first."""
        query = (
            select(AgentSession)
            .where(AgentSession.tenant_id == tenant)
            .order_by(AgentSession.created_at.desc())
            .limit(limit)
        )
        async with self._sessions() as db:
            return list((await db.scalars(query)).all())

    async def count(self, tenant: str) -> int:
        """How many sessions the tenant has."""
        query = (
            select(func.count()).select_from(AgentSession).where(AgentSession.tenant_id == tenant)
        )
        async with self._sessions() as db:
            return int((await db.scalar(query)) or 0)

    async def touch(self, session_id: str, when: datetime) -> None:
        """Record the last activity time."""
        async with self._sessions() as db, db.begin():
            await db.execute(
                update(AgentSession)
                .where(AgentSession.id == session_id)
                .values(last_active_at=when)
            )

    async def delete_session(self, tenant: str, session_id: str) -> None:
        """Remove the session's row and its snapshots' rows."""
        async with self._sessions() as db, db.begin():
            await db.execute(
                delete(SessionSnapshot).where(
                    SessionSnapshot.tenant_id == tenant, SessionSnapshot.session_id == session_id
                )
            )
            await db.execute(
                delete(AgentSession).where(
                    AgentSession.tenant_id == tenant, AgentSession.id == session_id
                )
            )

    # -- snapshots ----------------------------------------------------------------

    async def add_snapshot(self, row: SessionSnapshot) -> None:
        """Insert a snapshot row (after its file is on disk)."""
        async with self._sessions() as db, db.begin():
            db.add(row)

    async def snapshot(self, tenant: str, snapshot_id: str) -> SessionSnapshot:
        """The tenant's snapshot; :class:`SessionNotFound` otherwise."""
        async with self._sessions() as db:
            row = await db.get(SessionSnapshot, snapshot_id)
        if row is None or row.tenant_id != tenant:
            raise SessionNotFound(f"no snapshot {snapshot_id!r}")
        return row

    async def snapshots(self, tenant: str, session_id: str) -> list[SessionSnapshot]:
        """A session's snapshots, newest first."""
        query = (
            select(SessionSnapshot)
            .where(SessionSnapshot.tenant_id == tenant, SessionSnapshot.session_id == session_id)
            .order_by(SessionSnapshot.created_at.desc())
        )
        async with self._sessions() as db:
            return list((await db.scalars(query)).all())

    async def delete_snapshot(self, tenant: str, snapshot_id: str) -> None:
        """Remove a snapshot row."""
        async with self._sessions() as db, db.begin():
            await db.execute(
                delete(SessionSnapshot).where(
                    SessionSnapshot.tenant_id == tenant, SessionSnapshot.id == snapshot_id
                )
            )
