"""Reading a topic back, as `reports show`, the dead-letter tools and the audit trail do:
a hub id's records are on the partition every producer of the hub puts them on, and a read
that stops moving says so instead of returning part of the topic."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import OFFSET_INVALID, KafkaException, Producer, TopicPartition
from prometheus_client import REGISTRY

from hub.errors import HubError
from hub.kafka import (
    ConsumerTurns,
    DurableProducer,
    TopicSpec,
    commit_handled,
    consume,
    ensure_topics,
    is_passing,
    make_admin,
    make_consumer,
    make_producer,
    partition_of,
    read_again_on_failure,
    read_to_end,
)
from hub.sdk.reports import hub_id
from tests.helpers import produce_numbered, unique

pytestmark = pytest.mark.kafka


def test_a_hub_id_is_read_on_the_partition_the_hub_wrote_it_to(kafka_bootstrap: str) -> None:
    topic = unique("lapor.test.partitions")
    ensure_topics(make_admin(kafka_bootstrap), [TopicSpec(topic, 6)])
    producer = make_producer(kafka_bootstrap)
    keys = [hub_id("lapor-test", f"P-{n}").encode() for n in range(300)]
    for key in keys:
        producer.produce(topic, key=key, value=b"laporan")
    assert producer.flush(30) == 0
    placed = {msg.key(): msg.partition() for msg in read_to_end(kafka_bootstrap, topic)}
    assert placed == {key: partition_of(key, 6) for key in keys}
    assert len(set(placed.values())) == 6  # the keys spread: the check means something
    for key in keys[:10]:
        found = list(read_to_end(kafka_bootstrap, topic, key=key))
        assert key in {msg.key() for msg in found}
        assert {msg.partition() for msg in found} == {partition_of(key, 6)}


def test_an_open_transaction_does_not_hold_a_read(kafka_bootstrap: str) -> None:
    """A read_committed reader ends at the last stable offset when asked: a producer that
    crashed inside a transaction does not make `reports show` wait for its timeout."""
    topic = unique("lapor.test.open-transaction")
    ensure_topics(make_admin(kafka_bootstrap), [TopicSpec(topic, 1)])
    producer = make_producer(kafka_bootstrap)
    producer.produce(topic, key=b"before", value=b"committed")
    assert producer.flush(30) == 0
    crashed = Producer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "transactional.id": unique("crashed"),
            "transaction.timeout.ms": 60_000,
        }
    )
    crashed.init_transactions(30)
    crashed.begin_transaction()
    crashed.produce(topic, key=b"open", value=b"not committed yet")
    assert crashed.flush(30) == 0
    try:
        started = time.monotonic()
        assert [m.key() for m in read_to_end(kafka_bootstrap, topic)] == [b"before"]
        assert time.monotonic() - started < 10
    finally:
        crashed.abort_transaction(30)


@pytest.mark.slow
def test_a_read_that_stops_moving_fails_loudly(local_cluster_factory) -> None:
    cluster = local_cluster_factory(nodes=1)
    cluster.start()
    topic = unique("lapor.test.stalled")
    ensure_topics(make_admin(cluster.bootstrap), [TopicSpec(topic, 1)])
    producer = make_producer(cluster.bootstrap, compression_type="none")
    value = b"x" * 100_000
    for number in range(1_500):  # 150 MB: more than the reader fetches ahead (64 MB)
        while True:
            try:
                producer.produce(topic, key=str(number).encode(), value=value)
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(60) == 0
    reading = read_to_end(cluster.bootstrap, topic, stall_seconds=3)
    assert next(reading).key() == b"0"
    cluster.stop()  # the broker goes away mid-read
    read = 1
    with pytest.raises(HubError, match=r"stopped moving .* incomplete"):
        for _ in reading:
            read += 1
    assert read < 1_500


def test_a_step_that_fails_reads_its_batch_again(kafka_bootstrap: str) -> None:
    """A delivery, feedback or retry step that fails after consuming (Kafka did not take its
    records, a commit found no coordinator) reads the same records at its next step."""
    topic = unique("lapor.test.again")
    ensure_topics(make_admin(kafka_bootstrap), [TopicSpec(topic, 2)])
    produce_numbered(kafka_bootstrap, topic, 20)
    consumer = make_consumer(kafka_bootstrap, unique("again"))
    consumer.subscribe([topic])

    def consume_all() -> list:
        found: list = []
        deadline = time.monotonic() + 30
        while len(found) < 20 and time.monotonic() < deadline:
            found += [m for m in consumer.consume(20, 1.0) if not m.error()]
        return found

    def places(messages: list) -> list[tuple[int, int]]:
        return sorted((m.partition(), m.offset()) for m in messages)

    try:
        step = consume_all()
        assert len(step) == 20 and len({m.partition() for m in step}) == 2
        with pytest.raises(RuntimeError), read_again_on_failure(consumer, step):
            raise RuntimeError("Kafka did not take the step's records")
        assert places(consume_all()) == places(step)
    finally:
        consumer.close()


def test_a_step_commits_no_partition_past_what_it_handled(kafka_bootstrap: str) -> None:
    """After a failed step, the next may bring only another partition's records; its commit
    must not take the rewound partition past the records that failed (librdkafka's stored
    offsets would: its seek leaves them where the failed step read to)."""
    topic, group = unique("lapor.test.handled"), unique("handled")
    ensure_topics(make_admin(kafka_bootstrap), [TopicSpec(topic, 2)])
    produce_numbered(kafka_bootstrap, topic, 20)
    consumer = make_consumer(kafka_bootstrap, group)
    consumer.subscribe([topic])

    def consume_until(wanted: int) -> list:
        found: list = []
        deadline = time.monotonic() + 30
        while len(found) < wanted and time.monotonic() < deadline:
            found += [m for m in consumer.consume(20, 1.0) if not m.error()]
        return found

    try:
        step = consume_until(20)
        on_0 = [m for m in step if m.partition() == 0]
        assert on_0 and len(on_0) < 20
        with pytest.raises(RuntimeError), read_again_on_failure(consumer, step):
            raise RuntimeError("Kafka did not take the step's records")
        consumer.pause([TopicPartition(topic, 0)])  # the next step brings partition 1 only
        next_step = consume_until(20 - len(on_0))
        assert {m.partition() for m in next_step} == {1}
        commit_handled(consumer, next_step)
        committed = consumer.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], 30)
        assert [p.offset for p in committed] == [OFFSET_INVALID, 20 - len(on_0)]
    finally:
        consumer.close()


def test_a_record_the_broker_refuses_fails_the_step(kafka_bootstrap: str) -> None:
    """A DurableProducer is told of failures only (no report for each record acknowledged):
    a record the broker refuses still fails the step, and the producer goes on."""
    topic = unique("lapor.test.refused")
    specs = [TopicSpec(topic, 1, 1, {"max.message.bytes": "2048"})]
    ensure_topics(make_admin(kafka_bootstrap), specs)
    durable = DurableProducer(kafka_bootstrap, compression_type="none")
    with pytest.raises(KafkaException) as failed:
        durable.send_blocking([(topic, b"big", b"x" * 8192, {})], timeout=30)
    assert "0 unacknowledged, failures: ['Broker: Message size too large']" in str(failed.value)
    durable.send_blocking([(topic, b"small", b"laporan", {})], timeout=30)
    assert [msg.key() for msg in read_to_end(kafka_bootstrap, topic)] == [b"small"]


@pytest.mark.slow
def test_a_producer_that_leaves_records_waiting_is_replaced(local_cluster_factory) -> None:
    """A step's records still waiting when its flush ends fail the step (it is tried
    again), and a new producer takes over from the one that held them."""
    cluster = local_cluster_factory(nodes=1)
    cluster.start()
    topic = unique("lapor.test.durable")
    ensure_topics(make_admin(cluster.bootstrap), [TopicSpec(topic, 1)])
    durable = DurableProducer(cluster.bootstrap)
    durable.send_blocking([(topic, b"1", b"laporan 1", {})])
    first = durable.producer
    counted = REGISTRY.get_sample_value("lapor_producers_replaced_total") or 0.0
    cluster.stop()
    with pytest.raises(KafkaException) as failed:
        durable.send_blocking([(topic, b"2", b"laporan 2", {})], timeout=3)
    assert is_passing(failed.value), "the step is tried again, not the hub stopped"
    assert durable.replaced == 1 and durable.producer is not first
    assert REGISTRY.get_sample_value("lapor_producers_replaced_total") == counted + 1
    cluster.start()
    durable.send_blocking([(topic, b"2", b"laporan 2", {})], timeout=60)
    assert {msg.key() for msg in read_to_end(cluster.bootstrap, topic)} >= {b"1", b"2"}


def test_a_consumer_closes_only_after_the_wait_under_way(kafka_bootstrap: str) -> None:
    """A delivery worker's step cancelled at shutdown leaves its thread waiting for a first
    record; closing the consumer then waits for that call, and later calls do nothing."""
    import threading

    topic = unique("turns")
    ensure_topics(make_admin(kafka_bootstrap), [TopicSpec(topic, 1, 1)])
    consumer = make_consumer(kafka_bootstrap, unique("turns-group"))
    consumer.subscribe([topic])
    turns = ConsumerTurns(consumer)
    got: list = []
    waiting = threading.Thread(target=lambda: got.append(turns.call(consume, 10, 0.02, 1.5)))
    waiting.start()
    time.sleep(0.3)  # the thread is in its wait for a first record
    started = time.monotonic()
    turns.close()
    assert time.monotonic() - started > 0.5, "closed under a consume still waiting"
    waiting.join(5)
    assert got == [[]]
    assert turns.call(consume, 10, 0.02, 0.1) is None, "a closed consumer is not called"
