"""The SQL secret store on SQLite and Postgres: encryption at rest, binding, rotation, limits."""

from __future__ import annotations

import base64
import logging
import os
import stat
from pathlib import Path

import pytest

from tenantflow.egress import SecretBox, SecretUnavailable
from tenantflow.egress.crypto import parse_key
from tenantflow.egress.store import (
    EgressService,
    InvalidInput,
    KeyRing,
    KeyRotationError,
    LimitExceeded,
    NotFound,
)
from tests.egress.sql_support import Db, db, egress_settings, service

__all__ = ["db", "service"]

VALUE = "sk-live-Wq8Z3xY7pL0vR2nB"


def forms(value: str) -> list[bytes]:
    """The spellings of ``value`` that would betray it in stored bytes."""
    raw = value.encode()
    return [
        raw,
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw).rstrip(b"="),
        raw.hex().encode(),
    ]


async def test_values_are_encrypted_at_rest_and_bound_to_tenant_and_name(
    db: Db, service: EgressService
) -> None:
    info, created = await service.secrets.set("t1", "API_TOKEN", VALUE)
    assert created and info.name == "API_TOKEN" and info.created_at.tzinfo is not None
    rows = await db.rows("egress_secrets")
    assert len(rows) == 1
    raw = repr(rows[0]).encode()
    assert not any(form in raw for form in forms(VALUE))
    assert rows[0]["token"].startswith("tfs1:") and rows[0]["key_id"] == service.keys.box.primary
    # Only the proxy's source decrypts; other tenants do not see it.
    assert await service.secrets.source("t1").get("API_TOKEN") == VALUE
    with pytest.raises(KeyError):
        await service.secrets.source("t2").get("API_TOKEN")
    # A token copied to another tenant or name does not decrypt.
    await service.secrets.set("t2", "OTHER", "x" * 12)
    await db.execute(
        "UPDATE egress_secrets SET token = :t WHERE tenant_id = 't2'", t=rows[0]["token"]
    )
    with pytest.raises(SecretUnavailable) as info_t2:
        await service.secrets.source("t2").get("OTHER")
    assert info_t2.value.rule == "inject.secret_undecryptable"
    assert VALUE not in str(info_t2.value)


async def test_set_list_info_delete(service: EgressService) -> None:
    first, created = await service.secrets.set("t1", "B_KEY", "one-value")
    again, created_again = await service.secrets.set("t1", "B_KEY", "two-value")
    assert created and not created_again
    assert again.created_at == first.created_at and again.updated_at >= first.updated_at
    await service.secrets.set("t1", "A_KEY", "three-value")
    assert [s.name for s in await service.secrets.list("t1")] == ["A_KEY", "B_KEY"]
    assert await service.secrets.list("t2") == []
    assert await service.secrets.source("t1").get("B_KEY") == "two-value"
    assert (await service.secrets.info("t1", "A_KEY")).name == "A_KEY"
    await service.secrets.delete("t1", "A_KEY")
    with pytest.raises(NotFound):
        await service.secrets.delete("t1", "A_KEY")
    with pytest.raises(NotFound):
        await service.secrets.info("t2", "B_KEY")
    assert [s.name for s in await service.secrets.list("t1")] == ["B_KEY"]


async def test_refuses_bad_names_empty_and_oversized_values(
    db: Db, tmp_path: Path, service: EgressService
) -> None:
    for name in ("", "has space", "a/b", "x" * 101, "{{secret:A}}", ".", "..", "...", "A\n"):
        with pytest.raises(InvalidInput):
            await service.secrets.set("t1", name, "v")
    for name in (".env", "..x", "a.b", "-_-"):
        await service.secrets.set("t2", name, "v")  # dots are fine next to anything else
    with pytest.raises(InvalidInput):
        await service.secrets.set("t1", "EMPTY", "")
    small = EgressService(
        egress_settings(tmp_path, secrets_max_value_bytes=8, secrets_max_per_tenant=1),
        db.sessions,
    )
    with pytest.raises(InvalidInput) as too_big:
        await small.secrets.set("t1", "BIG", "123456789")
    assert "123456789" not in str(too_big.value)
    await small.secrets.set("t1", "ONE", "1")
    with pytest.raises(LimitExceeded) as full:
        await small.secrets.set("t1", "TWO", "2")
    assert full.value.quota == "secrets" and full.value.limit == 1
    await small.secrets.set("t1", "ONE", "replaced")  # replacing is not a new secret


async def test_key_file_is_created_on_first_use_with_mode_0600(
    tmp_path: Path, service: EgressService
) -> None:
    key_file = tmp_path / "data" / "secrets.key"
    assert not key_file.exists()  # building the service does not create it
    await service.secrets.set("t1", "K", "value-1")
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert VALUE.encode() not in key_file.read_bytes()


async def test_rotation_with_a_key_file_reencrypts_every_row_and_retires_the_old_key(
    db: Db, tmp_path: Path, service: EgressService
) -> None:
    values = {("t1", "A"): "alpha-value-1", ("t1", "B"): "beta-value-2", ("t2", "A"): "gamma-3"}
    for (tenant, name), value in values.items():
        await service.secrets.set(tenant, name, value)
    old = service.keys.box.primary
    # Another process (an API server) has the old key ring loaded.
    other = EgressService(egress_settings(tmp_path), db.sessions)
    assert await other.secrets.source("t1").get("A") == "alpha-value-1"

    report = await service.rotate_master_key()

    new = service.keys.box.primary
    assert new != old and report["reencrypted"] == 3 and report["retired"] == [old]
    assert report["rows_by_key"] == {new: 3}
    assert SecretBox.from_key_file(tmp_path / "data" / "secrets.key").key_ids == [new]
    rows = await db.rows("egress_secrets")
    assert {r["key_id"] for r in rows} == {new}
    assert all(r["token"].split(":")[1] == new for r in rows)
    for (tenant, name), value in values.items():
        assert await service.secrets.source(tenant).get(name) == value
        # The other process notices the new key file and keeps working.
        assert await other.secrets.source(tenant).get(name) == value
    # Nothing left to move on a second run.
    assert (await service.rotate_master_key())["reencrypted"] == 3  # a fresh key again
    assert stat.S_IMODE(os.stat(tmp_path / "data" / "secrets.key").st_mode) == 0o600


async def test_rotation_with_configured_keys(db: Db, tmp_path: Path) -> None:
    k1, k2 = os.urandom(32).hex(), base64.b64encode(os.urandom(32)).decode()
    before = EgressService(egress_settings(tmp_path, secrets_master_key=k1), db.sessions)
    await before.secrets.set("t1", "A", "configured-1")
    await before.secrets.set("t2", "A", "configured-2")
    assert not (tmp_path / "data" / "secrets.key").exists()  # no key file in config mode
    with pytest.raises(KeyRotationError):
        before.keys.add_primary()
    # The operator sets the new key and keeps the old one readable, then rotates.
    during = EgressService(
        egress_settings(tmp_path, secrets_master_key=k2, secrets_previous_keys=k1), db.sessions
    )
    report = await during.rotate_master_key()
    assert report["reencrypted"] == 2 and not report["new_key"]
    after = EgressService(egress_settings(tmp_path, secrets_master_key=k2), db.sessions)
    assert await after.secrets.source("t1").get("A") == "configured-1"
    assert await after.secrets.source("t2").get("A") == "configured-2"
    # The old key alone no longer opens anything.
    with pytest.raises(SecretUnavailable):
        await before.secrets.source("t1").get("A")
    assert KeyRing(master_key=k2).box.primary == report["primary"]
    assert parse_key(k2) != parse_key(k1)


async def test_no_secret_value_in_any_log_line(
    caplog: pytest.LogCaptureFixture, service: EgressService
) -> None:
    caplog.set_level(logging.DEBUG)
    await service.secrets.set("t1", "LOGGED", VALUE)
    assert await service.secrets.source("t1").get("LOGGED") == VALUE
    await service.rotate_master_key()
    await service.secrets.delete("t1", "LOGGED")
    assert VALUE not in caplog.text
    assert VALUE not in repr(service) + repr(service.secrets) + repr(service.keys)


async def test_moving_from_the_key_file_to_a_configured_key(db: Db, tmp_path: Path) -> None:
    filed = EgressService(egress_settings(tmp_path), db.sessions)
    await filed.secrets.set("t1", "A", "from-the-file-era")
    configured_key = os.urandom(32).hex()
    configured = EgressService(
        egress_settings(tmp_path, secrets_master_key=configured_key), db.sessions
    )
    assert await configured.secrets.source("t1").get("A") == "from-the-file-era"
    assert (await configured.rotate_master_key())["reencrypted"] == 1
    (tmp_path / "data" / "secrets.key").unlink()
    alone = EgressService(egress_settings(tmp_path, secrets_master_key=configured_key), db.sessions)
    assert await alone.secrets.source("t1").get("A") == "from-the-file-era"
