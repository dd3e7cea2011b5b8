"""Two `lapor-hub up` processes share the work with no singleton: pulls and status polls run
in the one holding the lease (a consumer group over the one-partition lapor.leases). The
holder is SIGKILLed while citizens file; the other takes the lease within LEASE_TAKEOVER_S
and pulls on from the stored cursors; at the destination apps nothing is lost or held twice,
and the pulled pages in lapor.in show the takeover (both processes pulled)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml
from confluent_kafka import KafkaException, TopicPartition

from connectors.simulator import serve
from hub import topics
from hub.dataplane.lease import SESSION_TIMEOUT_MS
from hub.kafka import make_admin, make_consumer, watermarks
from hub.runtime import wait_until
from tests.helpers import unique
from tests.integration.test_hub_under_faults import Network, expected_deliveries

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(600)]
# the broker drops a dead holder after its session timeout; the next member is assigned the
# partition in the rebalance that follows, and its pull loop looks every 0.2 s
LEASE_TAKEOVER_S = SESSION_TIMEOUT_MS / 1000 + 10
REPORTS, FILING_S = 1200, 40
HUB = [sys.executable, "-m", "hub"]


def lease_holder(admin, group: str) -> str | None:
    """The client id (lease-<name>) of the member assigned the lease's partition."""
    try:
        described = admin.describe_consumer_groups([group])[group].result(timeout=10)
    except (KafkaException, TimeoutError):  # its coordinator is still loading, or moving
        return None
    for member in described.members:
        if member.assignment and member.assignment.topic_partitions:
            return member.client_id
    return None


def pulled(bootstrap: str, connector: str) -> int:
    """Records on lapor.in.<connector> so far (pulled pages, each item once per pull)."""
    consumer = make_consumer(bootstrap, unique("count"))
    topic = topics.inbound(connector)
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(watermarks(consumer, TopicPartition(topic, n), 10)[1] for n in partitions)
    finally:
        consumer.close()


def served_config(
    stack: contextlib.ExitStack, network: Network, folder: Path, prefix: str
) -> tuple[dict, Path]:
    """The network's apps served on loopback (until ``stack`` closes) and a hub
    configuration for them, in groups of their own."""
    urls = {name: stack.enter_context(serve(app.app)) for name, app in network.apps().items()}
    config = network.config(urls, 1)
    config["group_prefix"] = unique(prefix)
    path = folder / "hub.yaml"
    path.write_text(yaml.safe_dump(config))
    return config, path


def start_up(config_path: Path, name: str, bootstrap: str, folder: Path) -> subprocess.Popen:
    """`lapor-hub up --name NAME --no-tracker`, as an operator starts it; its output in
    NAME.log."""
    with (folder / f"{name}.log").open("ab") as log:
        return subprocess.Popen(
            [*HUB, "up", "--config", str(config_path), "--name", name, "--no-tracker"],
            env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop_all(processes: Iterable[subprocess.Popen]) -> None:
    """SIGTERM every process still running, together; kill any not gone in 60 s."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    for process in running:
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


def what_they_said(folder: Path, hubs: dict[str, subprocess.Popen]) -> str:
    """Each process's exit code (None: running) and the end of its log."""
    return "\n".join(
        f"{name} (exit code {process.poll()}):\n"
        + "\n".join((folder / f"{name}.log").read_text(errors="replace").splitlines()[-20:])
        for name, process in hubs.items()
    )


def test_the_lease_passes_when_its_holder_dies_and_nothing_is_lost_or_doubled(
    own_bootstrap: str, tmp_path: Path
):
    """On a broker of its own: every routed record on it is this test's."""
    kafka_bootstrap = own_bootstrap
    network = Network()
    origin = "warga-app"
    with contextlib.ExitStack() as stack:
        config, config_path = served_config(stack, network, tmp_path, "lease")
        group = topics.lease_group(config["group_prefix"], "hub")
        hubs = {name: start_up(config_path, name, kafka_bootstrap, tmp_path) for name in "ab"}
        admin = make_admin(kafka_bootstrap)
        filed = []
        filing = threading.Thread(
            target=lambda: filed.append(network.file(REPORTS, FILING_S)), daemon=True
        )
        try:
            assert wait_until(lambda: lease_holder(admin, group) is not None, 120), (
                "no process took the lease in 120 s; " + what_they_said(tmp_path, hubs)
            )
            filing.start()
            assert wait_until(lambda: pulled(kafka_bootstrap, origin) >= 100, 120)
            holder = lease_holder(admin, group).removeprefix("lease-")
            survivor = "b" if holder == "a" else "a"
            before = pulled(kafka_bootstrap, origin)
            hubs[holder].send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            assert hubs[holder].wait(10) == -signal.SIGKILL

            assert wait_until(
                lambda: lease_holder(admin, group) == f"lease-{survivor}", LEASE_TAKEOVER_S
            ), f"{survivor} did not take the lease in {LEASE_TAKEOVER_S:.0f} s"
            assert wait_until(
                lambda: pulled(kafka_bootstrap, origin) > before + 20, LEASE_TAKEOVER_S
            ), "nothing was pulled after the takeover"
            takeover = time.monotonic() - killed_at
            filing.join(FILING_S + 60)
            count = filed[0]

            wanted: set[str] = set()

            def all_delivered() -> bool:
                nonlocal wanted
                network.answer()
                wanted = expected_deliveries(kafka_bootstrap)
                routed = {key.split(":")[0] for key in wanted}
                return len(routed) >= count and wanted <= network.held()

            assert wait_until(all_delivered, 240, interval=2), (
                f"{len(wanted - network.held())} deliveries missing"
            )
            assert hubs[survivor].poll() is None, "the survivor exited"
        finally:
            stop_all(hubs.values())

    held = network.held()
    assert held == wanted, f"{len(held - wanted)} deliveries nobody routed"
    with network.lapor.state.lock:
        doubled = [key for key, times in network.lapor.state.arrived.items() if times > 1]
    print(
        f"\n{count} reports; the lease passed {takeover:.1f} s after the kill; "
        f"{len(doubled)} deliveries sent again (held once, idempotency keys)"
    )
    summary = " ".join((tmp_path / f"{survivor}.log").read_text().split())
    took = re.search(r"pulled \{[^}]*'warga-app': (\d+)", summary)
    assert took and int(took.group(1)) > 0, f"the survivor pulled nothing: {summary[-1500:]}"
