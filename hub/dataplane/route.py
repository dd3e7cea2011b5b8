"""Translate and route in one transactional hop: ``lapor.in.<connector>`` ->
``lapor.reports`` + ``lapor.routed`` + ``lapor.out.<destination connector>``
(``lapor-hub worker route --config hub.yaml --name w1``; ``lapor-hub up`` runs one). The same
transactions move the connectors' failures on (``lapor.failed.<connector>``,
hub.dataplane.failures).

Fusing the two stages saves a hop of latency (each costs the commit window plus ~20 ms on
these machines) and an Avro decode. One record goes to each destination's outbound topic,
with the agency in a header, so each delivery has its own idempotency key. A message that
cannot be translated goes, byte for byte, to ``lapor.dlq.translate`` in the same
transaction, with Kafka Connect-style error headers; its partition moves on.

Several workers with the same configuration share the partitions (one consumer group);
each needs its own name, which makes its transactional id stable across restarts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException, Message

from hub import memory, metrics, records, topics
from hub.config import build_connectors, load_config
from hub.dataplane.failures import move_failure
from hub.dataplane.inbound import raw_from_message
from hub.dataplane.transactional import CommitHung, LoopStats, TransactionalLoop
from hub.errors import BrokerNotReachable, HubError
from hub.eventloop import stop_on_signals
from hub.fanout import destination_records, routed_encoder
from hub.kafka import is_passing
from hub.privacy import hub_keyring, seal_identity
from hub.records import Record
from hub.routing import Directory, ReloadingRouter
from hub.sdk import Connector
from hub.sdk.guard import record_failures
from hub.serialization import TopicSerializer, load_store, make_codec
from hub.settings import load_settings
from hub.topic_specs import ensure_hub_topics

log = logging.getLogger(__name__)


def dead_letter(msg: Message, stage: str, connector: str, error: Exception) -> Record:
    metrics.count(stage, "failed")
    log.warning(
        "dead letter: %s",
        getattr(error, "reason", error),
        extra={
            "stage": stage,
            "connector": connector,
            "hub_id": (msg.key() or b"").decode("utf-8", "replace"),
        },
    )
    return records.dead_letter(msg, stage, connector, error)


class TranslateAndRoute:
    """The hop's transform: one inbound message in, its report, decision and one record
    per destination out (or its dead letter)."""

    def __init__(
        self,
        connectors: dict[str, Connector],
        router: ReloadingRouter,
        directory: Directory,
        serializer: TopicSerializer,
    ) -> None:
        self.connectors = connectors
        self.router = router
        self.directory = directory
        self.serializer = serializer
        self.keyring = hub_keyring()

    def __call__(self, msg: Message) -> Sequence[Record]:
        metrics.count("translate", "in")
        instance = topics.connector_of_inbound(msg.topic())
        connector = self.connectors.get(instance)
        if connector is None:
            error = HubError(f"no connector {instance!r} is configured for {msg.topic()}")
            return [dead_letter(msg, "translate", instance, error)]
        if len(msg.value() or b"") > records.MAX_RECORD_BYTES:
            error = HubError(
                f"the message is {len(msg.value()):,} bytes, over the hub's "
                f"{records.MAX_RECORD_BYTES:,}-byte limit for one report"
            )
            return [dead_letter(msg, "translate", instance, error)]
        try:
            # sealed before it is written anywhere: only a destination allowed opens it
            with record_failures(f"{instance} translating"):
                report = connector.to_report(raw_from_message(msg))
            report = seal_identity(report, self.keyring)
            encoded_report = self.serializer.serialize(topics.REPORTS, report)
        except Exception as error:  # this record's failure, whatever it is: its dead letter
            return [dead_letter(msg, "translate", instance, error)]
        try:
            decision = self.router.router.decide(report)
            located = decision.located(report)  # with the region inferred from the address
            encoded_located = (
                encoded_report
                if located is report
                else self.serializer.serialize(topics.REPORTS, located)
            )
            report, decided = located, decision.to_record()
            # neither the Report nor the decision is encoded twice: the RoutedReport joins
            # them, and each destination's view joins its Report to the same decision
            encoded_decision = self.serializer.codec.encode("RoutingDecision", decided)
            encoded_routed = self.serializer.serialize_joined(
                topics.ROUTED,
                [encoded_located, encoded_decision],
                {"report": report, "decision": decided},
            )
        except Exception as error:
            return [dead_letter(msg, "route", instance, error)]
        metrics.count("route", "out")
        log.info(
            "routed to %s (%s)",
            ", ".join(decision.destinations),
            decision.reason,
            extra={"hub_id": report["hub_id"], "connector": instance, "stage": "route"},
        )
        key = report["hub_id"].encode()
        outputs = [
            Record(topics.REPORTS, key, encoded_report),
            Record(topics.ROUTED, key, encoded_routed),
        ]
        try:
            if len(encoded_routed) > records.MAX_RECORD_BYTES:
                raise HubError(
                    f"the routed report is {len(encoded_routed):,} bytes, over the hub's "
                    f"{records.MAX_RECORD_BYTES:,}-byte limit for one record"
                )
            return outputs + destination_records(
                key,
                {"report": report, "decision": decided},
                self.directory,
                self.connectors,
                routed_encoder(self.serializer, decided, encoded_decision),
                self.keyring,
            )
        except HubError as error:
            return [dead_letter(msg, "route", instance, error)]


def route_loop(config_path: Path, name: str, bootstrap: str) -> TransactionalLoop:
    """The translate-and-route worker ``name`` of the hub configured in ``config_path``."""
    config = load_config(config_path)
    settings = load_settings()
    connectors = build_connectors(config)
    ensure_hub_topics(bootstrap, config)

    def audited(old: str, new: str, outcome: str) -> None:
        from hub import audit

        what = {"folder": str(config.rules), "from": old, "to": new, "worker": name}
        audit.record(bootstrap, "rules.reload", what, outcome)

    router = ReloadingRouter(config.rules, on_reload=audited)
    router.router.warm_up()
    serializer = TopicSerializer(make_codec(settings, load_store(settings)))
    route = TranslateAndRoute(connectors, router, router.router.directory, serializer)

    def transform(msg: Message) -> Sequence[Record]:
        if msg.topic().startswith(topics.FAILED):
            return move_failure(msg)
        return route(msg)

    # the connectors' failed topics are read in the same transactions: what a connector
    # could not handle reaches the retry and dead-letter topics once, checked
    read = [topics.inbound(instance) for instance in connectors]
    read += [topics.failed(instance) for instance in connectors]
    return TransactionalLoop(
        bootstrap,
        group_id=topics.route_group(config.group_prefix),
        transactional_id=topics.route_transactional_id(config.group_prefix, name),
        topics=read,
        transform=transform,
    )


class RouteWorkerFailed(HubError):
    """The route worker met a Kafka error it cannot go on from."""


def worker_failed(exc: KafkaException, name: str) -> RouteWorkerFailed:
    """A worker's Kafka error said for an operator (the route worker's, or any other of the
    process's): a fenced worker is most often a second process started under the same
    name."""
    error = exc.args[0] if exc.args else None
    if not isinstance(error, KafkaError):
        return RouteWorkerFailed(str(exc))
    another = (
        f"another process runs as --name {name} with this configuration (its transactional "
        f"id and group members are this one's)"
    )
    fenced = (KafkaError._FENCED, KafkaError.FENCED_INSTANCE_ID, KafkaError.PRODUCER_FENCED)
    if error.code() in fenced or "fenced" in error.str().lower():
        return RouteWorkerFailed(f"{error.str()}: {another}", fix="give each its own name")
    if error.fatal() or error.code() == KafkaError._FATAL:
        # the fatal error itself is librdkafka's FATAL log line; what it stops is this one
        return RouteWorkerFailed(
            f"{error.str()} (a fatal error: the FATAL line of the log above says which)",
            fix=f"if it says fenced, {another}: give each its own name",
        )
    return RouteWorkerFailed(error.str())


def run_replacing_hung(
    loop: TransactionalLoop,
    make_loop: Callable[[], TransactionalLoop],
    should_stop: Callable[[], bool],
    name: str,
    on_new: Callable[[TransactionalLoop], None] = lambda _: None,
) -> LoopStats:
    """Run ``loop`` (the route worker ``name``); one whose commit hung, or that a passing
    Kafka error stopped, is abandoned and a new one runs in its place, from the committed
    offsets (tried again every 5 s while the broker cannot be reached: a commit also
    outlasts its deadline while the only broker is down). Its transactional id fences the
    old one's producer. Any other Kafka error raises RouteWorkerFailed."""
    while True:
        try:
            return loop.run(should_stop)
        except (CommitHung, KafkaException) as exc:
            if isinstance(exc, KafkaException) and not is_passing(exc):
                raise worker_failed(exc, name) from exc
            log.error("the route worker stopped: %s; starting a new one in its place", exc)
        while True:
            if should_stop():
                return loop.stats
            try:
                loop = make_loop()
                break
            except (BrokerNotReachable, KafkaException) as exc:
                log.warning("starting a new route worker: %s; trying again in 5 s", exc)
                time.sleep(5)
        on_new(loop)


def run_route(
    config_path: Path,
    name: str,
    bootstrap: str,
    stop: threading.Event | None = None,
    tune_memory: bool = False,
) -> LoopStats:
    """``tune_memory``: the process is this worker's alone (`lapor-hub worker route`): its
    garbage collector is tuned once the worker has started (hub.memory)."""
    stop = stop or stop_on_signals()

    def make() -> TransactionalLoop:
        return route_loop(config_path, name, bootstrap)

    loop = make()
    if tune_memory:
        memory.tune_collector()
    log.info("route worker %s running", name)
    return run_replacing_hung(loop, make, stop.is_set, name)
