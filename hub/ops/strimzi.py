"""The hub's topics and principals as Strimzi resources, so an operator on Kubernetes never
types a topic setting or an ACL: KafkaTopic objects from the hub's own topic specs
(hub.topic_specs) and KafkaUser objects (SCRAM-SHA-512, simple authorization) from
``security plan`` (hub.ops.security). Strimzi's operators then create the topics and the
users, and write each user's password into a Secret named after it, which the pods read.
"""

from __future__ import annotations

import re
from typing import Any

from hub.config import HubConfig
from hub.kafka import TopicSpec
from hub.ops.security import Grant, Plan
from hub.topic_specs import hub_topics, kept_topics, tracker_topics

API = "kafka.strimzi.io/v1"
RESOURCE = {"TOPIC": "topic", "GROUP": "group", "TRANSACTIONAL_ID": "transactionalId"}
PATTERN = {"LITERAL": "literal", "PREFIXED": "prefix"}


def resource_name(name: str) -> str:
    """A Kubernetes object name for a Kafka name (lowercase letters, digits, '-' and '.';
    the Kafka name itself goes in spec.topicName where they differ)."""
    cleaned = re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-.")
    return cleaned[:253]


def all_topics(config: HubConfig, brokers: int) -> list[TopicSpec]:
    """Every topic the hub needs on a cluster of ``brokers`` brokers."""
    return [*hub_topics(config), *tracker_topics(config), *kept_topics(brokers)]


def on_cluster(spec: TopicSpec, brokers: int) -> TopicSpec:
    """A topic as durable as the cluster: replicated min(3, brokers) times at least (a
    configuration written for one local broker says 1), min.insync.replicas 2 at three."""
    replicas = max(spec.replication, min(3, brokers))
    config = dict(spec.config)
    if replicas >= 3:
        config.setdefault("min.insync.replicas", "2")
    return TopicSpec(spec.name, spec.partitions, replicas, config)


def kafka_topic(spec: TopicSpec, cluster: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "KafkaTopic",
        "metadata": {
            "name": resource_name(spec.name),
            "namespace": namespace,
            "labels": {"strimzi.io/cluster": cluster, "app.kubernetes.io/part-of": "lapor-hub"},
        },
        "spec": {
            "topicName": spec.name,
            "partitions": spec.partitions,
            "replicas": spec.replication,
            "config": dict(spec.config),
        },
    }


def strimzi_operation(operation: str) -> str:
    """Kafka's DESCRIBE_CONFIGS as Strimzi spells it: DescribeConfigs."""
    return "".join(part.capitalize() for part in operation.split("_"))


def acl(grant: Grant) -> dict[str, Any]:
    return {
        "type": grant.permission.lower(),
        "resource": {
            "type": RESOURCE[grant.resource],
            "name": grant.name,
            "patternType": PATTERN[grant.pattern],
        },
        "operations": [strimzi_operation(operation) for operation in grant.operations],
        "host": "*",
    }


def kafka_user(principal: str, about: str, plan: Plan, cluster: str, namespace: str) -> dict:
    return {
        "apiVersion": API,
        "kind": "KafkaUser",
        "metadata": {
            "name": principal,
            "namespace": namespace,
            "labels": {"strimzi.io/cluster": cluster, "app.kubernetes.io/part-of": "lapor-hub"},
            "annotations": {"lapor.go.id/principal": about},
        },
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": [acl(g) for g in plan.of(principal)]},
        },
    }


def strimzi_resources(
    config: HubConfig, plan: Plan, cluster: str, namespace: str, brokers: int
) -> list[dict[str, Any]]:
    """KafkaTopics, then KafkaUsers."""
    found = [
        kafka_topic(on_cluster(spec, brokers), cluster, namespace)
        for spec in all_topics(config, brokers)
    ]
    names = [topic["metadata"]["name"] for topic in found]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:
        from hub.errors import HubError

        raise HubError(
            f"topics whose Kubernetes names would clash: {', '.join(clashes)}",
            fix="rename the connectors whose names differ only in case or punctuation.",
        )
    for principal, about in plan.principals.items():
        found.append(kafka_user(principal, about, plan, cluster, namespace))
    return found
