"""Canonical records through a real broker in both wire formats, decoded by key."""

from __future__ import annotations

import random
import time

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from hub.kafka import TopicSpec, ensure_topics, make_admin, make_consumer, make_producer
from hub.samples import sample_report
from hub.serialization import ConfluentCodec, SchemaStore, SingleObjectCodec
from hub.serialization.store import default_schema_dir
from tests.helpers import unique

pytestmark = pytest.mark.kafka
STORE = SchemaStore(default_schema_dir())


@pytest.mark.parametrize("wire_format", ["single-object", "confluent"])
def test_reports_survive_the_broker_in_both_formats(kafka_bootstrap: str, wire_format) -> None:
    if wire_format == "single-object":
        codec = SingleObjectCodec(STORE)
    else:
        client = SchemaRegistryClient.new_client({"url": "mock://avro-on-kafka"})
        codec = ConfluentCodec(STORE, client, auto_register=True)
    topic = unique("lapor.test.reports")
    ensure_topics(make_admin(kafka_bootstrap), [TopicSpec(topic)])
    rng = random.Random(11)
    sent = {r["hub_id"]: r for r in (sample_report(rng) for _ in range(300))}

    producer = make_producer(kafka_bootstrap)
    for hub_id, report in sent.items():
        producer.produce(topic, key=hub_id.encode(), value=codec.encode("Report", report))
    assert producer.flush(30) == 0

    consumer = make_consumer(kafka_bootstrap, unique("avro-reader"))
    consumer.subscribe([topic])
    received = {}
    deadline = time.monotonic() + 30
    while len(received) < len(sent) and time.monotonic() < deadline:
        for msg in consumer.consume(500, 0.5):
            assert not msg.error(), msg.error()
            received[msg.key().decode()] = codec.decode("Report", msg.value())
    consumer.close()
    assert received == sent
