"""Pydantic shapes the domain packages validate with and the API sends as they are.

An egress policy patch, a session's limits, and its tools with their targets.
They live here, pydantic only, so that :mod:`tenantflow.egress`,
:mod:`tenantflow.sessions` and the session wire models share one schema while
the client (which imports the wire models) loads neither wasmtime nor
SQLAlchemy. The domain packages re-export them under their old names.
"""

from __future__ import annotations

import keyword
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from tenantflow.api.models.egress import SECRET_NAME

TOOL_NAME = r"^[a-z][a-z0-9_]{0,63}$"
RESERVED_TOOL_NAMES = frozenset({"search", "names", "describe", "call"})
BUILTINS = ("files.read", "files.write", "files.list", "files.delete", "fetch")


class EgressPolicyPatch(BaseModel):
    """A workflow's or session's changes to the tenant policy. Unset fields inherit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: Literal["deny", "allow"] | None = None
    allowed_hosts: tuple[str, ...] | None = None
    schemes: tuple[Literal["http", "https"], ...] | None = None
    ports: tuple[int, ...] | None = None
    methods: tuple[str, ...] | None = None
    allowed_addresses: tuple[str, ...] | None = None
    add_hosts: tuple[str, ...] = ()
    """Hosts added to the inherited (or replaced) ``allowed_hosts``."""
    add_addresses: tuple[str, ...] = ()
    """Addresses added to the inherited (or replaced) ``allowed_addresses``."""


class SessionLimits(BaseModel):
    """Limits of every call in the session; unset fields take the operator's defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    call_seconds: float | None = Field(None, gt=0, description="Default deadline of one call.")
    memory_bytes: int | None = Field(None, ge=16 * 1024 * 1024, description="Guest memory cap.")
    workspace_bytes: int | None = Field(None, ge=1024, description="Workspace size quota.")
    fuel: int | None = Field(None, ge=1_000_000, description="Instruction budget per call.")


class ToolCredential(BaseModel):
    """A tenant secret the egress proxy injects into the tool's requests (never into the guest)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    secret: str = Field(pattern=SECRET_NAME)
    header: str = "Authorization"
    template: str = "Bearer {secret}"


class HttpTarget(BaseModel):
    """Call an HTTP endpoint through the egress proxy: arguments go as a JSON body
    (POST, PUT, PATCH) or as query parameters (GET, DELETE)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["http"] = "http"
    url: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    credential: ToolCredential | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be an absolute http(s) URL")
        return value


class BuiltinTarget(BaseModel):
    """A capability the host implements: workspace files, or fetch under the session's policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["builtin"] = "builtin"
    name: Literal["files.read", "files.write", "files.list", "files.delete", "fetch"]


def target_kind(value: Any) -> str | None:
    """The union tag of a tool target: its ``kind``, or the default of the target it is.

    ``kind`` has a default on both targets, so a client that leaves defaults out
    (``exclude_unset``, ``exclude_defaults``, a hand-written ``{"url": ...}``)
    omits it. A target without one is a builtin when it names a builtin
    (``name``, no ``url``); anything else is an HTTP target, whose own errors
    (a missing ``url``) are then reported. ``None`` (a ``kind`` that is not a
    string) is refused with the union's tag error.
    """
    if isinstance(value, dict):
        if "kind" in value:
            kind = value["kind"]
            return kind if isinstance(kind, str) else None
        return "builtin" if "name" in value and "url" not in value else "http"
    kind = getattr(value, "kind", None)
    return kind if isinstance(kind, str) else None


Target = Annotated[
    Annotated[HttpTarget, Tag("http")] | Annotated[BuiltinTarget, Tag("builtin")],
    Discriminator(
        target_kind,
        custom_error_type="target_kind",
        custom_error_message="kind must be 'http' or 'builtin'",
    ),
]
"""An HTTP or builtin target, told apart by ``kind`` (which may be omitted)."""


class ToolSpec(BaseModel):
    """A tool the session's code can call as ``tools.NAME(**kwargs)``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=TOOL_NAME, description="A Python identifier, lower case.")
    description: str = Field("", max_length=4000)
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object"},
        description="JSON schema (2020-12) of the keyword arguments.",
    )
    target: Target

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value in RESERVED_TOOL_NAMES or keyword.iskeyword(value):
            raise ValueError(f"{value!r} is reserved (a tools method or a Python keyword)")
        return value

    @field_validator("parameters")
    @classmethod
    def _schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Imported here: jsonschema takes ~150 ms to import, which every client (and
        # CLI command) would pay on import although only a tool's validation needs it.
        from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
        from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]

        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            raise ValueError(f"parameters is not a valid JSON schema: {exc.message}") from None
        if value.get("type", "object") != "object":
            raise ValueError("parameters must describe an object (keyword arguments)")
        return value


__all__ = [
    "BUILTINS",
    "RESERVED_TOOL_NAMES",
    "TOOL_NAME",
    "BuiltinTarget",
    "EgressPolicyPatch",
    "HttpTarget",
    "SessionLimits",
    "Target",
    "ToolCredential",
    "ToolSpec",
    "target_kind",
]
