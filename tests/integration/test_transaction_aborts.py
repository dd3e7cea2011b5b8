"""A transaction the broker refuses a record of is aborted and read again; the warning says
which records failed and why (librdkafka's abort error alone says only "N message(s)
failed delivery"), and nothing is lost or written twice."""

from __future__ import annotations

import logging
import os
import time

import pytest
from confluent_kafka import Message

from hub.dataplane.transactional import TransactionalLoop
from hub.kafka import TopicSpec, ensure_topics, make_admin, make_producer, read_to_end
from hub.records import Record
from tests.helpers import unique

pytestmark = [pytest.mark.kafka]
COUNT = 50


def test_an_aborted_transaction_says_which_records_failed_and_why(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    source, copied, group = unique("abort-in"), unique("abort-out"), unique("abort")
    ensure_topics(
        make_admin(kafka_bootstrap),
        [TopicSpec(source), TopicSpec(copied, 1, 1, {"max.message.bytes": "1000"})],
    )
    producer = make_producer(kafka_bootstrap)
    for number in range(COUNT):
        producer.produce(source, key=str(number).encode(), value=str(number).encode())
    assert producer.flush(30) == 0
    oversized = []

    def copy(msg: Message) -> list[Record]:
        if msg.value() == b"7" and not oversized:  # once: read again, it fits
            oversized.append(msg.offset())
            return [Record(copied, msg.key(), os.urandom(5000))]  # lz4 cannot shrink it
        return [Record(copied, msg.key(), msg.value())]

    loop = TransactionalLoop(
        kafka_bootstrap,
        group_id=group,
        transactional_id=f"{group}-tx",
        topics=[source],
        transform=copy,
    )

    def copied_values() -> list[bytes]:
        return [m.value() for m in read_to_end(kafka_bootstrap, copied)]

    with caplog.at_level(logging.WARNING, logger="hub.dataplane.transactional"):
        try:
            deadline = time.monotonic() + 60
            while len(copied_values()) < COUNT and time.monotonic() < deadline:
                loop.step(0.2)
                loop.step(0.2)
            loop.flush()
        finally:
            loop.close()
    assert loop.stats.aborted >= 1
    warnings = [
        r.getMessage() for r in caplog.records if "aborting a transaction" in r.getMessage()
    ]
    assert any(f" x {copied}: Broker: Message size too large" in w for w in warnings), warnings
    assert sorted(copied_values()) == sorted(str(n).encode() for n in range(COUNT)), "each once"
