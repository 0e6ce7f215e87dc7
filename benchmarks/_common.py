"""Helpers shared by the benchmark scripts: percentiles and JSON output."""

from __future__ import annotations

import json
import statistics
import sys
from typing import Any


def percentiles(samples_s: list[float]) -> dict[str, float]:
    """p50/p95/p99 and mean of ``samples_s`` (seconds), reported in milliseconds."""
    ordered = sorted(samples_s)

    def pick(q: float) -> float:
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return round(ordered[index] * 1000, 3)

    return {
        "p50_ms": pick(0.50),
        "p95_ms": pick(0.95),
        "p99_ms": pick(0.99),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
        "n": len(ordered),
    }


def emit(figures: dict[str, Any]) -> None:
    """Print the figures as one JSON document."""
    json.dump(figures, sys.stdout, indent=2)
    sys.stdout.write("\n")
