"""An `up` process that crashed and is started again under its name (systemd's
Restart=on-failure) delivers again at once, and the other processes never stop.

Its consumer group workers are static members (hub.kafka.static_member_id): the process
coming back takes its partitions back with no rebalance. A new member would make each of
its groups rebalance, which waits out the dead member's session (45 s) while every
process's partitions of that group stand still."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time

import pytest
from confluent_kafka import KafkaException

from hub import topics
from hub.kafka import make_admin, make_consumer
from hub.runtime import wait_until
from tests.integration.test_hub_under_faults import Network, expected_deliveries
from tests.integration.test_lease_failover import (
    lease_holder,
    served_config,
    start_up,
    stop_all,
    what_they_said,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(600)]
# the dead member's session is 45 s (librdkafka's default): a rebalance waits that long
BACK_WITHIN_S = 38


def both_assigned(admin, groups: list[str]) -> bool:
    """Each group has two members, each with partitions."""
    try:
        described = admin.describe_consumer_groups(groups)
        for future in described.values():
            members = future.result(timeout=10).members
            if len(members) != 2 or not all(m.assignment.topic_partitions for m in members):
                return False
    except (KafkaException, TimeoutError):  # the coordinator is loading, or rebalancing
        return False
    return True


def test_a_process_killed_and_started_again_delivers_at_once(own_bootstrap: str, tmp_path):
    network = Network()
    with contextlib.ExitStack() as stack:
        config, config_path = served_config(stack, network, tmp_path, "restart")
        hubs: dict[str, subprocess.Popen] = {}

        def start(name: str) -> None:
            hubs[name] = start_up(config_path, name, own_bootstrap, tmp_path)

        def delivered(filed: int) -> bool:
            wanted = expected_deliveries(own_bootstrap)
            return len({key.split(":")[0] for key in wanted}) >= filed and wanted <= network.held()

        try:
            # b holds the lease (it pulls the origin app): a is killed while b pulls on
            start("b")
            admin = make_admin(own_bootstrap)
            group = topics.lease_group(config["group_prefix"], "hub")
            assert wait_until(lambda: lease_holder(admin, group) is not None, 120), (
                "no process took the lease; " + what_they_said(tmp_path, hubs)
            )
            start("a")
            delivering = [
                topics.deliver_group(config["group_prefix"], name)
                for name in ("lapor-nasional", "open311-surabaya", "dinas-bandung")
            ]
            assert wait_until(lambda: both_assigned(admin, delivering), 120), (
                "a was given no partitions to deliver; " + what_they_said(tmp_path, hubs)
            )
            filed = network.file(60)
            assert wait_until(lambda: delivered(filed), 120, interval=1), (
                "the first reports were not delivered; " + what_they_said(tmp_path, hubs)
            )

            hubs["a"].send_signal(signal.SIGKILL)
            assert hubs["a"].wait(10) == -signal.SIGKILL
            start("a")
            restarted = time.monotonic()
            filed += network.file(60)
            assert wait_until(lambda: delivered(filed), BACK_WITHIN_S, interval=0.5), (
                f"reports filed after a's restart were not all delivered in {BACK_WITHIN_S} s: "
                "a group waited for the dead member; " + what_they_said(tmp_path, hubs)
            )
            took = time.monotonic() - restarted
            assert hubs["a"].poll() is None and hubs["b"].poll() is None
        finally:
            stop_all(hubs.values())
    print(f"\nevery report filed after the restart was delivered {took:.1f} s after it")


def test_a_process_whose_delivery_member_another_takes_stops_and_says_why(
    kafka_bootstrap: str, tmp_path
) -> None:
    """Two processes under one name fence each other's static members: the one fenced stops
    with exit code 2 and says so (a supervisor starts it again; the operator reads why)."""
    network = Network()
    with contextlib.ExitStack() as stack:
        config, config_path = served_config(stack, network, tmp_path, "fenced")
        log = tmp_path / "a.log"
        hub = start_up(config_path, "a", kafka_bootstrap, tmp_path)
        stack.callback(lambda: hub.poll() is None and hub.kill())
        group = topics.deliver_group(config["group_prefix"], "lapor-nasional")
        admin = make_admin(kafka_bootstrap)
        assert wait_until(lambda: members_assigned(admin, group) == 1, 120), log.read_text()
        # the delivery member of process a, as a second process under its name would join
        outbound = topics.outbound("lapor-nasional")
        other = make_consumer(kafka_bootstrap, group, member=("a", [outbound]))
        stack.callback(other.close)
        other.subscribe([outbound])
        deadline = time.monotonic() + 60
        while hub.poll() is None and time.monotonic() < deadline:
            other.poll(0.5)
        assert hub.poll() == 2, f"exit code {hub.poll()}: {log.read_text()[-3000:]}"
    said = " ".join(log.read_text().split())
    assert "a worker failed" in said and "another process runs as --name a" in said, said[-2000:]


def members_assigned(admin, group: str) -> int:
    try:
        members = admin.describe_consumer_groups([group])[group].result(timeout=10).members
    except (KafkaException, TimeoutError):
        return 0
    return sum(1 for m in members if m.assignment.topic_partitions)
