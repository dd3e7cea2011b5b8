"""Metrics on the HTTP endpoint, in Prometheus format: a consumer's lag as the broker sees it."""

from __future__ import annotations

import time

import httpx
import pytest

from connectors.simulator import free_port
from hub.kafka import TopicSpec, ensure_topics, make_admin, make_consumer
from hub.metrics import serve_metrics
from tests.helpers import produce_numbered, unique

pytestmark = pytest.mark.kafka


def test_consumer_lag_is_exported_per_stage_and_topic(kafka_bootstrap: str) -> None:
    topic = unique("lapor.test.lag")
    ensure_topics(make_admin(kafka_bootstrap), [TopicSpec(topic, 1)])
    produce_numbered(kafka_bootstrap, topic, 50)
    consumer = make_consumer(kafka_bootstrap, unique("lag"), stage="lag-test")
    consumer.subscribe([topic])
    taken = 0
    while taken < 10:
        taken += len([m for m in consumer.consume(10 - taken, 1.0) if not m.error()])
    consumer.commit(asynchronous=False)
    port = free_port()
    serve_metrics(port)
    line = f'lapor_consumer_lag{{stage="lag-test",topic="{topic}"}} 40.0'
    deadline = time.monotonic() + 30
    page = ""
    while time.monotonic() < deadline and line not in page:
        consumer.poll(0.5)  # statistics arrive through poll, every 5 s
        page = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    consumer.close()
    assert line in page
