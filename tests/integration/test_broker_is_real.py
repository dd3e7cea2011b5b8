"""The broker is a real Kafka: admin, produce/consume, transactions, and a faust agent."""

from __future__ import annotations

import asyncio
import time

import faust
import pytest
from confluent_kafka import TopicPartition

from hub.errors import TopicMismatch
from hub.kafka import TopicSpec, ensure_topics, make_admin, make_consumer, make_producer
from tests.helpers import consume_keys, produce_numbered, unique

pytestmark = pytest.mark.kafka


def test_admin_creates_topics_with_the_partitions_and_config_asked(kafka_bootstrap: str) -> None:
    admin = make_admin(kafka_bootstrap)
    name = unique("lapor.test.admin")
    spec = TopicSpec(name, partitions=4, replication=1, config={"retention.ms": "3600000"})

    assert ensure_topics(admin, [spec]) == [name]
    assert ensure_topics(admin, [spec]) == []  # a second run finds it and creates nothing

    meta = admin.list_topics(name, timeout=10).topics[name]
    assert len(meta.partitions) == 4
    from confluent_kafka.admin import ConfigResource

    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    configs = admin.describe_configs([resource])[resource].result()
    assert configs["retention.ms"].value == "3600000"


def test_an_existing_topic_with_other_partitions_is_reported_not_used(
    kafka_bootstrap: str,
) -> None:
    admin = make_admin(kafka_bootstrap)
    name = unique("lapor.test.shape")
    ensure_topics(admin, [TopicSpec(name, partitions=2)])

    with pytest.raises(TopicMismatch) as caught:
        ensure_topics(admin, [TopicSpec(name, partitions=3)])
    assert f"{name} has 2 partitions" in str(caught.value)
    assert "expected 3" in str(caught.value)


def test_produce_and_consume_with_confluent_kafka(kafka_bootstrap: str) -> None:
    topic = unique("lapor.test.pc")
    ensure_topics(make_admin(kafka_bootstrap), [TopicSpec(topic)])

    assert produce_numbered(kafka_bootstrap, topic, 500) == 500
    assert consume_keys(kafka_bootstrap, topic, 500) == {str(n) for n in range(500)}


def test_aborted_transactions_are_invisible_to_read_committed_readers(
    kafka_bootstrap: str,
) -> None:
    topic = unique("lapor.test.txn")
    ensure_topics(make_admin(kafka_bootstrap), [TopicSpec(topic, partitions=1)])
    producer = make_producer(kafka_bootstrap, transactional_id=unique("txn"))
    producer.init_transactions(30)

    producer.begin_transaction()
    producer.produce(topic, key=b"committed", value=b"1")
    producer.commit_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, key=b"aborted", value=b"2")
    producer.flush(30)  # written to the log first: otherwise abort just drops it locally
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, key=b"after", value=b"3")
    producer.commit_transaction(30)

    assert consume_keys(kafka_bootstrap, topic, 3, timeout=10) == {"committed", "after"}

    uncommitted_reader = make_consumer(
        kafka_bootstrap, unique("raw"), isolation_level="read_uncommitted"
    )
    uncommitted_reader.assign([TopicPartition(topic, 0, 0)])
    seen = []
    deadline = time.monotonic() + 10
    while len(seen) < 3 and time.monotonic() < deadline:
        seen += [m.key() for m in uncommitted_reader.consume(10, 0.5) if not m.error()]
    uncommitted_reader.close()
    assert b"aborted" in seen, "the aborted record must exist in the log, only hidden"


def test_a_faust_agent_reads_one_topic_and_writes_another(kafka_bootstrap: str, tmp_path) -> None:
    source_name, sink_name = unique("lapor.test.faust-in"), unique("lapor.test.faust-out")
    ensure_topics(make_admin(kafka_bootstrap), [TopicSpec(source_name), TopicSpec(sink_name)])
    produce_numbered(kafka_bootstrap, source_name, 50)

    async def run_agent() -> None:
        app = faust.App(
            unique("lapor-hub-test"),
            broker=";".join(f"kafka://{host}" for host in kafka_bootstrap.split(",")),
            store="memory://",
            web_enabled=False,
            datadir=str(tmp_path),
            topic_partitions=3,
            consumer_auto_offset_reset="earliest",
        )
        source = app.topic(source_name, key_serializer="raw", value_serializer="raw")
        sink = app.topic(sink_name, key_serializer="raw", value_serializer="raw")
        forwarded = asyncio.Event()
        count = 0

        @app.agent(source)
        async def tag(stream):
            nonlocal count
            async for key, value in stream.items():
                await sink.send(key=key, value=b"seen-by-faust:" + value[:8])
                count += 1
                if count == 50:
                    forwarded.set()

        await app.start()
        try:
            await asyncio.wait_for(forwarded.wait(), timeout=90)
        finally:
            await app.stop()

    asyncio.run(run_agent())

    consumer = make_consumer(kafka_bootstrap, unique("faust-check"))
    consumer.subscribe([sink_name])
    values = {}
    deadline = time.monotonic() + 30
    while len(values) < 50 and time.monotonic() < deadline:
        for msg in consumer.consume(100, 0.5):
            if not msg.error():
                values[msg.key().decode()] = msg.value()
    consumer.close()
    assert set(values) == {str(n) for n in range(50)}
    assert all(v.startswith(b"seen-by-faust:") for v in values.values())
