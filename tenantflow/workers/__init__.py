"""Worker processes: claim runnable instances, run them in sandboxes, fire timers."""

from tenantflow.workers.worker import Worker

__all__ = ["Worker"]
