"""Acknowledged writes survive a broker restart, and a three-node cluster survives a lost node.

Each test runs its own cluster (temporary folder, free ports) so it can stop and restart
brokers without disturbing the session's broker.
"""

from __future__ import annotations

import pytest

from hub.kafka import TopicSpec, ensure_topics, make_admin
from tests.helpers import consume_keys, produce_numbered, unique

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
COUNT = 10_000


def test_10000_acked_messages_survive_a_broker_restart(local_cluster_factory) -> None:
    cluster = local_cluster_factory(nodes=1)
    cluster.start()
    topic = unique("lapor.test.durable")
    ensure_topics(make_admin(cluster.bootstrap), [TopicSpec(topic, partitions=3, replication=1)])
    assert produce_numbered(cluster.bootstrap, topic, COUNT) == COUNT

    assert cluster.stop() == [], "the broker should stop cleanly on SIGTERM, not be killed"
    assert not cluster.status().running
    cluster.start()

    assert consume_keys(cluster.bootstrap, topic, COUNT) == {str(n) for n in range(COUNT)}


def test_three_node_cluster_keeps_every_message_after_losing_one_node(
    local_cluster_factory,
) -> None:
    cluster = local_cluster_factory(nodes=3)
    cluster.start()
    assert cluster.status().brokers_answering == 3
    topic = unique("lapor.test.replicated")
    admin = make_admin(cluster.bootstrap)
    ensure_topics(admin, [TopicSpec(topic, partitions=3, replication=3)])
    # an operator's topic with more replicas than a spec asks is used as it is: no mismatch
    # refused (a broker whose metadata lags may not list it yet: it is then "created" again,
    # which Kafka answers with already-exists), and its three replicas stay
    ensure_topics(admin, [TopicSpec(topic, partitions=3, replication=1)])
    partitions = admin.list_topics(topic, timeout=30).topics[topic].partitions
    assert {len(p.replicas) for p in partitions.values()} == {3}
    assert produce_numbered(cluster.bootstrap, topic, COUNT) == COUNT

    cluster.stop_node(2)
    assert cluster.status().brokers_answering == 2

    assert consume_keys(cluster.bootstrap, topic, COUNT) == {str(n) for n in range(COUNT)}
    # min.insync.replicas=2: the two nodes left still accept acks=all writes
    assert produce_numbered(cluster.bootstrap, topic, 100, start=COUNT) == 100

    cluster.start_node(2)
    assert cluster.status().brokers_answering == 3
    assert len(consume_keys(cluster.bootstrap, topic, COUNT + 100)) == COUNT + 100
