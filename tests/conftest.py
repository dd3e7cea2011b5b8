"""Fixtures that give tests a real Kafka broker, never a mock of one.

``kafka_bootstrap`` resolves, in order: KAFKA_BOOTSTRAP_SERVERS; testcontainers' Kafka
module when a Docker engine answers; the project's own local broker (deploy/local),
started on free loopback ports in a temporary folder and stopped at the end of the
session. A test that needs Kafka and gets none fails with how to get one; none skips.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.broker import LocalCluster, free_base_port
from hub.errors import HubError
from hub.settings import jar_cache, load_settings

NO_KAFKA_HELP = (
    "No Kafka broker is available for the tests. Either set KAFKA_BOOTSTRAP_SERVERS to a "
    "running cluster, run a Docker engine (testcontainers starts Kafka), or install Java 17+ "
    "and Maven so the project's own broker can run (`lapor-hub broker start`; `make test` "
    "does all of this)."
)


def docker_answers() -> bool:
    """True only if a Docker engine answers a ping; on these machines there is none."""
    try:
        import docker

        client = docker.from_env(timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def new_local_cluster(root: Path, nodes: int = 1) -> LocalCluster:
    """A local cluster of its own (temporary folder, free ports), sharing the jar cache."""
    settings = load_settings()
    return LocalCluster(
        root,
        cache=jar_cache(settings),
        nodes=nodes,
        base_port=free_base_port(nodes),
        kafka_version=settings.kafka_version,
    )


SESSION_CLUSTER: list[LocalCluster] = []  # the local broker the session started, if it did


@pytest.fixture(scope="session")
def kafka_secure(kafka_bootstrap: str) -> tuple[str, str]:
    """The same cluster's SASL_SSL listener (SCRAM over TLS, ACLs enforced) and the CA file
    its clients trust."""
    if SESSION_CLUSTER:
        return SESSION_CLUSTER[0].secure_bootstrap, str(SESSION_CLUSTER[0].ca_file)
    secure, ca = (
        os.environ.get("KAFKA_SECURE_BOOTSTRAP_SERVERS"),
        os.environ.get("KAFKA_SSL_CA_LOCATION"),
    )
    if not (secure and ca):
        pytest.fail(
            "The access-control tests need the cluster's SASL_SSL listener: set "
            "KAFKA_SECURE_BOOTSTRAP_SERVERS and KAFKA_SSL_CA_LOCATION (`make test` does, from "
            "`lapor-hub broker status --secure`).",
            pytrace=False,
        )
    return secure, ca


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    if docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    cluster = new_local_cluster(tmp_path_factory.mktemp("kafka") / "session")
    SESSION_CLUSTER.append(cluster)
    try:
        cluster.start()
    except HubError as exc:
        pytest.fail(f"{NO_KAFKA_HELP}\nStarting the local broker failed: {exc}", pytrace=False)
    try:
        yield cluster.bootstrap
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def fresh_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker of the test module's own, for tests whose trackers read lapor.routed from
    its start: the shared test broker's holds thousands of other tests' reports."""
    cluster = new_local_cluster(tmp_path_factory.mktemp("kafka") / "module")
    cluster.start()
    try:
        yield cluster.bootstrap
    finally:
        cluster.stop()


@pytest.fixture
def own_bootstrap(tmp_path: Path) -> Iterator[str]:
    """A broker of the test's own: every topic on it (dead letters, the audit trail) holds
    what this test made and nothing else."""
    cluster = new_local_cluster(tmp_path / "kafka")
    cluster.start()
    try:
        yield cluster.bootstrap
    finally:
        cluster.stop()


def hub_cli(bootstrap: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """`lapor-hub ARGS` as an operator runs it, against ``bootstrap``, wide enough that a
    table row stays on one line."""
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "COLUMNS": "300"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class RunningHub:
    """A hub (`lapor-hub up`'s runtime, in a thread) and its tracker (a child process)."""

    hub: Any
    thread: threading.Thread
    stop: threading.Event
    tracker: subprocess.Popen


def run_hub(stack: contextlib.ExitStack, config: dict, bootstrap: str, folder: Path) -> RunningHub:
    """Start the hub of ``config`` with a tracker beside it, both stopped when ``stack``
    closes; returns once the hub has started (its consumers have their partitions)."""
    import yaml

    from hub.runtime import HubRuntime, start_tracker, wait_until

    config_path = folder / "hub.yaml"
    config_path.write_text(yaml.safe_dump(config))
    tracker = start_tracker(config_path, bootstrap, "t1", 1.0, folder / "tracker.log")
    stack.callback(lambda: tracker.poll() is None and tracker.kill())
    hub = HubRuntime(config_path, bootstrap, name="1", primary=True)
    stop = threading.Event()
    thread = threading.Thread(target=hub.run, args=(stop,), daemon=True)
    thread.start()
    stack.callback(thread.join, 60)
    stack.callback(stop.set)
    assert wait_until(hub.started.is_set, 120), "the hub did not start"
    return RunningHub(hub, thread, stop, tracker)


@pytest.fixture
def local_cluster_factory(tmp_path: Path) -> Iterator:
    """Make clusters a test may stop, kill and restart; all are stopped afterwards."""
    made: list[LocalCluster] = []

    def make(nodes: int = 1) -> LocalCluster:
        cluster = new_local_cluster(tmp_path / f"cluster-{len(made)}", nodes)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:  # their data goes: a node hung in shutdown need not be waited for
        cluster.stop(timeout=15)
