"""Secrets at rest: AES-256-GCM with named keys, so a key rotation re-encrypts.

A :class:`SecretBox` holds one or more 32-byte keys, each with a short id; new
ciphertexts use the primary key and carry its id, so old ciphertexts stay
readable until :meth:`SecretBox.reencrypt` moves them to the primary key.

The ``context`` argument (for example ``"tenant-id/SECRET_NAME"``) is bound to
the ciphertext as associated data: a row copied to another tenant or name does
not decrypt. Values and keys are never logged and never appear in ``repr``.

Token format (ASCII, fits a TEXT column): ``tfs1:<key id>:<base64url(nonce|ct)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tenantflow.egress.errors import SecretDecryptionError

_PREFIX = "tfs1"
_NONCE_BYTES = 12
KEY_BYTES = 32


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_key(key: bytes | str) -> bytes:
    """A 32-byte key from raw bytes, or from base64 / hex text (as config holds it)."""
    if isinstance(key, bytes) and len(key) == KEY_BYTES:
        return key
    text = key.decode("ascii") if isinstance(key, bytes) else key
    text = text.strip()
    for decode in (bytes.fromhex, _b64d):
        try:
            raw = decode(text)
        except (ValueError, binascii.Error):
            continue
        if len(raw) == KEY_BYTES:
            return raw
    raise ValueError("a master key must be 32 bytes (raw, hex or base64)")


def key_id_for(key: bytes) -> str:
    """A stable, non-secret id for ``key`` (a hash prefix: the key cannot be recovered)."""
    return hashlib.sha256(b"tenantflow-key-id\x00" + key).hexdigest()[:12]


class SecretBox:
    """Encrypts and decrypts secret values with AES-256-GCM under named keys."""

    def __init__(self, keys: Mapping[str, bytes], primary: str) -> None:
        if primary not in keys:
            raise ValueError(f"primary key id {primary!r} is not among the keys")
        for key_id, key in keys.items():
            if len(key) != KEY_BYTES or ":" in key_id or not key_id:
                raise ValueError(f"key {key_id!r} must be 32 bytes with an id without ':'")
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._raw = dict(keys)
        self.primary = primary

    def __repr__(self) -> str:
        return f"SecretBox(primary={self.primary!r}, key_ids={sorted(self._keys)!r})"

    @classmethod
    def from_key(cls, key: bytes | str) -> SecretBox:
        """A box with one key given by configuration (raw, hex or base64)."""
        raw = parse_key(key)
        key_id = key_id_for(raw)
        return cls({key_id: raw}, key_id)

    @classmethod
    def from_key_file(cls, path: Path) -> SecretBox:
        """Load the key ring at ``path``, creating it (mode 0600) with a fresh key if absent."""
        if not path.exists():
            raw = AESGCM.generate_key(bit_length=256)
            key_id = key_id_for(raw)
            _write_key_file(path, {key_id: raw}, key_id, create_only=True)
        data = json.loads(path.read_text("utf-8"))
        keys = {str(k): _b64d(str(v)) for k, v in dict(data["keys"]).items()}
        return cls(keys, str(data["primary"]))

    @property
    def key_ids(self) -> list[str]:
        """Ids of every key this box can decrypt with."""
        return sorted(self._keys)

    def encrypt(self, value: str, *, context: str) -> str:
        """Encrypt ``value`` under the primary key, bound to ``context``."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self.primary].encrypt(
            nonce, value.encode("utf-8"), self._aad(self.primary, context)
        )
        return f"{_PREFIX}:{self.primary}:{_b64e(nonce + sealed)}"

    def decrypt(self, token: str, *, context: str) -> str:
        """Decrypt ``token``; raises :class:`SecretDecryptionError` if it was tampered with,
        was bound to another context, or uses a key this box does not hold."""
        key_id, blob = self._split(token)
        aead = self._keys.get(key_id)
        if aead is None:
            raise SecretDecryptionError(f"unknown key id {key_id!r}")
        if len(blob) < _NONCE_BYTES + 16:
            raise SecretDecryptionError("ciphertext is truncated")
        try:
            plain = aead.decrypt(
                blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], self._aad(key_id, context)
            )
        except InvalidTag:
            raise SecretDecryptionError("ciphertext failed authentication") from None
        return plain.decode("utf-8")

    def key_id_of(self, token: str) -> str:
        """The id of the key that encrypted ``token``."""
        return self._split(token)[0]

    def needs_reencrypt(self, token: str) -> bool:
        """Whether ``token`` is under a key other than the primary one."""
        return self.key_id_of(token) != self.primary

    def reencrypt(self, token: str, *, context: str) -> str:
        """``token`` re-encrypted under the primary key (unchanged if already there)."""
        if not self.needs_reencrypt(token):
            return token
        return self.encrypt(self.decrypt(token, context=context), context=context)

    def with_new_primary(self, key: bytes | None = None) -> SecretBox:
        """A box whose primary is ``key`` (fresh if omitted), still holding the old keys."""
        raw = key if key is not None else AESGCM.generate_key(bit_length=256)
        key_id = key_id_for(raw)
        return SecretBox({**self._raw, key_id: raw}, key_id)

    def without_key(self, key_id: str) -> SecretBox:
        """A box that no longer holds ``key_id`` (after every token was re-encrypted)."""
        if key_id == self.primary:
            raise ValueError("cannot retire the primary key")
        return SecretBox({k: v for k, v in self._raw.items() if k != key_id}, self.primary)

    def save(self, path: Path) -> None:
        """Write this key ring to ``path`` atomically, mode 0600."""
        _write_key_file(path, self._raw, self.primary)

    @staticmethod
    def _aad(key_id: str, context: str) -> bytes:
        return f"{_PREFIX}\x00{key_id}\x00{context}".encode()

    @staticmethod
    def _split(token: str) -> tuple[str, bytes]:
        parts = token.split(":")
        if len(parts) != 3 or parts[0] != _PREFIX:
            raise SecretDecryptionError("not a tenantflow secret token")
        try:
            return parts[1], _b64d(parts[2])
        except (ValueError, binascii.Error):
            raise SecretDecryptionError("ciphertext is not valid base64") from None


def rotate_key_file(path: Path) -> SecretBox:
    """Add a fresh primary key to the key file at ``path`` and return the new box.

    Old keys stay in the file so stored tokens still decrypt; re-encrypt them
    with :meth:`SecretBox.reencrypt`, then drop the old key with
    :meth:`SecretBox.without_key` and :meth:`SecretBox.save`.
    """
    box = SecretBox.from_key_file(path).with_new_primary()
    box.save(path)
    return box


def _write_key_file(
    path: Path, keys: Mapping[str, bytes], primary: str, *, create_only: bool = False
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"primary": primary, "keys": {k: _b64e(v) for k, v in keys.items()}})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    # O_EXCL + 0600 at creation: the key is never readable by others, not even briefly.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        if create_only:
            # Two processes starting at once: the first key file wins, the
            # other process reads it (replacing it would orphan ciphertexts).
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
