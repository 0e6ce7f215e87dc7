"""OpenAPI declarations of the problem responses a route can give."""

from __future__ import annotations

from typing import Any

from tenantflow.api.models.common import Problem
from tenantflow.api.problems import MEDIA_TYPE, PROBLEMS


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries: each status answers with problem+json."""
    titles: dict[int, list[str]] = {}
    for _code, (status, title, _) in PROBLEMS.items():
        titles.setdefault(status, []).append(title)
    return {
        status: {
            "model": Problem,
            "description": " / ".join(titles.get(status, ["Error"])),
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


AUTHED = problems(401, 403, 413, 422)
"""Every authenticated route can refuse the key, the body size or the schema."""
