"""Tenants' named secrets in SQL, sealed with AES-GCM; values go in and never come back out.

Only :class:`SqlSecretSource` (what the egress proxy reads from) decrypts.
Every token is bound to ``"<tenant>/<name>"``, so a row copied to another
tenant or renamed does not decrypt. Listing returns names and timestamps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantflow.db.models.egress import EgressSecret
from tenantflow.egress.errors import SecretDecryptionError, SecretUnavailable
from tenantflow.egress.store.errors import InvalidInput, LimitExceeded, NotFound
from tenantflow.egress.store.keyring import KeyRing

# The names a ``{{secret:NAME}}`` placeholder can carry.
NAME = re.compile(r"[A-Za-z0-9_.\-]{1,100}")
# What a new secret may be called: the same, but not only dots ("." and ".." read as paths).
NEW_NAME = re.compile(r"\.*[A-Za-z0-9_\-][A-Za-z0-9_.\-]*")


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def check_name(name: str) -> str:
    """``name`` if it is a valid secret name, else :class:`InvalidInput`."""
    if not NAME.fullmatch(name):
        raise InvalidInput("secret names are 1-100 characters of letters, digits, '_', '.' and '-'")
    return name


def check_new_name(name: str) -> str:
    """``name`` if a secret may be created with it (names made only of dots may not)."""
    check_name(name)
    if not NEW_NAME.fullmatch(name):
        raise InvalidInput("a secret name needs a letter, digit, '_' or '-', not only dots")
    return name


@dataclass(frozen=True, slots=True)
class SecretInfo:
    """What may be shown about a secret: its name and when it was set."""

    name: str
    created_at: datetime
    updated_at: datetime


def _info(row: EgressSecret) -> SecretInfo:
    return SecretInfo(row.name, aware(row.created_at), aware(row.updated_at))


def _context(tenant: str, name: str) -> str:
    return f"{tenant}/{name}"


class SqlSecretStore:
    """Per-tenant secrets: ``set`` / ``list`` / ``info`` / ``delete``, and re-encryption."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        keys: KeyRing,
        *,
        max_value_bytes: int = 64 * 1024,
        max_per_tenant: int = 500,
    ) -> None:
        self.sessions = sessions
        self.keys = keys
        self.max_value_bytes = max_value_bytes
        self.max_per_tenant = max_per_tenant

    def __repr__(self) -> str:
        return f"SqlSecretStore({self.keys!r})"

    def source(self, tenant: str) -> SqlSecretSource:
        """The :class:`~tenantflow.egress.SecretSource` of ``tenant`` for the egress proxy."""
        return SqlSecretSource(self, tenant)

    async def set(self, tenant: str, name: str, value: str) -> tuple[SecretInfo, bool]:
        """Encrypt and store ``value`` as ``name``; returns its info and whether it is new."""
        check_new_name(name)
        size = len(value.encode("utf-8", "surrogatepass"))
        if not value:
            raise InvalidInput("a secret value may not be empty")
        if size > self.max_value_bytes:
            raise InvalidInput(f"secret values are at most {self.max_value_bytes} bytes")
        box = self.keys.box
        token = box.encrypt(value, context=_context(tenant, name))
        now = datetime.now(UTC)
        for attempt in range(2):
            try:
                return await self._upsert(tenant, name, token, box.primary, now)
            except IntegrityError:
                # Two writers created the same name at once: the second one updates.
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _upsert(
        self, tenant: str, name: str, token: str, key_id: str, now: datetime
    ) -> tuple[SecretInfo, bool]:
        async with self.sessions() as session, session.begin():
            row = await session.get(EgressSecret, (tenant, name), with_for_update=True)
            if row is not None:
                row.token, row.key_id, row.updated_at = token, key_id, now
                return _info(row), False
            count = await session.scalar(
                select(func.count())
                .select_from(EgressSecret)
                .where(EgressSecret.tenant_id == tenant)
            )
            if (count or 0) >= self.max_per_tenant:
                raise LimitExceeded(
                    f"a tenant may hold at most {self.max_per_tenant} secrets",
                    quota="secrets",
                    limit=self.max_per_tenant,
                )
            row = EgressSecret(
                tenant_id=tenant, name=name, token=token, key_id=key_id, created_at=now,
                updated_at=now,
            )  # fmt: skip
            session.add(row)
        return _info(row), True

    async def list(self, tenant: str) -> list[SecretInfo]:
        """The tenant's secrets by name: names and timestamps only."""
        async with self.sessions() as session:
            rows = await session.scalars(
                select(EgressSecret)
                .where(EgressSecret.tenant_id == tenant)
                .order_by(EgressSecret.name)
            )
            return [_info(r) for r in rows]

    async def info(self, tenant: str, name: str) -> SecretInfo:
        """One secret's name and timestamps; :class:`NotFound` if absent."""
        async with self.sessions() as session:
            row = await session.get(EgressSecret, (tenant, name))
            if row is None:
                raise NotFound(f"no secret named {name!r}")
            return _info(row)

    async def delete(self, tenant: str, name: str) -> None:
        """Delete ``name``; :class:`NotFound` if absent."""
        async with self.sessions() as session, session.begin():
            row = await session.get(EgressSecret, (tenant, name))
            if row is None:
                raise NotFound(f"no secret named {name!r}")
            await session.delete(row)

    async def reveal(self, tenant: str, name: str) -> str:
        """The decrypted value, for the egress proxy only. ``KeyError`` if absent."""
        async with self.sessions() as session:
            row = await session.get(EgressSecret, (tenant, name))
        if row is None:
            raise KeyError(name)
        try:
            return self.keys.box.decrypt(row.token, context=_context(tenant, name))
        except SecretDecryptionError:
            raise SecretUnavailable(
                f"secret {name!r} could not be decrypted with the current master keys",
                rule="inject.secret_undecryptable",
            ) from None

    async def reencrypt_all(self, batch: int = 200) -> int:
        """Re-encrypt every row not under the primary key (all tenants); returns the count.

        Loops until no such row is left, so rows written by another process
        under the previous key while this ran are moved too.
        """
        moved = 0
        while True:
            box = self.keys.box
            async with self.sessions() as session, session.begin():
                rows = list(
                    await session.scalars(
                        select(EgressSecret)
                        .where(EgressSecret.key_id != box.primary)
                        .limit(batch)
                        .with_for_update()
                    )
                )
                for row in rows:
                    row.token = box.reencrypt(row.token, context=_context(row.tenant_id, row.name))
                    row.key_id = box.primary
            moved += len(rows)
            if len(rows) < batch:
                return moved

    async def count_by_key(self) -> dict[str, int]:
        """How many rows each master key id seals (for the operator after a rotation)."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(EgressSecret.key_id, func.count()).group_by(EgressSecret.key_id)
            )
            return {str(key_id): int(n) for key_id, n in rows}


class SqlSecretSource:
    """One tenant's secrets as the egress proxy reads them (``get`` decrypts)."""

    def __init__(self, store: SqlSecretStore, tenant: str) -> None:
        self.store = store
        self.tenant = tenant

    def __repr__(self) -> str:
        return f"SqlSecretSource(tenant={self.tenant!r})"

    async def get(self, name: str) -> str:
        """The value of ``name``; ``KeyError`` if the tenant has no such secret."""
        return await self.store.reveal(self.tenant, name)
