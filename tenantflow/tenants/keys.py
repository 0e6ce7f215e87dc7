"""API keys: random, shown once, stored as a SHA-256, listed by prefix, rotated and revoked.

A key looks like ``tf_<prefix>_<secret>``. The prefix (public, unique) finds
the row; the SHA-256 of the whole key proves it. The secret has 256 bits of
entropy, so a fast hash is enough (no password stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantflow.db.models.tenants import ApiKey
from tenantflow.tenants._singleflight import SingleFlight
from tenantflow.tenants.errors import NotFoundError

KEY_PREFIX = "tf_"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A newly made key: ``secret`` is the whole key, shown to the caller once."""

    row: ApiKey
    secret: str


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh ``(prefix, key)``."""
    prefix = secrets.token_hex(6)
    return prefix, f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"


def parse_prefix(key: str) -> str | None:
    """The prefix of a well-formed key, else None."""
    if not key.startswith(KEY_PREFIX):
        return None
    prefix, sep, secret = key[len(KEY_PREFIX) :].partition("_")
    if not sep or not prefix or not secret or len(prefix) > 32:
        return None
    return prefix


def _now() -> datetime:
    return datetime.now(UTC)


class KeyStore:
    """Tenants' API keys, with a short-lived cache of verified keys for the hot path."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], cache_seconds: float) -> None:
        self.sessions = sessions
        self.cache_seconds = cache_seconds
        # key hash -> (tenant id, key id, expires at monotonic)
        self._cache: dict[str, tuple[str, str, float]] = {}
        self._flight: SingleFlight[str, str | None] = SingleFlight()

    async def issue(self, tenant_id: str, name: str) -> IssuedKey:
        """Make a key for ``tenant_id``."""
        prefix, key = new_key()
        row = ApiKey(
            id=f"key_{secrets.token_hex(8)}",
            tenant_id=tenant_id,
            name=name,
            prefix=prefix,
            secret_hash=hash_key(key),
            created_at=_now(),
        )
        async with self.sessions() as session, session.begin():
            session.add(row)
        return IssuedKey(row, key)

    async def list(self, tenant_id: str) -> list[ApiKey]:
        """The tenant's keys, oldest first (prefixes only, never secrets)."""
        async with self.sessions() as session:
            rows = await session.scalars(
                select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at)
            )
            return list(rows)

    async def revoke(self, tenant_id: str, key_id: str) -> ApiKey:
        """Revoke a key now (idempotent)."""
        async with self.sessions() as session, session.begin():
            row = await session.get(ApiKey, key_id)
            if row is None or row.tenant_id != tenant_id:
                raise NotFoundError(f"tenant {tenant_id!r} has no key {key_id!r}")
            if row.revoked_at is None:
                row.revoked_at = _now()
        self._forget(key_id)
        return row

    async def rotate(self, tenant_id: str, key_id: str) -> IssuedKey:
        """Issue a replacement for a key (same name) and revoke the old one."""
        async with self.sessions() as session:
            row = await session.get(ApiKey, key_id)
        if row is None or row.tenant_id != tenant_id:
            raise NotFoundError(f"tenant {tenant_id!r} has no key {key_id!r}")
        issued = await self.issue(tenant_id, row.name)
        await self.revoke(tenant_id, key_id)
        return issued

    async def authenticate(self, key: str) -> str | None:
        """The tenant id a valid, unrevoked key belongs to, else None."""
        digest = hash_key(key)
        hit = self._cache.get(digest)
        now = time.monotonic()
        if hit is not None and hit[2] > now:
            return hit[0]
        prefix = parse_prefix(key)
        if prefix is None:
            return None
        return await self._flight.do(digest, lambda: self._lookup(prefix, digest))

    async def _lookup(self, prefix: str, digest: str) -> str | None:
        async with self.sessions() as session:
            row = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.secret_hash, digest):
            return None
        if self.cache_seconds > 0:
            expires = time.monotonic() + self.cache_seconds
            self._cache[digest] = (row.tenant_id, row.id, expires)
        return row.tenant_id

    def _forget(self, key_id: str) -> None:
        for digest, (_tenant, cached_id, _exp) in list(self._cache.items()):
            if cached_id == key_id:
                del self._cache[digest]

    def forget_tenant(self, tenant_id: str) -> None:
        """Drop cached keys of a tenant (after it is deleted)."""
        for digest, (tenant, _id, _exp) in list(self._cache.items()):
            if tenant == tenant_id:
                del self._cache[digest]
