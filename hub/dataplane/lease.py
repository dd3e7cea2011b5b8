"""Work that one process at a time must do (pulling an agency app's pages, polling its
statuses), shared by several processes without a singleton: it runs under a lease, and the
lease is Kafka's own group membership. Every process that could do the work joins one
consumer group over ``lapor.leases``, a topic of one partition; the member the group assigns
that partition holds the lease. When the holder stops, its group leave hands the partition
over at once; when it dies (SIGKILL, a lost machine), the broker drops it after the session
timeout (SESSION_TIMEOUT_MS) and the next member takes over, resuming from the cursors kept
in ``lapor.cursors``. No coordination service beside Kafka.

Two holders at once are possible for a moment (a paused holder that has not yet heard it
lost the partition): a page pulled twice is harmless, as hub ids are stable per source id
(hub.dataplane.inbound), so nothing needs fencing.
"""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import Consumer, KafkaException
from prometheus_client import Gauge

from hub import topics
from hub.kafka import CLIENT_LOGGER, CONSUMER_DEFAULTS, client_security

log = logging.getLogger(__name__)

SESSION_TIMEOUT_MS = 6_000  # a dead holder is dropped after this; the broker's minimum
HEARTBEAT_MS = 1_000
LEASE_HELD = Gauge(
    "lapor_lease_held",
    "1 while this process holds the lease of the group (pulls and status polls run here).",
    ["group"],
)


class Lease:
    """Membership of the lease group ``group``: ``held`` is set while this process holds
    the lease. Runs its own thread (``start``) to serve the group's callbacks."""

    def __init__(self, bootstrap: str, group: str, name: str) -> None:
        self.group = group
        self.name = name
        self.held = threading.Event()
        self.decided = threading.Event()  # the group has given this member its share
        self.taken_at: float | None = None  # monotonic, when last acquired
        self.error: str | None = None  # the group's last error, while it keeps it from deciding
        self._stop = threading.Event()
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                **CONSUMER_DEFAULTS,
                **client_security(),
                "group.id": group,
                "client.id": f"lease-{name}",
                "session.timeout.ms": SESSION_TIMEOUT_MS,
                "heartbeat.interval.ms": HEARTBEAT_MS,
                # sticky: a member joining (a restarted process) leaves the holder holding
                "partition.assignment.strategy": "cooperative-sticky",
            },
            logger=CLIENT_LOGGER,
        )
        self._thread = threading.Thread(target=self._serve, daemon=True, name=f"lease-{group}")

    def start(self) -> Lease:
        self._consumer.subscribe(
            [topics.LEASES], on_assign=self._assigned, on_revoke=self._gone, on_lost=self._gone
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Leave the group: the next member holds the lease at once."""
        self._stop.set()
        self._thread.join(30)

    def state(self) -> str:
        if self.held.is_set():
            return "holds the lease"
        if self.decided.is_set():
            return "stands by"
        joining = "joining the lease group"
        return f"{joining} ({self.error})" if self.error else joining

    def _assigned(self, consumer: Consumer, partitions: list) -> None:
        self.decided.set()
        self.error = None
        if partitions and not self.held.is_set():
            self.taken_at = time.monotonic()
            self.held.set()
            LEASE_HELD.labels(self.group).set(1)
            log.info("%s holds the lease of %s: pulls and polls run here", self.name, self.group)

    def _gone(self, consumer: Consumer, partitions: list) -> None:
        if partitions and self.held.is_set():
            self.held.clear()
            LEASE_HELD.labels(self.group).set(0)
            log.info("%s gave up the lease of %s", self.name, self.group)

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    found = self._consumer.poll(0.2)  # serves the callbacks; heartbeats apart
                except KafkaException as exc:  # passing: the client reconnects by itself
                    found, self.error = None, str(exc)
                    time.sleep(1)
                if found is not None and found.error() is not None:
                    # e.g. lapor.leases missing, or no right to read it: nobody would ever
                    # hold the lease, so say why (log, /readyz) rather than wait in silence
                    said = found.error().str()
                    if said != self.error:
                        log.error("the lease group %s cannot decide: %s", self.group, said)
                    self.error = said
        finally:
            self.held.clear()
            LEASE_HELD.labels(self.group).set(0)
            self._consumer.close()
