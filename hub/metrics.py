"""Prometheus metrics of the hub, on an HTTP endpoint (``lapor-hub up --metrics-port``).

Per stage: records in, out, failed (dead-lettered) and retried; the delivery latency from the
hub receiving a report to the destination app's 2xx; routing decisions by outcome (exported
by the routing engine). Per-agency open and overdue counts belong to the tracker.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

RECORDS = Counter(
    "lapor_stage_records",
    "Records per stage (ingest, translate, route, deliver, status, retry) and outcome "
    "(in, out, failed, retried).",
    ["stage", "outcome"],
)
DELIVERY_LATENCY = Histogram(
    "lapor_delivery_latency_seconds",
    "From the hub receiving a report to the destination app's 2xx.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


def count(stage: str, outcome: str, amount: int = 1) -> None:
    if amount:
        RECORDS.labels(stage, outcome).inc(amount)


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """Expose /metrics in the Prometheus text format (loopback unless told otherwise)."""
    start_http_server(port, addr=host)
