"""Small helpers shared by the Kafka tests: unique names, bulk produce, bulk consume."""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from hub.kafka import make_consumer, make_producer


def unique(prefix: str) -> str:
    """A topic or group name no other test (or earlier run on the same broker) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def produce_numbered(bootstrap: str, topic: str, count: int, start: int = 0) -> int:
    """Produce ``count`` 1 KB records keyed by their number with acks=all; return how many
    the broker acknowledged."""
    producer = make_producer(bootstrap, acks="all", linger_ms=20)
    acked = 0
    errors: list[str] = []

    def on_delivery(err, _msg) -> None:
        nonlocal acked
        if err is None:
            acked += 1
        else:
            errors.append(str(err))

    padding = b"x" * 1000
    for number in range(start, start + count):
        while True:
            try:
                producer.produce(
                    topic, key=str(number).encode(), value=padding, on_delivery=on_delivery
                )
                break
            except BufferError:
                producer.poll(0.1)
    remaining = producer.flush(60)
    assert remaining == 0, f"{remaining} records still unacknowledged after 60 s"
    assert not errors, f"delivery failed: {errors[:3]}"
    return acked


def consume_keys(bootstrap: str, topic: str, expected: int, timeout: float = 60.0) -> set[str]:
    """Read ``topic`` from the start with a fresh group until ``expected`` distinct keys
    arrive or ``timeout`` passes; return the keys seen."""
    consumer = make_consumer(bootstrap, unique("reader"))
    consumer.subscribe([topic])
    keys: set[str] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(keys) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                if msg.error():
                    raise KafkaException(msg.error())
                keys.add(msg.key().decode())
    finally:
        consumer.close()
    return keys


def routed(report: dict[str, Any], handler: str, reason: str = "test") -> dict[str, Any]:
    """A RoutedReport sending ``report`` to ``handler``, decided when it was received."""
    return {
        "report": report,
        "decision": {
            "hub_id": report["hub_id"],
            "destinations": [{"agency": handler, "role": "HANDLER"}],
            "matched_rules": ["test"],
            "rules_version": "test",
            "reason": reason,
            "decided_at": report["received_at"],
            "priority": None,
            "sla_working_days": None,
            "fallback": False,
            "escalated": False,
            "excluded_agencies": [],
            "location_note": None,
        },
    }


def unfetched_partitions_error() -> Message:
    """The error librdkafka reports, in its own words (rdkafka_assignment.c), when the
    fetch of committed offsets that starts newly assigned partitions failed at the request
    level and left them unfetched (librdkafka#5586)."""
    failed = 'Failed to fetch committed offsets for 0 partition(s) in group "g": '
    error = KafkaError(KafkaError.NOT_COORDINATOR, failed + "Broker: Not coordinator")
    return Message(topic=None, error=error)
