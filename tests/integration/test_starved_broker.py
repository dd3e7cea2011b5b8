"""A local broker starved of CPU for a while does not fence itself.

On a 2-core machine shared with the hub, a broker's JVM once went ~9 s without its
heartbeat reaching its own controller (Kafka's default session), which fenced it: every
partition's leader and group coordinator moved at once, a transaction of the hub failed and
its commits stalled for 30 s. SIGSTOP stands in for the starvation here.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.helpers import consume_keys, produce_numbered, unique

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PAUSE_S = 12  # longer than Kafka's default session of 9 s, well within ours


def test_a_broker_paused_longer_than_kafkas_default_session_is_not_fenced(
    local_cluster_factory,
) -> None:
    cluster = local_cluster_factory(1)
    cluster.start()
    topic = unique("lapor.test.starved")
    assert produce_numbered(cluster.bootstrap, topic, 100) == 100
    node = cluster.status().nodes[0]
    assert node.pid is not None

    os.kill(node.pid, signal.SIGSTOP)
    try:
        time.sleep(PAUSE_S)
    finally:
        os.kill(node.pid, signal.SIGCONT)
    time.sleep(5)  # a fence follows within a second or two of waking up

    fenced = [line for line in node.log.read_text().splitlines() if "Fencing broker" in line]
    assert fenced == []
    assert produce_numbered(cluster.bootstrap, topic, 100, start=100) == 100
    assert len(consume_keys(cluster.bootstrap, topic, 200)) == 200
