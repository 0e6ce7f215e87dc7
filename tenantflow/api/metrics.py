"""Prometheus metrics of the API process (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """One registry per app, so tests and embedded servers never share counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tenantflow_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tenantflow_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=self.registry,
        )
        self.instances_created = Counter(
            "tenantflow_instances_created",
            "Workflow instances created through the API.",
            registry=self.registry,
        )
        self.uploads = Counter(
            "tenantflow_workflow_uploads",
            "Workflow uploads by outcome (created, unchanged, rejected).",
            ["outcome"],
            registry=self.registry,
        )
        self.quota_rejections = Counter(
            "tenantflow_quota_rejections",
            "Requests refused by a tenant quota, by quota name.",
            ["quota"],
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one finished request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
