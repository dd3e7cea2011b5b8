"""Prometheus metrics of the hub, on an HTTP endpoint (``lapor-hub up --metrics-port``)
beside the health endpoints /healthz and /readyz.

Per stage: records in, out, failed (dead-lettered) and retried; consumer lag per topic; the
delivery latency from the hub receiving a report to the destination app's 2xx; routing
decisions by outcome (exported by the routing engine). Per-agency open and overdue counts
are the tracker's (hub.tracker.app).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from hub.errors import HubError

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
FAILURES_REFUSED = Counter(
    "lapor_failures_refused",
    "Records on a connector's failed topic the hub did not move on: a retry or dead letter "
    "aimed at a topic that is not that connector's own (hub.dataplane.failures).",
    ["connector"],
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


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # a scrape is not news
        pass


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """/metrics (Prometheus text), /healthz and /readyz (JSON, 200 or 503: hub.health) on
    host:port, from a daemon thread; loopback unless told otherwise."""
    from hub.health import HEALTH

    metrics = make_wsgi_app()

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path in ("/healthz", "/readyz"):
            ok, body = HEALTH.liveness() if path == "/healthz" else HEALTH.readiness()
            start_response(
                "200 OK" if ok else "503 Service Unavailable",
                [("Content-Type", "application/json"), ("Cache-Control", "no-store")],
            )
            return [json.dumps(body, ensure_ascii=False).encode()]
        return metrics(environ, start_response)

    class Server(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    try:
        server = make_server(host, port, app, Server, handler_class=_Quiet)
    except OSError as exc:
        raise HubError(
            f"cannot serve metrics and health on {host}:{port}: {exc.strerror}",
            fix="choose a free port (--metrics-port or metrics.port in the configuration).",
        ) from exc
    threading.Thread(target=server.serve_forever, daemon=True, name="metrics").start()
