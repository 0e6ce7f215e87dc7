"""Settings of agent sessions (``TENANTFLOW_SESSION_*``), with their defaults."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class SessionSettings(BaseSettings):
    """Every number an operator might tune about sessions."""

    model_config = SettingsConfigDict(env_prefix="TENANTFLOW_SESSION_", extra="ignore")

    idle_ttl_seconds: float = Field(
        300.0, gt=0, description="A warm session's sandbox is released after this idle time."
    )
    reap_interval_seconds: float = Field(
        5.0, gt=0, description="How often idle sessions are looked for (capped at a quarter TTL)."
    )
    workspace_bytes: int = Field(
        100 * MiB, ge=1024, description="Default and largest workspace size of one session."
    )
    max_warm_per_tenant: int = Field(
        8,
        ge=1,
        description="Warm sessions (live interpreters) per tenant; the LRU idle one "
        "hibernates to make room.",
    )
    max_warm_total: int = Field(
        256, ge=1, description="Warm sessions in this process, all tenants together (memory)."
    )
    max_sessions_per_tenant: int = Field(100, ge=1, description="Sessions one tenant may keep.")
    call_seconds: float = Field(30.0, gt=0, description="Default deadline of one exec call.")
    max_call_seconds: float = Field(600.0, gt=0, description="Longest deadline a call may ask.")
    memory_bytes: int = Field(256 * MiB, ge=16 * MiB, description="Default guest memory cap.")
    max_memory_bytes: int = Field(1024 * MiB, ge=16 * MiB, description="Largest memory cap.")
    output_bytes: int = Field(1 * MiB, ge=1024, description="stdout (and stderr) cap per call.")
    max_file_bytes: int = Field(
        50 * MiB, ge=1024, description="Largest file read or written through the files API."
    )
    max_snapshots_per_session: int = Field(20, ge=1, description="Snapshots kept per session.")
    max_tools: int = Field(64, ge=0, description="Tools one session may declare.")
    tool_call_record_bytes: int = Field(
        2048, ge=64, description="Arguments of a listed tool call are cut at this JSON size."
    )
    prewarm: bool = Field(
        True, description="Keep pre-booted interpreters per tenant so a wake skips CPython boot."
    )
