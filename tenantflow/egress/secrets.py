"""Where the proxy reads secret values: the small :class:`SecretSource` protocol.

The SQL-backed source (per-tenant rows encrypted with
:class:`~tenantflow.egress.crypto.SecretBox`) comes with the API; the two
in-memory sources here serve embedding and tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from tenantflow.egress.crypto import SecretBox


class SecretSource(Protocol):
    """A tenant's named secrets. ``get`` raises ``KeyError`` for an unknown name."""

    async def get(self, name: str) -> str:
        """The value of secret ``name``."""
        ...


class MemorySecretSource:
    """Secrets held in a plain dict (tests, embedding). Values never appear in ``repr``."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = dict(values or {})

    def __repr__(self) -> str:
        return f"MemorySecretSource(names={sorted(self._values)!r})"

    def set(self, name: str, value: str) -> None:
        """Store or replace ``name``."""
        self._values[name] = value

    async def get(self, name: str) -> str:
        """The value of ``name``; ``KeyError`` if unknown."""
        return self._values[name]


class EncryptedMemorySecretSource:
    """Secrets kept encrypted in memory with a :class:`SecretBox`, decrypted on ``get``.

    Shows the at-rest contract the SQL source follows: tokens are bound to
    ``"<tenant>/<name>"``, so a token moved to another tenant or name fails.
    """

    def __init__(self, box: SecretBox, tenant: str) -> None:
        self.box = box
        self.tenant = tenant
        self.tokens: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"EncryptedMemorySecretSource(tenant={self.tenant!r}, names={sorted(self.tokens)!r})"

    def context(self, name: str) -> str:
        """The associated data a token for ``name`` is bound to."""
        return f"{self.tenant}/{name}"

    def set(self, name: str, value: str) -> None:
        """Encrypt and store ``name``."""
        self.tokens[name] = self.box.encrypt(value, context=self.context(name))

    async def get(self, name: str) -> str:
        """Decrypt ``name``; ``KeyError`` if unknown."""
        return self.box.decrypt(self.tokens[name], context=self.context(name))

    def rotate(self, box: SecretBox) -> int:
        """Switch to ``box`` and re-encrypt every token under its primary key; returns the count."""
        changed = 0
        for name, token in self.tokens.items():
            if box.needs_reencrypt(token):
                self.tokens[name] = box.reencrypt(token, context=self.context(name))
                changed += 1
        self.box = box
        return changed
