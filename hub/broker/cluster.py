"""Run Apache Kafka in KRaft mode on loopback: one node, or a cluster of several.

Each node is a combined broker+controller started as its own ``java`` process, detached
from the caller so the broker outlives ``lapor-hub broker start``. Its PID is recorded
beside its config; ``stop`` sends SIGTERM to every node at once, because the last node
of a cluster left without a quorum hangs in controlled shutdown.

Layout under ``root``::

    cluster.json          cluster id, Kafka version, node count, base port
    log4j2.properties
    node-1/server.properties  node-1/data/  node-1/kafka.log  node-1/kafka.pid
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka.admin import AdminClient

from hub.broker.install import KafkaInstall, ensure_kafka, require_java
from hub.broker.ports import (
    HOST,
    SECURE_PORT_OFFSET,
    is_zombie,
    port_free,
    port_open,
    wait_gone,
)
from hub.broker.tls import ensure_tls, tls_files
from hub.errors import BrokerNotReachable, BrokerStartFailed, DataDirMismatch, PortInUse

ADMIN_PRINCIPAL = "lapor-admin"
BROKER_SESSION_TIMEOUT_MS = 30_000
_LOG4J = """\
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


@dataclass(frozen=True)
class Node:
    node_id: int
    broker_port: int
    controller_port: int
    dir: Path

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def config(self) -> Path:
        return self.dir / "server.properties"

    @property
    def log(self) -> Path:
        return self.dir / "kafka.log"

    @property
    def pid_file(self) -> Path:
        return self.dir / "kafka.pid"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.broker_port}"

    @property
    def secure_port(self) -> int:
        """The SASL_SSL listener: SCRAM over TLS, with ACLs (see SECURITY.md)."""
        return self.broker_port + SECURE_PORT_OFFSET

    @property
    def secure_address(self) -> str:
        return f"{HOST}:{self.secure_port}"


@dataclass
class NodeStatus:
    node_id: int
    address: str
    pid: int | None
    data_dir: Path
    log: Path


@dataclass
class ClusterStatus:
    root: Path
    kafka_version: str | None
    cluster_id: str | None
    bootstrap: str
    nodes: list[NodeStatus] = field(default_factory=list)
    brokers_answering: int = 0

    @property
    def running(self) -> bool:
        return any(n.pid for n in self.nodes)


def new_cluster_id() -> str:
    """A Kafka ``Uuid`` in its base64 form, as ``kafka-storage random-uuid`` prints it."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


class LocalCluster:
    """A KRaft cluster of ``nodes`` combined broker+controller nodes under ``root``.

    ``cache`` holds the Kafka jars (shared by every cluster of one machine).

    Node ``i`` (from 1) listens for clients on ``base_port + 2(i-1)`` and for the
    controller quorum on the port after it.
    """

    def __init__(
        self,
        root: Path,
        *,
        cache: Path,
        nodes: int = 1,
        base_port: int = 9092,
        kafka_version: str,
        heap: str = "512m",
    ) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        self.root = root
        self.cache = cache
        self._children: dict[int, subprocess.Popen] = {}  # nodes this object launched
        self.kafka_version = kafka_version
        self.heap = heap
        saved = self._read_state()
        if saved:  # a formatted cluster keeps its shape; ports follow what was formatted
            nodes, base_port = saved["nodes"], saved["base_port"]
        self.nodes = [
            Node(i, base_port + 2 * (i - 1), base_port + 2 * (i - 1) + 1, root / f"node-{i}")
            for i in range(1, nodes + 1)
        ]

    # -- what the cluster is ---------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return ",".join(n.address for n in self.nodes)

    @property
    def secure_bootstrap(self) -> str:
        """The SASL_SSL (SCRAM over TLS) listeners, where ACLs apply."""
        return ",".join(node.secure_address for node in self.nodes)

    @property
    def ca_file(self) -> Path:
        """The certificate clients of the SASL_SSL listener trust."""
        return tls_files(self.root).ca

    @property
    def state_file(self) -> Path:
        return self.root / "cluster.json"

    def _read_state(self) -> dict | None:
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return None

    def node(self, node_id: int) -> Node:
        return self.nodes[node_id - 1]

    # -- start -----------------------------------------------------------------------------

    def start(self, timeout: float = 120.0, java_opts: Iterable[str] = ()) -> None:
        """Start every node that is not running and return once all answer metadata."""
        java = require_java()
        install = ensure_kafka(self.cache, self.kafka_version)
        state = self._checked_state()
        to_start = [n for n in self.nodes if self._pid(n) is None]
        self._check_ports_free(to_start)
        self._write_configs_and_format(state, install, java)
        for node in to_start:
            self._launch(node, install, java, java_opts)
        self.wait_ready(timeout)

    def start_node(self, node_id: int, timeout: float = 120.0) -> None:
        """Restart one stopped node (fault tests) and wait until the cluster has it back."""
        java = require_java()
        install = ensure_kafka(self.cache, self.kafka_version)
        node = self.node(node_id)
        if self._pid(node) is None:
            self._check_ports_free([node])
            self._launch(node, install, java, ())
        self.wait_ready(timeout)

    def _checked_state(self) -> dict:
        """The cluster's saved state (made on first start), refusing data Kafka cannot use."""
        state = self._read_state()
        if state and state["kafka_version"] != self.kafka_version:
            raise DataDirMismatch(
                f"The data directory {self.root} was formatted by Kafka {state['kafka_version']}, "
                f"but this hub runs Kafka {self.kafka_version}.",
                fix="run `lapor-hub broker reset` to delete the old data, or set "
                f"LAPOR_HUB_KAFKA_VERSION={state['kafka_version']} to keep using it.",
            )
        if state is None:
            state = {
                "cluster_id": new_cluster_id(),
                "kafka_version": self.kafka_version,
                "nodes": len(self.nodes),
                "base_port": self.nodes[0].broker_port,
            }
        for node in self.nodes:
            formatted_id = _formatted_cluster_id(node.data_dir)
            if formatted_id not in (None, state["cluster_id"]):
                raise DataDirMismatch(
                    f"The data directory {node.data_dir} belongs to Kafka cluster {formatted_id}, "
                    f"not to this hub's cluster {state['cluster_id']} ({self.state_file}).",
                    fix="run `lapor-hub broker reset` to delete it, or set LAPOR_HUB_HOME to "
                    "the folder whose cluster.json matches it.",
                )
        return state

    def _write_configs_and_format(self, state: dict, install: KafkaInstall, java: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.state_file.exists():
            self.state_file.write_text(json.dumps(state, indent=2) + "\n")
        (self.root / "log4j2.properties").write_text(_LOG4J)
        for node in self.nodes:
            node.dir.mkdir(parents=True, exist_ok=True)
            node.config.write_text(self._server_properties(node))
            if _formatted_cluster_id(node.data_dir) is None:
                self._format(node, state["cluster_id"], install, java)

    def _server_properties(self, node: Node) -> str:
        tls = ensure_tls(self.root)
        voters = ",".join(f"{n.node_id}@{HOST}:{n.controller_port}" for n in self.nodes)
        replication = min(3, len(self.nodes))
        min_isr = max(1, replication - 1)
        settings = {
            "process.roles": "broker,controller",
            "node.id": node.node_id,
            "controller.quorum.voters": voters,
            # PLAINTEXT on loopback is for development only: no authentication, and its
            # anonymous clients are super users. Agencies' connectors use SASL_SSL, where
            # each principal has only the ACLs `lapor-hub security apply` gives it.
            "listeners": f"PLAINTEXT://{HOST}:{node.broker_port},"
            f"CONTROLLER://{HOST}:{node.controller_port},"
            f"SASL_SSL://{HOST}:{node.secure_port}",
            "advertised.listeners": f"PLAINTEXT://{node.address},SASL_SSL://{node.secure_address}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
            "SASL_SSL:SASL_SSL",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
            "listener.name.sasl_ssl.ssl.keystore.location": tls.keystore,
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:ANONYMOUS;User:{ADMIN_PRINCIPAL}",
            "allow.everyone.if.no.acl.found": "false",
            "log.dirs": node.data_dir,
            "num.partitions": 3,
            "default.replication.factor": replication,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": replication,
            "transaction.state.log.replication.factor": replication,
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": replication,
            "share.coordinator.state.topic.min.isr": min_isr,
            "group.initial.rebalance.delay.ms": 0,
            # A node's controller fences its broker after this long without a heartbeat
            # (Kafka's default: 9 s). Here the brokers share a small machine with the hub:
            # a JVM starved of CPU that long fenced itself, and a fence moves every
            # partition's leader and group coordinator at once (on one node, to itself),
            # which failed the hub's transactions and stalled its commits for 30 s.
            "broker.session.timeout.ms": BROKER_SESSION_TIMEOUT_MS,
            "auto.create.topics.enable": "true",
            "controlled.shutdown.enable": "true",
        }
        lines = [f"{key}={value}" for key, value in settings.items()]
        return (
            "# written by lapor-hub broker start; edits are overwritten\n" + "\n".join(lines) + "\n"
        )

    def _format(self, node: Node, cluster_id: str, install: KafkaInstall, java: Path) -> None:
        result = subprocess.run(
            [
                str(java),
                *self._log_opts(),
                "-cp",
                install.classpath,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(node.config),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise BrokerStartFailed(
                f"Formatting KRaft storage in {node.data_dir} failed:\n"
                f"{_tail(result.stdout + result.stderr)}",
                fix="run `lapor-hub broker reset` and start again.",
            )

    def _log_opts(self) -> list[str]:
        return [f"-Dlog4j2.configurationFile={self.root / 'log4j2.properties'}"]

    def _check_ports_free(self, nodes: Iterable[Node]) -> None:
        for node in nodes:
            for port in (node.broker_port, node.controller_port, node.secure_port):
                if not port_free(port):
                    raise PortInUse(
                        f"Port {HOST}:{port} is already in use, so Kafka node {node.node_id} "
                        "cannot listen on it (another Kafka, or another program).",
                        fix="stop what holds it (`ss -ltnp | grep :"
                        f"{port}`), or start on other ports with `lapor-hub broker reset` "
                        "then `lapor-hub broker start --port N`.",
                    )

    def _launch(
        self, node: Node, install: KafkaInstall, java: Path, java_opts: Iterable[str]
    ) -> None:
        heap = os.environ.get("KAFKA_HEAP_OPTS", f"-Xmx{self.heap} -Xms{self.heap}").split()
        cmd = [
            str(java),
            *heap,
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            *self._log_opts(),
            *java_opts,
            "-cp",
            install.classpath,
            "kafka.Kafka",
            str(node.config),
        ]
        with node.log.open("ab") as log:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=node.dir,
                start_new_session=True,
            )
        self._children[node.node_id] = proc
        node.pid_file.write_text(f"{proc.pid}\n")

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Block until every node answers a metadata request, or explain why not."""
        deadline = time.monotonic() + timeout
        admin: AdminClient | None = None
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.pid_file.exists() and self._pid(node) is None:
                    node.pid_file.unlink(missing_ok=True)
                    self._children.pop(node.node_id, None)
                    raise BrokerStartFailed(
                        f"Kafka node {node.node_id} exited during start-up. Last lines of "
                        f"{node.log}:\n{_tail(node.log.read_text(errors='replace'))}",
                        fix="read the log above; `lapor-hub broker reset` clears bad data.",
                    )
            if all(port_open(n.broker_port) for n in self.nodes if self._pid(n)):
                admin = admin or AdminClient({"bootstrap.servers": self.bootstrap})
                if self._brokers_answering(admin) == self._running_count():
                    return
            time.sleep(0.25)
        raise BrokerNotReachable(
            f"Kafka on {self.bootstrap} did not answer metadata requests within {timeout:.0f} s.",
            fix=f"read {self.nodes[0].log}; the machine may be short of memory.",
        )

    def _brokers_answering(self, admin: AdminClient) -> int:
        try:
            return len(admin.list_topics(timeout=2).brokers)
        except Exception:  # KafkaException while the broker starts: keep waiting
            return 0

    def _running_count(self) -> int:
        return sum(1 for n in self.nodes if self._pid(n))

    # -- stop ------------------------------------------------------------------------------

    def stop(self, timeout: float = 60.0) -> list[int]:
        """SIGTERM every running node together; SIGKILL any still up after ``timeout``.

        Returns the ids of nodes that had to be killed (empty on a clean stop).
        """
        return self._stop_nodes(self.nodes, timeout)

    def stop_node(self, node_id: int, timeout: float = 60.0, kill: bool = False) -> None:
        """Stop one node (fault tests); ``kill=True`` is a crash, not a clean stop."""
        node = self.node(node_id)
        if kill:
            pid = self._pid(node)
            if pid:
                os.kill(pid, signal.SIGKILL)
                wait_gone(pid, timeout)
            node.pid_file.unlink(missing_ok=True)
            self._children.pop(node_id, None)
            return
        self._stop_nodes([node], timeout)

    def _stop_nodes(self, nodes: list[Node], timeout: float) -> list[int]:
        pids = {n.node_id: pid for n in nodes if (pid := self._pid(n))}
        for pid in pids.values():
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        killed = []
        for node_id, pid in pids.items():
            if not wait_gone(pid, max(0.0, deadline - time.monotonic())):
                os.kill(pid, signal.SIGKILL)
                wait_gone(pid, 10)
                killed.append(node_id)
        for node in nodes:
            node.pid_file.unlink(missing_ok=True)
            self._children.pop(node.node_id, None)
        return killed

    def reset(self) -> None:
        """Stop the cluster and delete its data, configs and logs (the jar cache stays)."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- status ----------------------------------------------------------------------------

    def status(self) -> ClusterStatus:
        state = self._read_state() or {}
        nodes = [
            NodeStatus(n.node_id, n.address, self._pid(n), n.data_dir, n.log) for n in self.nodes
        ]
        status = ClusterStatus(
            root=self.root,
            kafka_version=state.get("kafka_version"),
            cluster_id=state.get("cluster_id"),
            bootstrap=self.bootstrap,
            nodes=nodes,
        )
        if status.running:
            admin = AdminClient({"bootstrap.servers": self.bootstrap})
            status.brokers_answering = self._brokers_answering(admin)
        return status

    def _pid(self, node: Node) -> int | None:
        """The node's PID if that process is alive and really is this node's Kafka.

        A node this object launched is judged by its Popen (right after exec its
        /proc cmdline can still read empty); one started earlier by its PID file.
        """
        child = self._children.get(node.node_id)
        if child is not None:
            return child.pid if child.poll() is None else None
        try:
            pid = int(node.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        if b"kafka.Kafka" not in cmdline or str(node.config).encode() not in cmdline:
            return None
        if is_zombie(pid):
            return None
        return pid


def _formatted_cluster_id(data_dir: Path) -> str | None:
    meta = data_dir / "meta.properties"
    if not meta.is_file():
        return None
    for line in meta.read_text().splitlines():
        if line.startswith("cluster.id="):
            return line.split("=", 1)[1].strip()
    return None


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def cluster_root(home: Path, nodes: int) -> Path:
    """Where the local cluster of ``nodes`` nodes keeps its state under the hub's home."""
    return home / "broker" / ("single" if nodes == 1 else f"{nodes}-nodes")


def default_base_port(nodes: int) -> int:
    """9092 for the single broker; 9192 for a cluster, so both can run side by side."""
    return 9092 if nodes == 1 else 9192


def existing_clusters(home: Path, cache: Path, kafka_version: str) -> list[LocalCluster]:
    """Every local cluster formatted under ``home``, running or not."""
    found = sorted((home / "broker").glob("*/cluster.json"))
    return [LocalCluster(state.parent, cache=cache, kafka_version=kafka_version) for state in found]
