"""``lapor-hub up``: the hub from one configuration file, every side of every connector.

Every process runs the route worker (translate and route, transactional) in a thread, and
in an asyncio loop: a pull loop per pulling connector, a webhook server per pushing one, a
delivery worker per delivering one, a status poller per one with status, a feedback worker
per one that takes statuses of its own reports back (written by the tracker, which
``lapor-hub up`` runs as a child process). Processes with the same configuration and other
``--name``s share the work: the consumer groups share the partitions; pulls and status
polls run in the one process holding the lease (hub.dataplane.lease), another taking over
when it dies; webhooks listen in every process on the same port (SO_REUSEPORT: the kernel
spreads the connections, and a dead process's share goes to the others at once).

Hub-side settings sit beside a connector's own in the configuration:

    sms-1708:
      type: sms-1708
      agency: admin-nasional
      webhook: {port: 8104, secrets_env: SMS_1708_SECRETS}   # comma-separated, for rotation
      poll_interval_s: 2
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from confluent_kafka import KafkaException
from pydantic import SecretStr

from hub import eventloop, memory, topics
from hub.affinity import listed
from hub.config import build_connectors, hub_side, load_config
from hub.dataplane.deliver import DeliveryWorker, Ledger
from hub.dataplane.feedback import FeedbackWorker, poll_status_once
from hub.dataplane.inbound import Cursors, Inbound, pull_once
from hub.dataplane.lease import Lease
from hub.dataplane.retries import RetryWorker
from hub.dataplane.route import route_loop, run_replacing_hung, worker_failed
from hub.dataplane.transactional import TransactionalLoop
from hub.errors import ConnectorError, HubError
from hub.health import HEALTH
from hub.kafka import broker_probe, is_passing
from hub.keyshare import agree
from hub.privacy import PrivacyError, hub_keyring, keyring_source
from hub.sdk import Capability, Connector
from hub.sdk.access import app_client
from hub.sdk.http import transport_errors
from hub.serialization import TopicSerializer, load_store, make_codec
from hub.settings import load_settings

log = logging.getLogger(__name__)

# the delivery and feedback workers' batches: up to 0.5 s waiting for a first record (idle,
# they sleep in librdkafka), then up to 2 ms taking what came with it. A route-hop
# transaction's records become readable together when it commits, so a longer window mostly
# waits: at 300 reports/s, 20 ms instead of 2 cost the same CPU a report and ~30 ms more at
# p50, ~60 ms at p99 (bench/README); looking for records from the event loop instead of a
# thread, between short sleeps, costs as much as the threads
BATCHING = {"wait": 0.5, "timeout": 0.002}


@contextlib.asynccontextmanager
async def kafka_may_pass(what: str):
    """A Kafka error that passes (a group coordinator or a leader moving, a broker
    restarting) costs one step of a worker loop, not the hub: what the step did not commit
    is read again, and deliveries and statuses carry idempotency keys. Any other stops the
    hub with its reason."""
    try:
        yield
    except KafkaException as exc:
        if not is_passing(exc):
            raise
        log.warning("%s: %s; trying again in 1 s", what, exc.args[0].str())
        await asyncio.sleep(1.0)


@dataclass
class Counters:
    pulled: dict[str, int] = field(default_factory=dict)
    pushed: dict[str, int] = field(default_factory=dict)
    delivered: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    told: dict[str, int] = field(default_factory=dict)  # statuses sent back to origin apps
    errors: list[str] = field(default_factory=list)

    def add(self, table: dict[str, int], key: str, count: int) -> None:
        table[key] = table.get(key, 0) + count


def webhook_secrets(instance: str, webhook: dict[str, Any]) -> list[SecretStr]:
    values = list(webhook.get("secrets") or [])
    if webhook.get("secrets_env"):
        values += [v for v in os.environ.get(webhook["secrets_env"], "").split(",") if v]
    if not values:
        raise HubError(
            f"connector {instance!r} takes webhooks but has no secret",
            fix="set webhook.secrets_env to a variable holding the secret(s).",
        )
    return [SecretStr(v) for v in values]


class HubRuntime:
    def __init__(
        self,
        config_path: Path,
        bootstrap: str,
        name: str = "1",
        primary: bool | None = None,
        only: str | None = None,
        elsewhere: Iterable[str] = (),
        tune_memory: bool = False,
    ) -> None:
        """``only``: run that connector's sides alone, as an agency does with ``lapor-hub
        connect`` (no translate-and-route worker, no retry workers: those are the hub's).
        ``tune_memory``: the process is this runtime's alone (a command, not a test or a
        library user): its garbage collector is tuned once it has started (hub.memory)."""
        self.bootstrap = bootstrap
        self.tune_memory = tune_memory
        self.name = name
        # Pull loops and status pollers run in the lease holder (``primary`` None), always
        # (True) or never (False: no webhooks either); two processes pulling one app at
        # once would only read pages twice. Consumer group workers run in every process.
        self.primary = primary
        self.lease: Lease | None = None
        self.config = load_config(config_path)
        self.side = {
            instance: hub_side(self.config, instance) for instance in self.config.connectors
        }
        self.connectors = build_connectors(self.config)
        self.only = only
        # each consumer group worker of `up` is a static member under the process's name:
        # one crashed and started again takes its partitions back at once, where a new
        # member stops every process's partitions of its group for 45 s (hub.kafka).
        # `lapor-hub connect` has no name of its own (an agency may run one twice)
        self.member = name if only is None else None
        # connectors run at their agency (`lapor-hub connect`): routed to and tracked here,
        # their sides (pulls, webhooks, deliveries, status polls) not run here
        self.elsewhere = set(elsewhere)
        unknown = self.elsewhere - set(self.connectors)
        if unknown:
            raise HubError(
                f"--agency-side names connectors {config_path} does not configure: "
                f"{', '.join(sorted(unknown))}",
                fix=f"choose among: {', '.join(self.connectors)}.",
            )
        if only is not None:
            if only not in self.connectors:
                raise HubError(
                    f"{config_path} configures no connector {only!r}",
                    fix=f"add it under connectors: (configured: {', '.join(self.connectors)}).",
                )
            self.connectors = {only: self.connectors[only]}
        settings = load_settings()
        ring = hub_keyring()
        if ring.connector not in (None, only):
            whose = (
                "the hub's processes hold the network's"
                if only is None
                else (f"connector {only} holds its own")
            )
            raise PrivacyError(
                f"this machine's identity key ring ({keyring_source(settings.home)}) is "
                f"connector {ring.connector}'s: {whose}",
                fix="point LAPOR_HUB_IDENTITY_KEYS_FILE at the right ring.",
            )
        # the hub publishes its connectors' key fingerprints; an agency's connector checks
        # its own ring against them (and cannot write the key ring topic)
        agree(
            bootstrap, ring, keyring_source(settings.home), self.connectors if only is None else ()
        )
        if only is not None and ring.connector is None:
            log.warning(
                "connector %s holds the network's identity key ring: at an agency it should "
                "hold its own only (`lapor-hub keys export %s` on the hub)",
                only,
                only,
            )
        self.serializer = TopicSerializer(make_codec(settings, load_store(settings)))
        self.config_path = config_path
        self.counters = Counters()
        self.failure: str | None = None  # why the hub stopped on its own, if it did
        self.delivery: dict[str, DeliveryWorker] = {}
        self.feedback: dict[str, FeedbackWorker] = {}
        self._inbound: dict[str, Inbound] = {}
        self.started = threading.Event()
        self._servers: list[uvicorn.Server] = []

    def run(self, stop: threading.Event) -> Counters:
        if self.only is not None:  # a connector alone: its sides, nothing of the hub's
            self._route = None
            try:
                self._serve_until_failed(stop)
            finally:
                stop.set()
            return self.counters

        def make_route() -> TransactionalLoop:
            return route_loop(self.config_path, self.name, self.bootstrap)

        def replaced(loop: TransactionalLoop) -> None:
            self._route = loop

        self._route = make_route()

        def run_route() -> None:
            try:
                run_replacing_hung(self._route, make_route, stop.is_set, self.name, replaced)
            except Exception as exc:  # the process must not go on without its route worker
                log.exception("the route worker failed; stopping the hub")
                self.failure = f"its route worker failed: {exc}"
                stop.set()

        thread = threading.Thread(target=run_route, daemon=True, name="route")
        thread.start()
        try:
            self._serve_until_failed(stop)
        finally:
            stop.set()
            thread.join(timeout=30)
        return self.counters

    def _serve_until_failed(self, stop: threading.Event) -> None:
        """A Kafka error that does not pass (kafka_may_pass) stops the process with its
        reason in ``failure``, for the command to say and exit non-zero."""
        try:
            eventloop.run(self._serve(stop))
        except KafkaException as exc:
            log.exception("a worker failed; stopping the hub")
            said = worker_failed(exc, self.name)
            self.failure = self.failure or f"a worker failed: {said}"

    async def _serve(self, stop: threading.Event) -> None:
        # Every worker waits on Kafka in a thread (consume, flush); asyncio's default pool
        # (cores + 4 threads) would make them queue behind each other's poll timeouts. An
        # idle delivery or feedback worker holds a thread for its wait (BATCHING): one each,
        # beside 64 for the rest, so idle connectors never hold up busy ones.
        waiting = 2 * len(self.connectors)
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=64 + waiting, thread_name_prefix="kafka-wait")
        )
        here = [c for name, c in self.connectors.items() if name not in self.elsewhere]
        if self.primary is None and any(self._pulls(c) for c in here):
            scope = f"connector-{self.only}" if self.only else "hub"
            group = topics.lease_group(self.config.group_prefix, scope)
            self.lease = Lease(self.bootstrap, group, self.name).start()
        try:
            await self._serve_all(stop)
        finally:
            for worker in [*self.delivery.values(), *self.feedback.values()]:
                worker.close()
            if self.lease is not None:
                await asyncio.to_thread(self.lease.stop)

    def _pulls(self, connector: Connector) -> bool:
        """Whether ``connector`` has work one process at a time does (pulls, status polls)."""
        caps = connector.capabilities
        return bool(caps & {Capability.PULL, Capability.STATUS}) and bool(connector.config.base_url)

    def _holds(self) -> bool:
        if self.primary is not None:
            return self.primary
        return self.lease is not None and self.lease.held.is_set()

    async def _serve_all(self, stop: threading.Event) -> None:
        tasks = []
        async with contextlib.AsyncExitStack() as clients:
            for instance, connector in self.connectors.items():
                if instance in self.elsewhere:
                    continue
                settings = connector.config
                client = await clients.enter_async_context(
                    app_client(settings.timeout_s, settings.auth, settings.tls, instance)
                )
                every = float(self.side[instance].get("poll_interval_s", 1.0))
                caps = connector.capabilities
                cursors = Cursors(self.bootstrap, instance)
                leased = connector.config.base_url and self.primary is not False
                if Capability.PULL in caps and leased:
                    tasks.append(self._every(stop, every, self._pull, connector, client, cursors))
                if Capability.STATUS in caps and leased:
                    tasks.append(self._every(stop, every, self._status, connector, client, cursors))
                if Capability.DELIVER in caps and connector.config.base_url:
                    ledger = Ledger(self.bootstrap, instance)
                    await asyncio.to_thread(ledger.load)
                    worker = DeliveryWorker(
                        self.bootstrap,
                        connector,
                        self.serializer,
                        group=topics.deliver_group(self.config.group_prefix, instance),
                        ledger=ledger,
                        member=self.member,
                    )
                    self.delivery[instance] = worker
                    tasks.append(self._deliveries(stop, worker, client))
                if Capability.FEEDBACK in caps:
                    feedback = FeedbackWorker(
                        self.bootstrap,
                        connector,
                        self.serializer,
                        group=topics.feedback_group(self.config.group_prefix, instance),
                        member=self.member,
                    )
                    self.feedback[instance] = feedback
                    tasks.append(self._feedback(stop, feedback, client))
                webhook = "webhook" in self.side[instance] and self.primary is not False
                if Capability.PUSH in caps and webhook:
                    tasks.append(self._webhook(stop, connector, self.side[instance]["webhook"]))
            if self.delivery and self.only is None:
                tasks.append(self._retries(stop, "deliver"))
            if self.feedback and self.only is None:
                tasks.append(self._retries(stop, "feedback"))
            tasks.append(self._beat(stop))
            self._ready_when()
            running = [asyncio.create_task(task) for task in tasks]
            try:
                await self._until_ready(stop)
                if self.tune_memory:
                    memory.tune_collector()
                self.started.set()
                await asyncio.gather(*running)
            finally:
                stop.set()
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)

    def _consumers(self) -> list:
        consumers = [self._route] if self._route is not None else []
        return [*consumers, *self.delivery.values(), *self.feedback.values()]

    def _ready_when(self) -> None:
        """/readyz: the broker answers, every consumer holds its assignment (read from the
        flag its own thread sets), every webhook listens."""
        HEALTH.ready_when("kafka", broker_probe(self.bootstrap))

        def partitions() -> str | None:
            waiting = [c for c in self._consumers() if not c.assigned.is_set()]
            return f"{len(waiting)} consumers wait for partitions" if waiting else None

        def webhooks() -> str | None:
            deaf = sum(1 for server in self._servers if not server.started)
            return f"{deaf} webhooks do not listen yet" if deaf else None

        HEALTH.ready_when("partitions", partitions)
        HEALTH.ready_when("webhooks", webhooks)
        if self.lease is not None:  # holding or standing by are both ready
            lease = self.lease
            HEALTH.ready_when("lease", lambda: None if lease.decided.is_set() else lease.state())

    async def _beat(self, stop: threading.Event) -> None:
        """/healthz: this event loop still turns."""
        while not stop.is_set():
            HEALTH.beat()
            await asyncio.sleep(1.0)

    async def _until_ready(self, stop: threading.Event, timeout: float = 60.0) -> None:
        """Started means: webhooks listen and every consumer has its partitions, so the
        first reports do not wait for a group to form."""
        deadline = time.monotonic() + timeout
        # read flags the consumers' own threads set: a consumer is not to be called from two
        # threads at once (assignment() blocks behind a running consume())
        consumers = self._consumers()
        while time.monotonic() < deadline and not stop.is_set():
            listening = all(s.started for s in self._servers)
            assigned = all(c.assigned.is_set() for c in consumers)
            leased = self.lease is None or self.lease.decided.is_set()
            if listening and assigned and leased:
                return
            await asyncio.sleep(0.1)
        log.warning(
            "the hub started before all its consumers had partitions (listening: %s, assigned: %s)",
            [s.started for s in self._servers],
            [c.assigned.is_set() for c in consumers],
        )

    async def _every(self, stop: threading.Event, seconds: float, action, *args) -> None:
        side, connector = action.__name__.strip("_"), args[0].instance  # "pull", "lapor-nasional"
        while not stop.is_set():
            if not self._holds():  # another process holds the lease: stand by
                await asyncio.sleep(0.2)
                continue
            busy = await self._step(connector, side, lambda: action(*args), seconds)
            if not busy:
                await asyncio.sleep(seconds)

    async def _step(self, connector: str, side: str, step, backoff_base: float = 1.0) -> int:
        """One step of one side of one connector, its failures kept to that side: an app
        that is down or answered garbage (ConnectorError), or the hub's own failure on the
        step (logged with its traceback), makes the side back off, doubling from
        ``backoff_base`` up to a minute, while every other side goes on; what the step did
        not finish is done again (cursors unmoved, batches read again). Only a Kafka error
        that does not pass (a refused principal, a missing topic) stops the hub."""
        what = f"{side} {connector}"
        try:
            done = None
            async with kafka_may_pass(what):
                with transport_errors("an agency app"):
                    done = await step()
            if done is None:  # a passing Kafka error: kafka_may_pass has waited
                return 0
            HEALTH.succeeded(connector, side)
            return done
        except KafkaException:
            raise
        except ConnectorError as exc:
            state = HEALTH.failed(connector, side, str(exc))
            self.counters.errors.append(str(exc))
            log.warning("%s: %s; trying again in %.1f s", what, exc, state.backoff(backoff_base))
        except Exception as exc:
            state = HEALTH.failed(connector, side, f"{type(exc).__name__}: {exc}", kind="hub")
            self.counters.errors.append(f"{what}: {exc}")
            log.exception("%s failed; trying again in %.1f s", what, state.backoff(backoff_base))
        await asyncio.sleep(state.backoff(backoff_base))
        return 0

    def _inbound_of(self, connector: Connector) -> Inbound:
        """One producer per connector for the process's life (pulls and webhooks share it):
        a new one per poll would open connections to every broker each second."""
        if connector.instance not in self._inbound:
            self._inbound[connector.instance] = Inbound(self.bootstrap, connector)
        return self._inbound[connector.instance]

    async def _pull(self, connector: Connector, client: httpx.AsyncClient, cursors: Cursors) -> int:
        count = await pull_once(
            connector, client, self._inbound_of(connector), cursors, self.config.group_prefix
        )
        self.counters.add(self.counters.pulled, connector.instance, count)
        return count

    async def _status(
        self, connector: Connector, client: httpx.AsyncClient, cursors: Cursors
    ) -> int:
        count = await poll_status_once(
            connector,
            client,
            self.bootstrap,
            cursors,
            self.serializer,
            namespace=self.config.group_prefix,
        )
        self.counters.add(self.counters.statuses, connector.instance, count)
        return count

    async def _deliveries(
        self, stop: threading.Event, worker: DeliveryWorker, client: httpx.AsyncClient
    ) -> None:
        instance = worker.connector.instance
        while not stop.is_set():
            before = worker.delivered_total
            await self._step(instance, "deliver", lambda: worker.run_once(client, **BATCHING))
            self.counters.add(
                self.counters.delivered, worker.connector.instance, worker.delivered_total - before
            )

    async def _feedback(
        self, stop: threading.Event, worker: FeedbackWorker, client: httpx.AsyncClient
    ) -> None:
        instance = worker.connector.instance
        while not stop.is_set():
            before = worker.sent
            await self._step(instance, "feedback", lambda: worker.run_once(client, **BATCHING))
            self.counters.add(self.counters.told, worker.connector.instance, worker.sent - before)

    async def _retries(self, stop: threading.Event, stage: str) -> None:
        group = topics.retry_group(self.config.group_prefix, stage)
        worker = RetryWorker(self.bootstrap, stage, group, member=self.member)
        try:
            while not stop.is_set():
                await self._step(
                    "hub", f"{stage} retries", lambda: asyncio.to_thread(worker.run_once, 0.5)
                )
        finally:
            worker.close()

    async def _webhook(
        self, stop: threading.Event, connector: Connector, webhook: dict[str, Any]
    ) -> None:
        from hub.sdk.webhook import webhook_app

        inbound = self._inbound_of(connector)

        async def sink(messages: list) -> None:
            await inbound.write(messages)
            self.counters.add(self.counters.pushed, connector.instance, len(messages))

        app = webhook_app(
            connector, webhook_secrets(connector.instance, webhook), sink, inbound.refuse
        )
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=webhook.get("host", "127.0.0.1"),
                port=int(webhook["port"]),
                log_level="warning",
                lifespan="off",
            )
        )
        server.install_signal_handlers = lambda: None  # the hub handles signals
        self._servers.append(server)
        listening = shared_socket(webhook.get("host", "127.0.0.1"), int(webhook["port"]))
        serving = asyncio.create_task(server.serve(sockets=[listening]))
        while not stop.is_set() and not serving.done():
            await asyncio.sleep(0.2)
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving


def shared_socket(host: str, port: int) -> socket.socket:
    """A listening address several hub processes share (SO_REUSEPORT): each has its own
    queue of connections, and the kernel spreads new ones over the processes alive."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        listening.bind((host, port))
    except OSError as exc:
        listening.close()
        raise HubError(
            f"the webhook cannot listen on {host}:{port}: {exc.strerror}",
            fix="another program holds the port: stop it, or give the webhook another port.",
        ) from exc
    return listening


def wait_until(predicate, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class TrackerChild:
    """The tracker in a child process of its own (faust runs its own event loop; its work
    should not share a GIL with the data plane), started again whenever it exits with an
    error: a crash, a kill, or a tracker that gave up on a stalled table recovery (it exits
    so that a new consumer starts over); exit code 0 is a tracker asked to stop. Waits 1 s
    before the first restart, doubling to 30 s while it keeps exiting within a minute."""

    def __init__(self, config: Path, bootstrap: str, name: str, *args: Any, **options: Any) -> None:
        self.start_child = lambda: start_tracker(config, bootstrap, name, *args, **options)
        self.name = name
        self.restarts = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.child = self.start_child()
        self._started = time.monotonic()
        self._watcher = threading.Thread(target=self._watch, name="tracker-watch", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        delay = 1.0
        while not self._stopping.wait(0.5):
            code = self.child.poll()
            if code is None:
                continue
            if code == 0:  # asked to stop (a Ctrl-C reaches the whole process group)
                log.info("tracker %s stopped", self.name)
                return
            if time.monotonic() - self._started > 60:
                delay = 1.0  # it ran a while: a new failure, not the same one again
            log.error(
                "tracker %s (pid %d) exited with code %s; starting it again in %.0f s",
                self.name,
                self.child.pid,
                code,
                delay,
            )
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self.child = self.start_child()
                self._started = time.monotonic()
                self.restarts += 1
            delay = min(delay * 2, 30.0)

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
        self._watcher.join(5)
        self.child.send_signal(signal.SIGTERM)
        try:
            self.child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.child.kill()


@contextlib.contextmanager
def tracker_process(config: Path, bootstrap: str, name: str, *args: Any, **options: Any):
    """A TrackerChild for as long as the hub runs; ``args`` and ``options`` are
    start_tracker's (its output goes to ``log_path`` if given)."""
    tracker = TrackerChild(config, bootstrap, name, *args, **options)
    try:
        yield tracker
    finally:
        tracker.stop()


def start_tracker(
    config: Path,
    bootstrap: str,
    name: str,
    tick_seconds: float = 5.0,
    log_path: Path | None = None,
    metrics_address: tuple[str, int] | None = None,
    cpus: set[int] | None = None,
    nice: int = 0,
) -> subprocess.Popen:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    command = [sys.executable, "-m", "hub", "tracker", "--config", str(config), "--name", name]
    command += ["--tick-seconds", str(tick_seconds)]
    if cpus:
        command += ["--cpus", listed(cpus)]
    if nice:
        command += ["--nice", str(nice)]
    if metrics_address:
        command += ["--metrics-host", metrics_address[0], "--metrics-port", str(metrics_address[1])]
    if log_path is None:
        return subprocess.Popen(command, env=env)
    with log_path.open("ab") as log_file:
        return subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT)
