"""One report's history, read from the hub's topics (``lapor-hub reports show ID``).

The tracker's state (lifecycle per agency, SLA clocks, the re-routing chain) comes from its
table's compacted changelog; the rest is gathered by scanning the topics for the report's
key: lapor.reports (what came in), lapor.routed (every decision, with its rules version),
lapor.ledger.* (what each destination acknowledged), lapor.status.* (every status change),
the retry topics (delivery attempts that failed and were retried) and the dead-letter
topics. Topics keyed by the hub id are read on the key's partition only; the changelog (a
tick may write a report's state on another partition) and the ledgers (keyed per delivery)
are read whole. Right for an investigation, not for a dashboard.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hub import records, topics
from hub.kafka import make_admin, read_to_end
from hub.serialization import TopicSerializer


@dataclass
class History:
    hub_id: str
    report: dict[str, Any] | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)
    deliveries: dict[str, str] = field(default_factory=dict)  # agency[:copy] -> the app's id
    statuses: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[tuple[str, str]] = field(default_factory=list)  # (stage, reason)
    attempts: list[tuple[str, str, str]] = field(default_factory=list)  # (when, agency, why)
    tracked: dict[str, Any] | None = None  # the tracker's state of the report

    @property
    def found(self) -> bool:
        return bool(self.report or self.decisions or self.statuses or self.dead_letters)


def report_history(
    bootstrap: str,
    hub_id: str,
    serializer: TopicSerializer,
    group_prefix: str = "lapor",
    connectors: Iterable[str] | None = None,
) -> History:
    """``connectors``: the hub's configured ones, whose ledger and status topics are read
    (a shared cluster holds other hubs' too); None reads every one the cluster has."""
    history = History(hub_id)
    key = hub_id.encode()
    for msg in read_to_end(bootstrap, topics.tracker_changelog(group_prefix)):
        if msg.key() == key:
            history.tracked = json.loads(msg.value()) if msg.value() else None
    for msg in read_to_end(bootstrap, topics.REPORTS, key=key):
        if msg.key() == key:
            history.report = serializer.deserialize(topics.REPORTS, msg.value())
    for msg in read_to_end(bootstrap, topics.ROUTED, key=key):
        if msg.key() == key:
            history.decisions.append(serializer.deserialize(topics.ROUTED, msg.value())["decision"])
    if connectors is None:
        known = list(make_admin(bootstrap).list_topics(timeout=10).topics)
    else:
        known = [f(c) for c in connectors for f in (topics.ledger, topics.status)]
    for topic in sorted(t for t in known if t.startswith(topics.LEDGER)):
        for msg in read_to_end(bootstrap, topic):
            entry = (msg.key() or b"").decode("utf-8", "replace")
            if entry.startswith(f"{hub_id}:"):
                acknowledged = (msg.value() or b"").decode("utf-8", "replace")
                history.deliveries[entry.split(":", 1)[1]] = acknowledged
    for topic in sorted(t for t in known if t.startswith(topics.STATUS)):
        for msg in read_to_end(bootstrap, topic, key=key):
            if msg.key() == key:
                history.statuses.append(serializer.deserialize(topic, msg.value()))
    history.statuses.sort(key=lambda update: update["occurred_at"])
    for stage in topics.RETRIED_STAGES:
        for msg in read_to_end(bootstrap, topics.retry(stage), key=key):
            if msg.key() == key:
                headers = records.headers_of(msg)
                history.attempts.append(
                    (
                        records.text(headers, records.LAST_FAILURE),
                        records.text(headers, records.DESTINATION, stage),
                        records.text(headers, records.ERROR_MESSAGE),
                    )
                )
    for stage in topics.STAGES:
        for msg in read_to_end(bootstrap, topics.dead_letter(stage), key=key):
            if msg.key() == key:
                reason = records.text(records.headers_of(msg), records.ERROR_MESSAGE)
                history.dead_letters.append((stage, reason))
    return history
