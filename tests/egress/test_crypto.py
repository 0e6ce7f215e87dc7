"""Secrets at rest: AES-GCM round trip, tampering, context binding, rotation, key file mode."""

from __future__ import annotations

import base64
import logging
import os
import stat
from pathlib import Path

import pytest

from tenantflow.egress import (
    EncryptedMemorySecretSource,
    SecretBox,
    SecretDecryptionError,
    rotate_key_file,
)

VALUE = "sk_live_51Habc-the-value"


def test_round_trip_and_fresh_nonce() -> None:
    box = SecretBox.from_key(os.urandom(32))
    first = box.encrypt(VALUE, context="t1/STRIPE")
    second = box.encrypt(VALUE, context="t1/STRIPE")
    assert first != second  # a fresh nonce each time
    assert VALUE not in first
    assert box.decrypt(first, context="t1/STRIPE") == VALUE
    assert box.decrypt(second, context="t1/STRIPE") == VALUE


def test_unicode_values_survive() -> None:
    box = SecretBox.from_key(os.urandom(32))
    token = box.encrypt("pässwörd ✓", context="c")
    assert box.decrypt(token, context="c") == "pässwörd ✓"


def test_tampering_is_detected() -> None:
    box = SecretBox.from_key(os.urandom(32))
    token = box.encrypt(VALUE, context="t1/STRIPE")
    prefix, key_id, blob = token.split(":")
    raw = bytearray(base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4)))
    for index in (0, 12, len(raw) - 1):  # nonce, ciphertext, tag
        flipped = bytearray(raw)
        flipped[index] ^= 0x01
        forged = f"{prefix}:{key_id}:{base64.urlsafe_b64encode(bytes(flipped)).decode()}"
        with pytest.raises(SecretDecryptionError):
            box.decrypt(forged, context="t1/STRIPE")
    with pytest.raises(SecretDecryptionError):
        box.decrypt(token[:-6], context="t1/STRIPE")
    with pytest.raises(SecretDecryptionError):
        box.decrypt("garbage", context="t1/STRIPE")


def test_token_is_bound_to_its_context() -> None:
    box = SecretBox.from_key(os.urandom(32))
    token = box.encrypt(VALUE, context="t1/STRIPE")
    with pytest.raises(SecretDecryptionError):
        box.decrypt(token, context="t2/STRIPE")  # another tenant's row
    with pytest.raises(SecretDecryptionError):
        box.decrypt(token, context="t1/OTHER")  # another name


def test_wrong_key_fails() -> None:
    token = SecretBox.from_key(os.urandom(32)).encrypt(VALUE, context="c")
    with pytest.raises(SecretDecryptionError):
        SecretBox.from_key(os.urandom(32)).decrypt(token, context="c")


def test_config_key_forms_agree() -> None:
    raw = os.urandom(32)
    boxes = [
        SecretBox.from_key(raw),
        SecretBox.from_key(raw.hex()),
        SecretBox.from_key(base64.b64encode(raw).decode()),
    ]
    token = boxes[0].encrypt(VALUE, context="c")
    assert {b.primary for b in boxes} == {boxes[0].primary}
    assert all(b.decrypt(token, context="c") == VALUE for b in boxes)
    with pytest.raises(ValueError):
        SecretBox.from_key("too short")


def test_key_file_created_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    box = SecretBox.from_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = box.encrypt(VALUE, context="c")
    again = SecretBox.from_key_file(path)
    assert again.primary == box.primary
    assert again.decrypt(token, context="c") == VALUE
    assert not [p for p in path.parent.iterdir() if p.name != "master.key"]  # no temp files


async def test_rotation_reencrypts_and_retires_the_old_key(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    source = EncryptedMemorySecretSource(SecretBox.from_key_file(path), tenant="t1")
    source.set("A", "value-a")
    source.set("B", "value-b")
    old_id = source.box.primary

    rotated = rotate_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert rotated.primary != old_id and old_id in rotated.key_ids
    assert source.rotate(rotated) == 2
    assert all(rotated.key_id_of(t) == rotated.primary for t in source.tokens.values())
    assert source.rotate(rotated) == 0  # idempotent

    retired = rotated.without_key(old_id)
    retired.save(path)
    reloaded = SecretBox.from_key_file(path)
    assert reloaded.key_ids == [rotated.primary]
    source.box = reloaded
    assert await source.get("A") == "value-a"
    assert await source.get("B") == "value-b"
    with pytest.raises(ValueError):
        reloaded.without_key(reloaded.primary)


def test_values_and_keys_never_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    raw = os.urandom(32)
    caplog.set_level(logging.DEBUG)
    box = SecretBox.from_key(raw)
    token = box.encrypt(VALUE, context="c")
    box.decrypt(token, context="c")
    source = EncryptedMemorySecretSource(box, "t1")
    source.set("N", VALUE)
    text = repr(box) + repr(source) + caplog.text
    for needle in (VALUE, raw.hex(), base64.b64encode(raw).decode()):
        assert needle not in text
