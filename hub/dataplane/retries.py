"""Delayed retries through ``lapor.retry.<stage>``, so one failing record never blocks its
partition and a destination down for minutes fills retries, not dead letters.

A record that failed for a transient reason is written to the retry topic with its attempt
count and a ``lapor.retry.not-before`` time (exponential, capped: the RetrySchedule); the
retry worker sends it back to the topic it came from once that time has passed. After the
schedule's last attempt it goes to the dead letters instead. Headers keep the first failure
time and the attempts, so an operator sees the whole history (``lapor-hub retries list``).
The retries a connector makes within one delivery, in seconds, are the SDK's RetryPolicy.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Message, TopicPartition

from hub import metrics, records, topics
from hub.errors import HubError, RetryableDeliveryError
from hub.kafka import (
    DurableProducer,
    client_id,
    consume,
    make_consumer,
    raise_consumed_error,
    read_again_on_failure,
)
from hub.records import Record

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrySchedule:
    """When a record that failed for a transient reason comes back from its retry topic,
    and how many times before it is a dead letter."""

    first_seconds: float = 5.0
    max_seconds: float = 300.0
    max_attempts: int = 12  # 5 s doubling to 5 min: about 40 minutes in all

    def delay(self, attempt: int) -> float:
        return min(self.first_seconds * 2 ** (attempt - 1), self.max_seconds)

    def span(self) -> float:
        """How long a record may stay in retries before it is a dead letter."""
        return sum(self.delay(attempt) for attempt in range(1, self.max_attempts))


DEFAULT_SCHEDULE = RetrySchedule()


def retry_or_dead_letter(
    msg: Message, stage: str, connector: str, error: Exception, schedule: RetrySchedule
) -> Record:
    """Where a transiently failed record goes next: a retry (with its not-before time) or,
    after the last attempt, the dead letters."""
    letter = records.dead_letter(msg, stage, connector, error)
    attempts = records.attempts(letter.headers)
    if attempts >= schedule.max_attempts:
        return letter
    headers = {**letter.headers, records.NOT_BEFORE: records.not_before(schedule.delay(attempts))}
    return Record(topics.retry(stage), letter.key, letter.value, headers)


def failed_record(
    msg: Message, stage: str, connector: str, error: Exception, schedule: RetrySchedule
) -> Record:
    """A permanent failure goes to the dead letters; a transient one to the stage's retry
    topic (the dead letters after the last attempt). Counted either way."""
    if isinstance(error, RetryableDeliveryError):
        letter = retry_or_dead_letter(msg, stage, connector, error, schedule)
    else:
        letter = records.dead_letter(msg, stage, connector, error)
    failed = letter.topic == topics.dead_letter(stage)
    metrics.count(stage, "failed" if failed else "retried")
    return letter


def wait_behind(
    msg: Message, stage: str, connector: str, earlier: str, schedule: RetrySchedule
) -> Record:
    """A record held back, not failed: it goes to the retry topic behind ``earlier`` (an
    earlier record of the same key waiting there), which the retry worker sends back first,
    since it holds a partition at its first record not yet due. Not counted as an attempt."""
    headers = records.failure_headers(
        stage, connector, None, earlier=records.headers_of(msg), topic=msg.topic() or ""
    )
    headers[records.NOT_BEFORE] = records.not_before(schedule.first_seconds)
    headers[records.WAITS_FOR] = earlier.encode()
    return Record(topics.retry(stage), msg.key(), msg.value() or b"", headers)


class RetryWorker:
    """Sends due retries of one stage back to the topic they failed on."""

    def __init__(
        self,
        bootstrap: str,
        stage: str,
        group: str,
        start_at: str = "earliest",
        member: str | None = None,
    ) -> None:
        """``member``: the process's name, for a static membership (hub.kafka)."""
        self.stage = stage
        self.topic = topics.retry(stage)
        named = client_id("retry", stage)
        self.consumer = make_consumer(
            bootstrap,
            group,
            stage="retry",
            member=(member, [self.topic]) if member else None,
            auto_offset_reset=start_at,
            client_id=named,
        )
        self.consumer.subscribe([self.topic])
        self.producer = DurableProducer(bootstrap, client_id=named)
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
        due: list[Record] = []
        raise_consumed_error(messages)
        for msg in messages:
            if msg.error() or msg.partition() in held:
                continue
            headers = records.headers_of(msg)
            next_offsets[msg.partition()] = msg.offset() + 1
            refused = self._refusal(msg, headers)
            if refused is not None:
                due.append(refused)
                continue
            if (records.due_millis(headers) or 0) / 1000 > time.time():
                held.add(msg.partition())
                next_offsets[msg.partition()] = msg.offset()
                self.consumer.seek(TopicPartition(self.topic, msg.partition(), msg.offset()))
                continue
            origin = records.text(headers, records.ERROR_TOPIC)
            retried_at = datetime.now(UTC).isoformat().encode()
            kept = records.sent_back(headers, {records.RETRIED_AT: retried_at})
            due.append(Record(origin, msg.key(), msg.value(), kept))
        if due:
            self.producer.send_blocking(due)
        forwarded = sum(1 for record in due if record.topic != topics.dead_letter(self.stage))
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

    def _refusal(self, msg: Message, headers: dict[str, bytes]) -> Record | None:
        """A retry that must not go back: one whose return address is not its stage's
        input (a record put on the retry topic to reach another agency's topic, or the
        hub's own), or whose due time is not a time. Its dead letter, counted."""
        origin = records.text(headers, records.ERROR_TOPIC)
        if not topics.may_return_to(self.stage, origin):
            why = (
                f"target not allowed: a {self.stage} retry may go back to "
                f"{topics.returns_of(self.stage)} only, not {origin[:200]!r}"
            )
        elif not self._due_in_time(headers):
            why = (
                f"its {records.NOT_BEFORE} header is not a time in milliseconds within the "
                "retry schedule (a far-off time would hold its partition for good)"
            )
        elif len(msg.value() or b"") + len(msg.key() or b"") > records.MAX_RECORD_BYTES:
            why = f"it is over the {records.MAX_RECORD_BYTES:,}-byte limit for one record"
        elif not _utf8(msg.key() or b""):
            why = "its key is not UTF-8 text (a report's hub id is)"
        else:
            return None
        metrics.count("retry", "refused")
        log.warning("refused a %s retry: %s", self.stage, why)
        return records.dead_letter(
            msg, self.stage, records.text(headers, records.ERROR_CONNECTOR), RefusedRetry(why)
        )

    @staticmethod
    def _due_in_time(headers: dict[str, bytes]) -> bool:
        due = records.due_millis(headers)
        latest = time.time() + DEFAULT_SCHEDULE.max_seconds + 3600  # with room for clock skew
        return due is not None and due / 1000 <= latest

    def close(self) -> None:
        self.consumer.close()


def _utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


class RefusedRetry(HubError):
    """A record on a retry topic that the retry worker will not send back."""
