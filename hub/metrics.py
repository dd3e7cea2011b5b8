"""Prometheus metrics of the hub, on an HTTP endpoint (``lapor-hub up --metrics-port``).

Per stage: records in, out, failed (dead-lettered) and retried; consumer lag per topic; the
delivery latency from the hub receiving a report to the destination app's 2xx; routing
decisions by outcome (exported by the routing engine). Per-agency open and overdue counts
are the tracker's (hub.tracker.app).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECORDS = Counter(
    "lapor_stage_records",
    "Records per stage (ingest, translate, route, deliver, status, retry) and outcome "
    "(in, out, failed, retried, waiting: held behind an earlier status of its report).",
    ["stage", "outcome"],
)
DELIVERY_LATENCY = Histogram(
    "lapor_delivery_latency_seconds",
    "From the hub receiving a report to the destination app's 2xx.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
PRODUCERS_REPLACED = Counter(
    "lapor_producers_replaced",
    "Producers replaced because a flush ended with records still waiting for Kafka.",
)


CONSUMER_LAG = Gauge(
    "lapor_consumer_lag",
    "Records not yet consumed, per stage and topic (librdkafka's statistics, every 5 s).",
    ["stage", "topic"],
)
LAG_SETTINGS = {"statistics.interval.ms": 5000}


def lag_reporter(stage: str) -> Callable[[str], None]:
    """A librdkafka ``stats_cb`` that exports a consumer's lag per topic."""

    def report(statistics: str) -> None:
        data = json.loads(statistics)
        for topic, about in (data.get("topics") or {}).items():
            lags = [
                p.get("consumer_lag", -1)
                for number, p in (about.get("partitions") or {}).items()
                if number != "-1"
            ]
            known = [lag for lag in lags if lag >= 0]
            if known:
                CONSUMER_LAG.labels(stage, topic).set(sum(known))

    return report


_COUNTERS: dict[tuple[str, str], Counter] = {}


def count(stage: str, outcome: str, amount: int = 1) -> None:
    if amount:
        counter = _COUNTERS.get((stage, outcome))
        if counter is None:  # labels() costs more than the increment: look it up once
            counter = _COUNTERS[stage, outcome] = RECORDS.labels(stage, outcome)
        counter.inc(amount)


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """Expose /metrics in the Prometheus text format (loopback unless told otherwise)."""
    start_http_server(port, addr=host)
