"""Small helpers shared by the Kafka tests: unique names, bulk produce, bulk consume, what
aborted transactions left in a topic, and stopping a hub process."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, Message, TopicPartition

from hub import eventloop
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


def read_whole(bootstrap: str, topic: str, committed: bool = True, stall: float = 60.0) -> list:
    """Every record of ``topic`` up to the end it has when asked, with a fresh group.
    ``committed=False`` reads as read_uncommitted: the records of aborted transactions too,
    so the two counts differ by what transactions a kill cut short had written."""
    isolation = "read_committed" if committed else "read_uncommitted"
    consumer = make_consumer(bootstrap, unique("whole"), isolation_level=isolation)
    try:
        metadata = consumer.list_topics(topic, timeout=30).topics[topic]
        ends = {}
        for number in metadata.partitions:
            high = consumer.get_watermark_offsets(TopicPartition(topic, number), timeout=30)[1]
            if high > 0:
                ends[number] = high
        consumer.assign([TopicPartition(topic, n, OFFSET_BEGINNING) for n in ends])
        found, moved_at, last = [], time.monotonic(), None
        while ends:
            for msg in consumer.consume(1000, 0.5):
                if msg.error() is None:
                    found.append(msg)
                elif msg.error().code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(msg.error())
            # by position: a commit or abort marker takes a partition's last offset
            positions = consumer.position([TopicPartition(topic, n) for n in ends])
            now = [(p.partition, p.offset) for p in positions]
            if now != last:
                moved_at, last = time.monotonic(), now
            assert time.monotonic() - moved_at < stall, f"reading {topic} stalled at {now}"
            for partition in positions:
                if partition.offset >= ends[partition.partition]:
                    ends.pop(partition.partition)
        return found
    finally:
        consumer.close()


def aborted_records(bootstrap: str, topic: str, keep=lambda msg: True) -> int:
    """Records (those ``keep`` accepts) that transactions wrote to ``topic`` and aborted:
    work a killed transactional worker had in flight, read again by its successor."""
    uncommitted = sum(1 for msg in read_whole(bootstrap, topic, committed=False) if keep(msg))
    return uncommitted - sum(1 for msg in read_whole(bootstrap, topic) if keep(msg))


def in_open_transaction(admin: Any, topic: str) -> bool:
    """Whether some partition of ``topic`` holds records of a transaction not yet committed
    or aborted: its end for a read_uncommitted reader lies past the read_committed one."""
    from confluent_kafka import IsolationLevel
    from confluent_kafka.admin import OffsetSpec

    partitions = admin.list_topics(topic, timeout=30).topics[topic].partitions
    ends = {}
    for isolation in (IsolationLevel.READ_UNCOMMITTED, IsolationLevel.READ_COMMITTED):
        asked = {TopicPartition(topic, n): OffsetSpec.latest() for n in partitions}
        found = admin.list_offsets(asked, isolation_level=isolation, request_timeout=30)
        ends[isolation] = {tp.partition: f.result().offset for tp, f in found.items()}
    high, stable = ends.values()
    return any(high[n] > stable[n] for n in high)


@contextlib.contextmanager
def tracker_running(tracker: Any) -> Iterator[None]:
    """A tracker (hub.tracker.app.Tracker) on its own event loop in a thread, stopped at
    the end."""
    stop = threading.Event()

    async def run() -> None:
        done = asyncio.Event()
        task = asyncio.create_task(tracker.run(done))
        while not stop.is_set():
            await asyncio.sleep(0.1)
        done.set()
        await task

    thread = threading.Thread(target=eventloop.run, args=(run(),), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(60)


class FailureMover:
    """What the route hop does with a connector's failed topic (hub.dataplane.failures),
    for tests that run a connector's sides without a hub: each retry or dead letter moved
    to the topic it is meant for, or refused."""

    def __init__(self, bootstrap: str, connector: str) -> None:
        from hub import topics

        self.consumer = make_consumer(bootstrap, unique("failed"))
        self.consumer.subscribe([topics.failed(connector)])
        self.producer = make_producer(bootstrap)

    def run_once(self, timeout: float = 0.3) -> int:
        from hub.dataplane.failures import move_failure

        moved = [
            r for m in self.consumer.consume(500, timeout) if not m.error() for r in move_failure(m)
        ]
        for topic, key, value, headers in moved:
            self.producer.produce(topic, key=key, value=value, headers=headers)
        assert self.producer.flush(30) == 0
        return len(moved)

    def drain(self) -> int:
        """Move what is there now (until a read finds nothing more)."""
        moved = 0
        while (step := self.run_once()) > 0:
            moved += step
        return moved

    def close(self) -> None:
        self.consumer.close()


def stop_process(process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Ask a hub process to stop (SIGTERM, as an orchestrator does); kill it if it has not
    after ``timeout`` seconds."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
