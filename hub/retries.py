"""Delayed retries through ``lapor.retry.<stage>``, so one failing record never blocks its
partition and a destination down for minutes fills retries, not dead letters.

A record that failed for a transient reason is written to the retry topic with its attempt
count and a ``lapor.retry.not-before`` time (exponential backoff, capped); the retry worker
sends it back to the topic it came from once that time has passed. After ``max_attempts``
it goes to the dead letters instead. Headers keep the first failure time and the attempts,
so an operator sees the whole history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Message, TopicPartition

from hub import metrics, topics
from hub.deadletters import DeadLetter, dead_letter
from hub.dlq import Letter
from hub.kafka import (
    DurableProducer,
    consume,
    make_consumer,
    read_again_on_failure,
    read_to_end,
)

STAGES = ("deliver", "feedback")  # the stages whose failures are retried
NOT_BEFORE = "lapor.retry.not-before"
WAITS_FOR = "lapor.retry.waits-for"  # a record held back behind an earlier one of its key


@dataclass(frozen=True)
class Backoff:
    first_seconds: float = 5.0
    max_seconds: float = 300.0
    max_attempts: int = 12  # 5 s doubling to 5 min: about 40 minutes in all

    def delay(self, attempt: int) -> float:
        return min(self.first_seconds * 2 ** (attempt - 1), self.max_seconds)

    def span(self) -> float:
        """How long a record may stay in retries before it is a dead letter."""
        return sum(self.delay(attempt) for attempt in range(1, self.max_attempts))


def retry_or_dead_letter(
    msg: Message, stage: str, connector: str, error: Exception, backoff: Backoff
) -> DeadLetter:
    """Where a transiently failed record goes next: a retry (with its not-before time) or,
    after the last attempt, the dead letters."""
    letter = dead_letter(msg, stage, connector, error)
    attempts = int(letter.headers["lapor.errors.attempts"])
    if attempts >= backoff.max_attempts:
        return letter
    not_before = time.time() + backoff.delay(attempts)
    headers = {**letter.headers, NOT_BEFORE: str(int(not_before * 1000)).encode()}
    return DeadLetter(topics.retry(stage), letter.key, letter.value, headers)


def retry_group(group_prefix: str, stage: str) -> str:
    """The consumer group of a stage's retry worker (its committed offsets: what is sent back)."""
    return f"{group_prefix}-retry-{stage}"


def wait_behind(
    msg: Message, stage: str, connector: str, earlier: str, backoff: Backoff
) -> DeadLetter:
    """A record held back, not failed: it goes to the retry topic behind ``earlier`` (an
    earlier record of the same key waiting there), which the retry worker sends back first,
    since it holds a partition at its first record not yet due. Not counted as an attempt."""
    headers = {k: v or b"" for k, v in (msg.headers() or [])}
    not_before = time.time() + backoff.first_seconds
    headers.update(
        {
            "__connect.errors.topic": (msg.topic() or "").encode(),
            "__connect.errors.connector.name": connector.encode(),
            NOT_BEFORE: str(int(not_before * 1000)).encode(),
            WAITS_FOR: earlier.encode(),
        }
    )
    return DeadLetter(topics.retry(stage), msg.key(), msg.value() or b"", headers)


class RetryWorker:
    """Sends due retries of one stage back to the topic they failed on."""

    def __init__(self, bootstrap: str, stage: str, group: str, start_at: str = "earliest") -> None:
        self.topic = topics.retry(stage)
        self.consumer = make_consumer(bootstrap, group, auto_offset_reset=start_at)
        self.consumer.subscribe([self.topic])
        self.producer = DurableProducer(bootstrap)
        self.sent = 0

    def run_once(self, timeout: float = 0.5) -> int:
        """Forward what is due. A record not yet due is read again later (its partition is
        rewound to it, and committed up to it); the other partitions go on."""
        messages = consume(self.consumer, 500, timeout)
        with read_again_on_failure(self.consumer, messages):
            return self._forward(messages, timeout)

    def _forward(self, messages: list, timeout: float) -> int:
        held: set[int] = set()
        next_offsets: dict[int, int] = {}
        records: list[tuple] = []
        for msg in messages:
            if msg.error() or msg.partition() in held:
                continue
            headers = {k: v or b"" for k, v in (msg.headers() or [])}
            if int(headers.get(NOT_BEFORE, b"0") or 0) / 1000 > time.time():
                held.add(msg.partition())
                next_offsets[msg.partition()] = msg.offset()
                self.consumer.seek(TopicPartition(self.topic, msg.partition(), msg.offset()))
                continue
            origin = headers.get("__connect.errors.topic", b"").decode()
            keep = {
                k: v
                for k, v in headers.items()
                if not k.startswith("__connect.errors.") and k not in (NOT_BEFORE, WAITS_FOR)
            }
            keep["lapor.retried-at"] = datetime.now(UTC).isoformat().encode()
            records.append((origin, msg.key(), msg.value(), keep))
            next_offsets[msg.partition()] = msg.offset() + 1
        if records:
            self.producer.send_blocking(records)
        forwarded = len(records)
        if next_offsets:
            self.consumer.commit(
                offsets=[TopicPartition(self.topic, p, o) for p, o in next_offsets.items()],
                asynchronous=False,
            )
        self.sent += forwarded
        metrics.count("retry", "out", forwarded)
        if held and not forwarded:
            time.sleep(min(timeout, 0.5))  # nothing due yet
        return forwarded

    def close(self) -> None:
        self.consumer.close()


class Pending(Letter):
    """A record in a retry topic that the retry worker has not sent back yet: a dead
    letter's headers, with the time it is due and what it waits behind."""

    @property
    def attempts(self) -> int:  # 0: only held behind an earlier record, never failed
        return int(self.header("lapor.errors.attempts") or 0)

    @property
    def due(self) -> datetime:
        return datetime.fromtimestamp(int(self.header(NOT_BEFORE) or 0) / 1000, UTC)

    @property
    def waits_for(self) -> str:
        """The id of the earlier record of its key it is held behind ("" if it failed)."""
        return self.header(WAITS_FOR)


def pending_retries(bootstrap: str, group_prefix: str, stages=STAGES) -> list[Pending]:
    """What waits in each stage's retry topic: the records past its retry worker's
    committed offsets (all of them if it never committed)."""
    pending = []
    for stage in stages:
        topic = topics.retry(stage)
        starts = _committed(bootstrap, topic, retry_group(group_prefix, stage))
        pending += [
            Pending.from_message(stage, m) for m in read_to_end(bootstrap, topic, starts=starts)
        ]
    return pending


def _committed(bootstrap: str, topic: str, group: str) -> dict[int, int]:
    """A group's committed offset per partition of ``topic`` (read, without joining it)."""
    consumer = make_consumer(bootstrap, group)
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return {}
        asked = [TopicPartition(topic, number) for number in metadata.partitions]
        return {tp.partition: tp.offset for tp in consumer.committed(asked, 10) if tp.offset >= 0}
    finally:
        consumer.close()
