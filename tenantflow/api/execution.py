"""Attaching durable execution to the API: the engine, an embedded worker, the code loader.

The loader (tenants) is the engine's ``CodeResolver``: a missing version
raises an error that is both a tenant 404 and the engine's ``CodeNotFound``.
"""

from __future__ import annotations

import logging
from typing import cast

from tenantflow.api.batching import CreateBatcher
from tenantflow.api.services import Services
from tenantflow.engine import Engine
from tenantflow.sandbox import Sandbox
from tenantflow.tenants.enforcement import QuotaSandbox
from tenantflow.workers import Worker

log = logging.getLogger(__name__)


async def start_execution(svc: Services, *, embedded_worker: bool) -> None:
    """Open the engine on the services' database; start a worker in this process if asked."""
    engine = await Engine.open(svc.settings, svc.settings.resolved_database_url)
    svc.engine = engine
    svc.batcher = CreateBatcher(engine, svc.settings.engine_batch_max)
    if embedded_worker:
        # The worker sees the sandbox through the tenants' quotas (a duck-typed front).
        quota_sandbox = cast(Sandbox, QuotaSandbox(svc.sandbox, svc.tenants))
        worker = Worker(
            svc.settings,
            engine.backend,
            quota_sandbox,
            svc.loader,
            extra_handlers=svc.egress.run_handlers,  # guest fetch through the egress proxy
        )
        await worker.__aenter__()
        engine.set_notify(worker.notify)
        svc.worker = worker


async def stop_execution(svc: Services) -> None:
    """Drain the embedded worker, then close the engine."""
    worker, svc.worker = svc.worker, None
    if worker is not None:
        await worker.shutdown()
    svc.batcher = None
    engine, svc.engine = svc.engine, None
    if engine is not None:
        await engine.close()
