"""A Kafka error that passes (a request timed out while the only broker restarted) out of
the ingest worker replaces the worker, not the hub process.

Seen in the single-broker restart fault test: an aborted transaction's rewind could not
read the committed offsets in 30 s, and the hub process stopped. A new worker reads again
from the committed offsets; nothing is lost or written twice between the topics.
"""

from __future__ import annotations

import threading

import pytest
from confluent_kafka import KafkaError, KafkaException, Message

from hub.dataplane.transactional import Output, TransactionalLoop
from hub.dataplane.worker import run_replacing_hung
from hub.kafka import TopicSpec, ensure_topics, make_admin, make_producer, read_to_end
from hub.runtime import wait_until
from tests.helpers import unique

pytestmark = [pytest.mark.kafka]
COUNT = 300


def test_a_passing_kafka_error_replaces_the_worker(kafka_bootstrap: str) -> None:
    source, copied, group = unique("replace-in"), unique("replace-out"), unique("replace")
    ensure_topics(make_admin(kafka_bootstrap), [TopicSpec(source), TopicSpec(copied)])
    producer = make_producer(kafka_bootstrap)
    for number in range(COUNT):
        producer.produce(source, key=str(number).encode(), value=str(number).encode())
    producer.flush(30)

    failed = threading.Event()

    def copy(msg: Message) -> list[Output]:
        if int(msg.value()) == COUNT // 2 and not failed.is_set():
            failed.set()  # once: the worker that follows copies it
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT))
        return [Output(copied, msg.key(), msg.value())]

    loops: list[TransactionalLoop] = []

    def make_loop() -> TransactionalLoop:
        loop = TransactionalLoop(
            kafka_bootstrap,
            group_id=group,
            transactional_id=f"{group}-tx",
            topics=[source],
            transform=copy,
        )
        loops.append(loop)
        return loop

    stop = threading.Event()
    result = {}
    worker = threading.Thread(
        target=lambda: result.update(stats=run_replacing_hung(make_loop(), make_loop, stop.is_set))
    )
    worker.start()
    try:

        def copied_values() -> list[bytes]:
            return [m.value() for m in read_to_end(kafka_bootstrap, copied)]

        assert wait_until(lambda: len(set(copied_values())) == COUNT, 90), (
            f"{len(set(copied_values()))} of {COUNT} records copied"
        )
    finally:
        stop.set()
        worker.join(60)
    assert failed.is_set() and len(loops) == 2, "the failed worker was replaced once"
    assert "stats" in result, "the worker ran on, to its stop"
    assert sorted(copied_values()) == sorted(str(n).encode() for n in range(COUNT)), "each once"
