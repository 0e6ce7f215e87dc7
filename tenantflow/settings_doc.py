"""Every setting an operator can tune, as a Markdown table (``tenantflow config``).

The README's configuration section is this output; a test keeps the two in step.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from tenantflow.config import Settings

MiB = 1024 * 1024


def _default(value: object) -> str:
    if isinstance(value, SecretStr):
        return "(empty)" if not value.get_secret_value() else "(set)"
    if value is None or value == "":
        return "(derived)" if value is None else "(empty)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) and value >= MiB and value % MiB == 0:
        return f"{value // MiB} MiB"
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str) and len(value) > 24:
        return f"`{value[:12]}…`"
    return str(value)


def _classes() -> list[type[BaseSettings]]:
    from tenantflow.sessions.settings import SessionSettings

    return [Settings, SessionSettings]


def settings_markdown() -> str:
    """One table row per environment variable: name, default, meaning."""
    rows = ["| environment variable | default | meaning |", "| --- | --- | --- |"]
    for cls in _classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name, field in cls.model_fields.items():
            env = f"{prefix}{name}".upper()
            meaning = (field.description or "").replace("|", "\\|")
            rows.append(f"| `{env}` | {_default(field.default)} | {meaning} |")
    return "\n".join(rows) + "\n"


def environment_names() -> list[str]:
    """Every ``TENANTFLOW_*`` variable the settings read."""
    names: list[str] = []
    for cls in _classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        names.extend(f"{prefix}{name}".upper() for name in cls.model_fields)
    return names
