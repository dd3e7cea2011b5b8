"""What waits in the retry topics (``lapor-hub retries list``): the records past each retry
worker's committed offsets, grouped by stage and connector."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from confluent_kafka import TopicPartition

from hub import records, topics
from hub.kafka import make_consumer, read_to_end
from hub.records import Letter


class Pending(Letter):
    """A record in a retry topic that the retry worker has not sent back yet: a dead
    letter's headers, with the time it is due and what it waits behind."""

    @property
    def attempts(self) -> int:  # 0: only held behind an earlier record, never failed
        return records.attempts(self.headers)


def pending_retries(
    bootstrap: str, group_prefix: str, stages=topics.RETRIED_STAGES
) -> list[Pending]:
    """What waits in each stage's retry topic: the records past its retry worker's
    committed offsets (all of them if it never committed)."""
    pending = []
    for stage in stages:
        topic = topics.retry(stage)
        starts = _committed(bootstrap, topic, topics.retry_group(group_prefix, stage))
        pending += [Pending.from_message(m) for m in read_to_end(bootstrap, topic, starts=starts)]
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


@dataclass(frozen=True)
class WaitingGroup:
    """The records of one stage and connector waiting in retries."""

    stage: str
    connector: str
    waiting: int
    held: int  # only held behind an earlier status of their report
    attempts: int  # the most of any
    first_failed: str  # when the oldest first failed ("-" if none failed)
    next_due: datetime
    last_due: datetime
    last_reason: str


def waiting_groups(pending: list[Pending]) -> list[WaitingGroup]:
    groups: dict[tuple[str, str], list[Pending]] = {}
    for record in pending:
        groups.setdefault((record.stage, record.connector), []).append(record)
    found = []
    for (stage, connector), group in sorted(groups.items()):
        failed = [r.header(records.FIRST_FAILURE) for r in group if r.attempts]
        reasons = [r.reason for r in group if not r.waits_for and r.reason]
        found.append(
            WaitingGroup(
                stage=stage,
                connector=connector,
                waiting=len(group),
                held=sum(1 for r in group if r.waits_for),
                attempts=max(r.attempts for r in group),
                first_failed=min(failed)[5:16].replace("T", " ") if failed else "-",
                next_due=min(r.due for r in group),
                last_due=max(r.due for r in group),
                last_reason=reasons[-1] if reasons else "-",
            )
        )
    return found


def overdue(pending: list[Pending], grace: timedelta = timedelta(minutes=1)) -> int:
    """How many are past due by more than ``grace``: no retry worker sends them back."""
    return sum(1 for r in pending if r.due < datetime.now(UTC) - grace)
