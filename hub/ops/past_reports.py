"""Past reports with the decision each got when first routed, read back from lapor.reports
and lapor.routed: what ``lapor-hub rules dry-run`` and the console's dry run re-decide with
changed rules (routing has no Kafka code, so they are read here)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Protocol

from confluent_kafka import TopicPartition

from hub import topics
from hub.kafka import make_consumer, read_to_end, watermarks
from hub.routing.dryrun import original
from hub.serialization import TopicSerializer, load_store, make_codec
from hub.settings import load_settings
from hub.topics import READER_GROUP


class Progress(Protocol):
    """What the reads report to (rich's Progress is one)."""

    def add_task(self, description: str, total: float | None = ...) -> Any: ...

    def advance(self, task: Any, advance: float = ...) -> None: ...


def past_reports(
    bootstrap: str,
    since_at: datetime | None,
    limit: int | None,
    connector: str | None,
    progress: Progress,
) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    """(report, the RoutingDecision of its first routing or None) for each report on
    lapor.reports written from ``since_at``, at most ``limit``, each hub id once. The
    decisions come from lapor.routed, read from the same time (the route hop writes both in
    one transaction) until every report's is found."""
    settings = load_settings()
    serializer = TopicSerializer(make_codec(settings, load_store(settings)))
    since_ms = int(since_at.timestamp() * 1000) if since_at else None
    reports: dict[bytes, dict] = {}
    starts, total = starts_since(bootstrap, topics.REPORTS, since_ms)
    task = progress.add_task("reading lapor.reports", total=limit or total)
    for msg in read_to_end(bootstrap, topics.REPORTS, starts=starts):
        if not limit:
            progress.advance(task)
        key = msg.key() or b""
        if key in reports or (since_ms is not None and msg.timestamp()[1] < since_ms):
            continue
        report = serializer.deserialize(topics.REPORTS, msg.value())
        if connector and report["source"]["connector"] != connector:
            continue
        reports[key] = report
        if limit:
            progress.advance(task)
            if len(reports) >= limit:
                break
    decisions: dict[bytes, dict] = {}
    starts, total = starts_since(bootstrap, topics.ROUTED, since_ms)
    task = progress.add_task("reading lapor.routed", total=total)
    if reports:
        for msg in read_to_end(bootstrap, topics.ROUTED, starts=starts):
            progress.advance(task)
            key = msg.key() or b""
            if key not in reports or key in decisions:
                continue
            decision = serializer.deserialize(topics.ROUTED, msg.value())["decision"]
            if original(decision):
                decisions[key] = decision
                if len(decisions) == len(reports):
                    break
    task = progress.add_task("re-deciding", total=len(reports))
    for key, report in reports.items():
        progress.advance(task)
        yield report, decisions.get(key)


def starts_since(bootstrap: str, topic: str, since_ms: int | None) -> tuple[dict[int, int], int]:
    """Each partition's first offset written at ``since_ms`` or later (its end if none is),
    and how many records lie from there to the end."""
    consumer = make_consumer(bootstrap, f"{READER_GROUP}-{uuid.uuid4().hex[:8]}")
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return {}, 0
        starts, total = {}, 0
        found = {}
        if since_ms is not None:
            asked = [TopicPartition(topic, n, since_ms) for n in metadata.partitions]
            found = {tp.partition: tp.offset for tp in consumer.offsets_for_times(asked, 10)}
        for number in metadata.partitions:
            low, high = watermarks(consumer, TopicPartition(topic, number), 10)
            offset = found.get(number, low) if since_ms is not None else low
            starts[number] = high if offset < 0 else max(low, offset)
            total += high - starts[number]
        return starts, total
    finally:
        consumer.close()
