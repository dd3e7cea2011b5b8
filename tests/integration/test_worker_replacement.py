"""A Kafka error that passes (a request timed out while the only broker restarted) out of
the ingest worker replaces the worker, not the hub process.

Seen in the single-broker restart fault test: an aborted transaction's rewind could not
read the committed offsets in 30 s, and the hub process stopped. A new worker reads again
from the committed offsets; nothing is lost or written twice between the topics.
"""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Callable

import pytest
from confluent_kafka import KafkaError, KafkaException, Message

from hub.dataplane.route import RouteWorkerFailed, run_replacing_hung
from hub.dataplane.transactional import TransactionalLoop
from hub.kafka import TopicSpec, ensure_topics, make_admin, make_producer, read_to_end
from hub.records import Record
from hub.runtime import wait_until
from tests.helpers import unfetched_partitions_error, unique

pytestmark = [pytest.mark.kafka]
COUNT = 300


def test_a_passing_kafka_error_replaces_the_worker(kafka_bootstrap: str) -> None:
    failed = threading.Event()

    def copy(msg: Message, copied: str) -> list[Record]:
        if int(msg.value()) == COUNT // 2 and not failed.is_set():
            failed.set()  # once: the worker that follows copies it
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT))
        return [Record(copied, msg.key(), msg.value())]

    loops = copy_replacing(kafka_bootstrap, copy)
    assert failed.is_set() and len(loops) == 2, "the failed worker was replaced once"


def test_a_closed_worker_is_freed_without_the_cyclic_collector(kafka_bootstrap: str) -> None:
    """A process that froze its start-up heap (hub.memory) never collects a cycle of the
    worker it started with: a worker replaced after a hung commit must go, with its Kafka
    clients, once it is dropped."""
    source, group = unique("freed-in"), unique("freed")
    ensure_topics(make_admin(kafka_bootstrap), [TopicSpec(source)])
    loop = TransactionalLoop(
        kafka_bootstrap,
        group_id=group,
        transactional_id=f"{group}-tx",
        topics=[source],
        transform=lambda msg: [],
    )
    deadline = time.monotonic() + 60
    while not loop.assigned.is_set() and time.monotonic() < deadline:
        loop.step(timeout=0.2)  # joins its group as a worker does
    assert loop.assigned.is_set(), "the worker was given no partitions"
    loop.close()
    gone = weakref.ref(loop)
    gc.disable()
    try:
        del loop
        assert gone() is None, "the closed worker is still held (by its clients' callbacks)"
    finally:
        gc.enable()


def test_a_worker_started_again_reading_another_topic_is_assigned_it(kafka_bootstrap: str):
    """A worker started again under its name reads what it reads now: a connector added to
    the configuration between the two is read too (a static member coming back under the
    same id would be given its old partitions only, KAFKA-12759)."""
    first, added, group = unique("static-in"), unique("static-added"), unique("static")
    copied = unique("static-out")
    specs = [TopicSpec(first), TopicSpec(added), TopicSpec(copied)]
    ensure_topics(make_admin(kafka_bootstrap), specs)
    producer = make_producer(kafka_bootstrap)
    for topic in (first, added):
        producer.produce(topic, key=b"k", value=b"1")
    producer.flush(30)
    read: list[str] = []

    def worker(topics: list[str]) -> TransactionalLoop:
        return copying_worker(kafka_bootstrap, group, topics, copied, read)

    loop = worker([first])
    assert wait_until(lambda: loop.step(timeout=0.2) is not None and first in read, 60)
    loop.flush()  # as a worker stops
    loop.close()
    loop = worker([first, added])
    try:
        # the worker before is a member until its session (45 s) ends: then the group is
        # assigned again, with the added topic
        assert wait_until(lambda: loop.step(timeout=0.2) is not None and added in read, 120), (
            f"the added topic was never assigned; read {read}"
        )
    finally:
        loop.flush()
        loop.close()


def test_a_second_worker_under_the_same_name_fences_the_first_which_says_so(
    kafka_bootstrap: str,
) -> None:
    """Two processes started under one name: the newer fences the older (its producer by
    their transactional id, its consumer by their group member), and the older's error
    names the cause for the operator, as `lapor-hub up` says when it stops (exit code 2)."""
    source, group = unique("twice-in"), unique("twice")
    copied = unique("twice-out")
    ensure_topics(make_admin(kafka_bootstrap), [TopicSpec(source), TopicSpec(copied)])
    producer = make_producer(kafka_bootstrap)

    def worker() -> TransactionalLoop:
        return copying_worker(kafka_bootstrap, group, [source], copied)

    def filing_until(deadline: float) -> Callable[[], bool]:
        def should_stop() -> bool:
            producer.produce(source, key=b"k", value=b"1")
            producer.poll(0)
            return time.monotonic() > deadline

        return should_stop

    older = worker()
    assert wait_until(lambda: older.step(timeout=0.2) is not None and older.assigned.is_set(), 60)
    newer = worker()
    try:
        began = time.monotonic()
        # as the route worker runs: its error comes out after its close, not replaced
        with pytest.raises(RouteWorkerFailed) as raised:
            run_replacing_hung(older, worker, filing_until(began + 90), "1")
        assert time.monotonic() - began < 30, "the fenced worker's close waited on a commit"
        said = str(raised.value)
        assert "fenced" in said.lower() and "--name 1" in said, said
    finally:
        # the newer's assignment is served in a step, not in its close: a consumer that had
        # never polled once hung for good in close, serving it (librdkafka's assign)
        wait_until(lambda: newer.step(timeout=0.2) is not None and newer.assigned.is_set(), 60)
        newer.close()


class ReportsUnfetchedPartitions:
    """The loop's real consumer, whose third batch carries the error after which
    librdkafka never fetches some partitions (librdkafka#5586, as the library words it)."""

    def __init__(self, consumer) -> None:
        self.consumer, self.batches = consumer, 0

    def consume(self, count: int, timeout: float) -> list[Message]:
        messages = self.consumer.consume(count, timeout)
        self.batches += 1
        if self.batches == 3:
            messages.append(unfetched_partitions_error())
        return messages

    def __getattr__(self, name: str):
        return getattr(self.consumer, name)


def test_partitions_left_unfetched_replace_the_worker(kafka_bootstrap: str) -> None:
    """Its transaction spans batches, so it is not assigned again in place (as the workers
    that commit every batch are, hub.kafka.consume): the next worker's consumer starts the
    partitions from the committed offsets."""

    def first_unfetched(loop: TransactionalLoop, number: int) -> None:
        if number == 0:
            loop.consumer = ReportsUnfetchedPartitions(loop.consumer)

    loops = copy_replacing(
        kafka_bootstrap,
        lambda msg, copied: [Record(copied, msg.key(), msg.value())],
        first_unfetched,
        batch_size=20,  # several batches before the error
    )
    assert len(loops) == 2, "the worker was replaced once"


def copying_worker(
    bootstrap: str, group: str, topics: list[str], copied: str, read: list[str] | None = None
) -> TransactionalLoop:
    """The route worker named "tx" of ``group``, copying what it reads to ``copied`` (and
    noting each record's topic in ``read``)."""

    def copy(msg: Message) -> list[Record]:
        if read is not None:
            read.append(msg.topic())
        return [Record(copied, msg.key(), msg.value())]

    return TransactionalLoop(
        bootstrap, group_id=group, transactional_id=f"{group}-tx", topics=topics, transform=copy
    )


def copy_replacing(
    kafka_bootstrap: str,
    copy: Callable[[Message, str], list[Record]],
    prepare: Callable[[TransactionalLoop, int], None] = lambda loop, number: None,
    batch_size: int = 1000,
) -> list[TransactionalLoop]:
    """Copy COUNT records from one topic to another with ``copy``, in a worker that is
    replaced when it fails; check each arrives once, and return the loops that ran."""
    source, copied, group = unique("replace-in"), unique("replace-out"), unique("replace")
    ensure_topics(make_admin(kafka_bootstrap), [TopicSpec(source), TopicSpec(copied)])
    producer = make_producer(kafka_bootstrap)
    for number in range(COUNT):
        producer.produce(source, key=str(number).encode(), value=str(number).encode())
    producer.flush(30)
    loops: list[TransactionalLoop] = []

    def make_loop() -> TransactionalLoop:
        loop = TransactionalLoop(
            kafka_bootstrap,
            group_id=group,
            transactional_id=f"{group}-tx",
            topics=[source],
            transform=lambda msg: copy(msg, copied),
            batch_size=batch_size,
        )
        prepare(loop, len(loops))
        loops.append(loop)
        return loop

    def copied_values() -> list[bytes]:
        return [m.value() for m in read_to_end(kafka_bootstrap, copied)]

    stop = threading.Event()
    result = {}
    worker = threading.Thread(
        target=lambda: result.update(
            stats=run_replacing_hung(make_loop(), make_loop, stop.is_set, "1")
        )
    )
    worker.start()
    try:
        assert wait_until(lambda: len(set(copied_values())) == COUNT, 90), (
            f"{len(set(copied_values()))} of {COUNT} records copied"
        )
    finally:
        stop.set()
        worker.join(60)
    assert "stats" in result, "the worker ran on, to its stop"
    assert sorted(copied_values()) == sorted(str(n).encode() for n in range(COUNT)), "each once"
    return loops
