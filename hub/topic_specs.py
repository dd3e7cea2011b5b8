"""How each of the hub's topics is made: partitions, replication, retention, compaction.

The one place a topic's shape is decided. ``lapor-hub up``, the tracker and the operator
commands create what is missing from here, and an existing topic of another shape is
refused (hub.kafka.ensure_topics): keys would land on other partitions than the hub expects.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import KafkaException

from hub import topics
from hub.config import HubConfig, TopicSettings
from hub.errors import BrokerNotReachable
from hub.kafka import TopicSpec, ensure_topics, make_admin
from hub.records import DEAD_LETTER_MAX_BYTES

DAY_MS = 24 * 3600 * 1000
COMPACT = {"cleanup.policy": "compact"}
FOREVER = {"retention.ms": "-1"}
DEAD_LETTER_DAYS = 90  # an operator may be on leave
TICK_RETENTION = {"retention.ms": str(3600 * 1000)}  # ticks age fast


def _specs(connectors: Iterable[str], settings: TopicSettings) -> list[TopicSpec]:
    keep = {"retention.ms": str(settings.retention_days * DAY_MS)}
    dead_letters = {
        "retention.ms": str(DEAD_LETTER_DAYS * DAY_MS),
        # a refused input is kept whole, larger than a report may be (hub.records.kept_whole)
        "max.message.bytes": str(DEAD_LETTER_MAX_BYTES + 1024 * 1024),
    }

    def spec(name: str, extra: dict[str, str] | None = None, partitions: int | None = None):
        return TopicSpec(
            name, partitions or settings.partitions, settings.replication, extra or keep
        )

    dated = {**keep, "message.timestamp.type": "LogAppendTime"}  # by the broker, not a producer
    found = [
        spec(topics.REPORTS),
        # a decision's broker time: from then on its agencies answer for the report, on the
        # same clock as their statuses (hub.tracker.lifecycle)
        spec(topics.ROUTED, dated),
        spec(topics.LEASES, None, 1),  # its one partition is the lease
    ]
    for instance in connectors:
        found += [
            spec(topics.inbound(instance)),
            spec(topics.outbound(instance)),
            # the broker dates each status, not the agency's app (hub.tracker: a status
            # written before its report was sent to the agency is refused)
            spec(topics.status(instance), dated),
            spec(topics.feedback(instance)),
            # a connector's own state and failures: small, each read whole or in order, so
            # one partition (a national hub has hundreds of connectors)
            spec(topics.cursors(instance), COMPACT, 1),
            spec(topics.ledger(instance), COMPACT, 1),  # what its destinations acknowledged
            spec(topics.failed(instance), dead_letters, 1),
        ]
    found += [spec(topics.dead_letter(stage), dead_letters) for stage in topics.STAGES]
    found += [spec(topics.retry(stage)) for stage in topics.RETRIED_STAGES]
    found.append(spec(topics.TICKS, TICK_RETENTION))
    return found


def hub_topics(config: HubConfig) -> list[TopicSpec]:
    """Every topic a hub with this configuration reads or writes."""
    return _specs(config.connectors, config.topics)


def tracker_topics(config: HubConfig) -> list[TopicSpec]:
    """faust's own topics, created by the hub with their settings explicit (faust would
    create them only under its worker, with the broker's defaults): the table's compacted
    changelog, co-partitioned with the inputs, and the assignor's leader topic."""
    settings = config.topics
    return [
        TopicSpec(
            topics.tracker_changelog(config.group_prefix),
            settings.partitions,
            settings.replication,
            COMPACT,
        ),
        TopicSpec(topics.tracker_assignor(config.group_prefix), 1, settings.replication),
    ]


def broker_count(bootstrap: str) -> int:
    try:
        return len(make_admin(bootstrap).list_topics(timeout=30).brokers)
    except KafkaException as exc:
        raise BrokerNotReachable(
            f"Kafka at {bootstrap} did not answer a metadata request in 30 s ({exc}).",
            fix="check that the brokers are up (lapor-hub broker status).",
        ) from exc


def durable(name: str, config: dict[str, str], brokers: int) -> TopicSpec:
    """A topic that must outlive brokers: one partition (one chain, one order), replicated
    3 times where the cluster has three brokers or more (min.insync.replicas 2), else on
    every broker there is."""
    replication = max(1, min(3, brokers))
    insync = {"min.insync.replicas": str(2 if replication >= 3 else 1)}
    return TopicSpec(name, 1, replication, {**config, **insync})


def kept_topics(brokers: int) -> list[TopicSpec]:
    """The audit trail and the replay ledger (kept forever), the identity key fingerprints
    (compacted): made by the first command that needs them, as durable as the cluster."""
    return [
        durable(topics.AUDIT, FOREVER, brokers),
        durable(topics.REPLAYS, FOREVER, brokers),
        durable(topics.KEYRING, COMPACT, brokers),
    ]


def audit_topic(bootstrap: str) -> TopicSpec:
    return durable(topics.AUDIT, FOREVER, broker_count(bootstrap))


def replays_topic(bootstrap: str) -> TopicSpec:
    return durable(topics.REPLAYS, FOREVER, broker_count(bootstrap))


def keyring_topic(bootstrap: str) -> TopicSpec:
    return durable(topics.KEYRING, COMPACT, broker_count(bootstrap))


def ensure_hub_topics(bootstrap: str, config: HubConfig) -> list[str]:
    return ensure_topics(make_admin(bootstrap), hub_topics(config))


def ensure_connector_topics(bootstrap: str, name: str) -> list[str]:
    """The topics one connector's sides use, with the default settings (tests, tools)."""
    return ensure_topics(make_admin(bootstrap), _specs([name], TopicSettings()))
