"""The hub's topics for a configuration, created with partitions, replication and
retention set explicitly, and checked when they exist already."""

from __future__ import annotations

from hub import topics
from hub.config import HubConfig
from hub.connect import CURSORS, LEDGER
from hub.dlq import STAGES
from hub.kafka import TopicSpec, ensure_topics, make_admin


def hub_topics(config: HubConfig) -> list[TopicSpec]:
    settings = config.topics
    keep = {"retention.ms": str(settings.retention_days * 24 * 3600 * 1000)}
    dead_letters = {"retention.ms": str(90 * 24 * 3600 * 1000)}  # an operator may be on leave

    def spec(name: str, extra: dict[str, str] | None = None, partitions: int | None = None):
        return TopicSpec(
            name, partitions or settings.partitions, settings.replication, extra or keep
        )

    compact = {"cleanup.policy": "compact"}
    found = [
        spec(topics.REPORTS),
        spec(topics.ROUTED),
        spec(CURSORS, compact, 1),
        spec(LEDGER, compact),  # what each destination acknowledged, kept per key
    ]
    for instance in config.connectors:
        found += [
            spec(topics.inbound(instance)),
            spec(topics.outbound(instance)),
            spec(topics.status(instance)),
            spec(topics.feedback(instance)),
        ]
    found += [spec(topics.dead_letter(stage), dead_letters) for stage in STAGES]
    found += [spec(topics.retry("deliver")), spec(topics.retry("feedback"))]
    found.append(spec(topics.TICKS, {"retention.ms": str(3600 * 1000)}))  # ticks age fast
    return found


def ensure_hub_topics(bootstrap: str, config: HubConfig) -> list[str]:
    return ensure_topics(make_admin(bootstrap), hub_topics(config))
