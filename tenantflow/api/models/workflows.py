"""Wire models of workflows and their versions."""

from __future__ import annotations

from datetime import datetime

from tenantflow.api.models.common import WireModel


class Workflow(WireModel):
    """A workflow and its newest version."""

    name: str
    latest_version: int
    latest_sha256: str
    created_at: datetime
    updated_at: datetime


class WorkflowList(WireModel):
    """The tenant's workflows."""

    items: list[Workflow]


class WorkflowVersion(WireModel):
    """One immutable version. ``sha256`` is the content address of the uploaded bytes."""

    workflow: str
    version: int
    sha256: str
    size: int
    kind: str
    created_at: datetime
    created: bool = False


class WorkflowVersionList(WireModel):
    """Every version of one workflow, newest first."""

    items: list[WorkflowVersion]
