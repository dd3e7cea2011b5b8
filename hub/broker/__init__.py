"""A real Apache Kafka broker run by the project itself, for machines without Docker.

``install`` fetches the broker's jars from Maven Central into a git-ignored cache;
``cluster`` formats KRaft storage and runs one or more nodes on loopback.
"""

from hub.broker.cluster import (
    ClusterStatus,
    LocalCluster,
    NodeStatus,
    cluster_root,
    default_base_port,
    existing_clusters,
)
from hub.broker.install import KafkaInstall, ensure_kafka, require_java
from hub.broker.ports import free_base_port

__all__ = [
    "ClusterStatus",
    "KafkaInstall",
    "LocalCluster",
    "NodeStatus",
    "cluster_root",
    "default_base_port",
    "ensure_kafka",
    "existing_clusters",
    "free_base_port",
    "require_java",
]
