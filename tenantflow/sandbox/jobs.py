"""The job message: what the host asks the guest's main loop to do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def job_message(
    code: str | None,
    *,
    entry: str | None = None,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    filename: str = "<sandbox>",
    workspace: bool = False,
    namespace: str | None = None,
    echo: bool = False,
) -> dict[str, Any]:
    """The job message the guest's main loop understands."""
    if (code is None) == (entry is None):
        raise ValueError("give exactly one of code or entry")
    job: dict[str, Any] = {"env": dict(env or {})}
    if workspace:
        job["cwd"] = "/workspace"
    if code is not None:
        job.update(kind="exec", code=code, filename=filename)
        if namespace is not None:
            job.update(namespace=namespace, echo=echo)
    else:
        job.update(kind="call", entry=entry, args=list(args), kwargs=dict(kwargs or {}))
    return job
