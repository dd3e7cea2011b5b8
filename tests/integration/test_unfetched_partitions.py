"""A group consumer whose committed-offsets fetch failed at the request level starts the
partitions librdkafka left unfetched (librdkafka#5586): in a single-broker restart fault
run, one hub process's delivery worker held a partition of its group and delivered
nothing from it until the run ended."""

from __future__ import annotations

import logging
import time

import pytest
from confluent_kafka import Consumer, Message, TopicPartition

from hub.kafka import TopicSpec, consume, ensure_topics, make_admin, make_consumer, make_producer
from tests.helpers import unfetched_partitions_error, unique

pytestmark = pytest.mark.kafka

STUCK = 2  # the partition librdkafka leaves unfetched


class UnfetchedAfterAssignment:
    """A real group consumer, in the state librdkafka#5586 leaves it in: partition STUCK is
    assigned but never fetched (paused here, as the library cannot be made to fail that
    fetch on cue), until the partitions are assigned again; and, once asked, one batch
    carries librdkafka's error, worded as the library words it."""

    def __init__(self, consumer: Consumer, topic: str) -> None:
        self.consumer = consumer
        self.topic = topic
        self.report_error = False

    def subscribe(self) -> None:
        def on_assign(consumer: Consumer, partitions: list[TopicPartition]) -> None:
            consumer.assign(partitions)
            consumer.pause([TopicPartition(self.topic, STUCK)])

        self.consumer.subscribe([self.topic], on_assign=on_assign)

    def consume(self, count: int, timeout: float) -> list[Message]:
        messages = self.consumer.consume(count, timeout)
        if self.report_error:
            self.report_error = False
            messages.append(unfetched_partitions_error())
        return messages

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.consumer.assign(partitions)
        self.consumer.resume([TopicPartition(self.topic, STUCK)])  # its fetch starts now

    def __getattr__(self, name: str):
        return getattr(self.consumer, name)


def read(consumer, until: int, seconds: float = 30.0) -> list[tuple[int, int]]:
    """As the hub's workers read: each batch is committed before the next is consumed."""
    found: list[tuple[int, int]] = []
    deadline = time.monotonic() + seconds
    while len(found) < until and time.monotonic() < deadline:
        batch = consume(consumer, 100, 0.5)
        found += [(msg.partition(), msg.offset()) for msg in batch if msg.error() is None]
        if batch:
            consumer.commit(asynchronous=False)
    return found


def produce(bootstrap: str, topic: str, per_partition: int) -> None:
    producer = make_producer(bootstrap)
    for partition in range(3):
        for _ in range(per_partition):
            producer.produce(topic, partition=partition, value=b"laporan")
    assert producer.flush(30) == 0


def test_partitions_left_unfetched_are_assigned_again_and_read_once(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    topic, group = unique("lapor.test.unfetched"), unique("lapor-test-unfetched")
    ensure_topics(make_admin(kafka_bootstrap), [TopicSpec(topic, 3)])
    produce(kafka_bootstrap, topic, 10)
    committer = make_consumer(kafka_bootstrap, group)
    committer.commit(offsets=[TopicPartition(topic, STUCK, 4)], asynchronous=False)
    committer.close()

    consumer = UnfetchedAfterAssignment(make_consumer(kafka_bootstrap, group), topic)
    consumer.subscribe()
    try:
        before = read(consumer, until=20)
        assert sorted(before) == [(p, o) for p in (0, 1) for o in range(10)]
        assert read(consumer, until=1, seconds=3) == []  # STUCK is not fetched

        produce(kafka_bootstrap, topic, 5)
        consumer.report_error = True
        with caplog.at_level(logging.WARNING, logger="hub.kafka"):
            after = read(consumer, until=5 + 5 + 11)
    finally:
        consumer.close()

    # the others go on from their committed offsets, STUCK starts at its own
    expected = [(p, o) for p in (0, 1) for o in range(10, 15)] + [(STUCK, o) for o in range(4, 15)]
    assert sorted(after) == expected, "read twice or skipped"
    assert "reading its 3 partition(s) again from the committed offsets" in caplog.text
