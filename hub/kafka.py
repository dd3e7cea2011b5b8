"""Kafka client plumbing shared by every component: client settings and topic creation.

Defaults are the hub's, not librdkafka's: producers are idempotent with acks=all,
consumers read committed records only and pin the classic group protocol (librdkafka
says its default will change; faust groups must stay classic anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from hub.errors import BrokerNotReachable, HubError, TopicMismatch
from hub.records import Record, confined
from hub.topics import READER_GROUP

# librdkafka's own log lines go through Python logging, so the CLI decides what is shown
# (transient warnings such as "Coordinator load in progress: retrying" are noise to a user).
CLIENT_LOGGER = logging.getLogger("hub.librdkafka")
log = logging.getLogger(__name__)

# Errors that pass by themselves: a group coordinator or a partition leader moving, a broker
# restarting. librdkafka does not mark all of them retriable (a commit's NOT_COORDINATOR).
PASSING = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError._TIMED_OUT,
    KafkaError._MSG_TIMED_OUT,
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    # a commit while the group's coordinator is looked up again, after a broker restarted
    # (it stopped a hub process in the single-broker restart fault test)
    KafkaError._WAIT_COORD,
    # a partition of a topic the hub checked at start-up, missing from the client's metadata
    # until the restarted broker leads it again (a cursor read waited 10 s for it under load
    # and stopped a hub process in the single-broker restart fault test)
    KafkaError._UNKNOWN_PARTITION,
}


def is_passing(exc: KafkaException) -> bool:
    """Whether trying again later is the answer (not a wrong setting, a missing topic or a
    refused principal, which must stop the process with their reason)."""
    error = exc.args[0] if exc.args else None
    return isinstance(error, KafkaError) and (error.retriable() or error.code() in PASSING)


# librdkafka 2.10+ "re-bootstraps" when every broker it knows is down (a single-node
# cluster restarting): it decommissions the broker handles, and a transactional producer's
# or a group's coordinator cached on a decommissioned handle is never looked up again
# (librdkafka#5511: send_offsets_to_transaction hangs; the stale handle spins a core). Seen
# here: after an 8 s restart of the only broker the ingest worker's commit hung for good.
# Without it the client reconnects to the brokers it knows, which is what a hub wants: its
# cluster's addresses do not change while it runs.
CLIENT_DEFAULTS: dict[str, Any] = {"metadata.recovery.strategy": "none", "client.id": "lapor-hub"}


def client_id(role: str, owner: str = "") -> str:
    """What a client tells the broker it is (``client.id``): ``lapor-hub.<role>.<owner>``,
    e.g. ``lapor-hub.deliver.open311-surabaya``. The broker's request log, its per-client
    metrics and client quotas (a cap on one connector's requests) tell the hub's clients
    apart by it; librdkafka's default calls every one of them "rdkafka"."""
    return ".".join(part for part in ("lapor-hub", role, owner) if part)


PRODUCER_DEFAULTS: dict[str, Any] = {
    **CLIENT_DEFAULTS,
    "acks": "all",
    "enable.idempotence": True,
    "linger.ms": 5,
    "compression.type": "lz4",
    # Java's and aiokafka's partitioner (librdkafka's default is crc32): the faust tracker
    # and a Java connector put a hub id on the same partition as the hub's own producers.
    "partitioner": "murmur2_random",
    # a dead letter keeps a refused input whole, up to 16 MiB (hub.records.kept_whole): a
    # producer refusing it locally would stop its stage; other topics keep Kafka's 1 MiB
    # limit, and what goes there is checked against hub.records.MAX_RECORD_BYTES first
    "message.max.bytes": 17 * 1024 * 1024 + 65536,
}
CONSUMER_DEFAULTS: dict[str, Any] = {
    **CLIENT_DEFAULTS,
    "group.protocol": "classic",
    "isolation.level": "read_committed",
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
}


# A process that connects with credentials of its own (a connector at an agency) says how
# in the environment; without it, clients use the loopback development listener.
SECURITY_ENVIRONMENT = {
    "KAFKA_SECURITY_PROTOCOL": "security.protocol",
    "KAFKA_SASL_MECHANISM": "sasl.mechanism",
    "KAFKA_SASL_USERNAME": "sasl.username",
    "KAFKA_SASL_PASSWORD": "sasl.password",
    "KAFKA_SSL_CA_LOCATION": "ssl.ca.location",
}


def client_security() -> dict[str, str]:
    """librdkafka settings for this process's credentials (SASL_SSL), if it has any."""
    if not os.environ.get("KAFKA_SECURITY_PROTOCOL"):
        return {}
    found = {key: os.environ[env] for env, key in SECURITY_ENVIRONMENT.items() if env in os.environ}
    found.setdefault("sasl.mechanism", "SCRAM-SHA-512")
    return found


def make_producer(bootstrap: str, **overrides: Any) -> Producer:
    config = {
        "bootstrap.servers": bootstrap,
        **PRODUCER_DEFAULTS,
        **client_security(),
        **_dotted(overrides),
    }
    return Producer(config, logger=CLIENT_LOGGER)


def static_member_id(name: str, topics: Sequence[str]) -> str:
    """A worker's static membership (KIP-345): started again under its name, it takes its
    partitions back at once, with no rebalance. A new member instead makes the group
    rebalance, which waits out the dead one's session (45 s), and every member's partitions
    stand still meanwhile. A stopped worker's partitions wait that long for another (static
    members do not leave). The broker gives a static member coming back its old assignment
    without asking what it now reads (KAFKA-12759): the topics are in the id, so a worker
    that reads others (a connector added or removed) joins as a new member and the group
    is assigned again."""
    digest = hashlib.sha256("\n".join(sorted(topics)).encode()).hexdigest()[:12]
    return f"{name}-{digest}"


def raise_consumed_error(messages: Iterable[Message]) -> None:
    """Raise the first error among consumed records that is not a partition's end (a
    fenced member, a refused principal, a leader moving): the worker's loop waits for one
    that passes and stops on the others (hub.runtime.kafka_may_pass)."""
    for msg in messages:
        error = msg.error()
        if error is not None and error.code() != KafkaError._PARTITION_EOF:
            raise KafkaException(error)


def make_consumer(
    bootstrap: str,
    group_id: str,
    stage: str | None = None,
    on_commit: Callable[..., None] | None = None,
    member: tuple[str, Sequence[str]] | None = None,
    **overrides: Any,
) -> Consumer:
    """A consumer with the hub's defaults; with ``stage``, its lag goes to the metrics;
    ``on_commit`` is told the outcome of each commit (one not waited for); ``member``, the
    process's name and the topics it reads, makes it a static member (static_member_id)."""
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group_id,
        **CONSUMER_DEFAULTS,
        **client_security(),
    }
    if member is not None:
        config["group.instance.id"] = static_member_id(*member)
    if stage is not None:
        from hub.metrics import LAG_SETTINGS, lag_reporter

        config.update(LAG_SETTINGS, stats_cb=lag_reporter(stage))
    if on_commit is not None:
        config["on_commit"] = on_commit
    return Consumer({**config, **_dotted(overrides)}, logger=CLIENT_LOGGER)


def make_admin(bootstrap: str, **overrides: Any) -> AdminClient:
    return AdminClient(
        {"bootstrap.servers": bootstrap, **CLIENT_DEFAULTS, **client_security(), **overrides},
        logger=CLIENT_LOGGER,
    )


def _dotted(overrides: dict[str, Any]) -> dict[str, Any]:
    """Let callers write ``linger_ms=10`` for librdkafka's ``linger.ms``."""
    return {key.replace("_", "."): value for key, value in overrides.items()}


# settings an existing topic is brought to when it falls short of its spec (_bring_configs)
ENFORCED_CONFIGS = frozenset({"max.message.bytes", "message.timestamp.type"})


@dataclass(frozen=True)
class TopicSpec:
    """A topic as the hub wants it: partitions, replication and retention set explicitly."""

    name: str
    partitions: int = 3
    replication: int = 1
    config: dict[str, str] = field(default_factory=dict)


def ensure_topics(admin: AdminClient, specs: list[TopicSpec], timeout: float = 30.0) -> list[str]:
    """Create the topics that are missing; refuse existing ones whose shape differs.

    Returns the names created. A topic with other partitions than asked is reported, never
    silently used: keys would land on other partitions than the hub expects. One with fewer
    replicas than asked is reported too (it is less durable than promised); one with more,
    an operator's choice on a bigger cluster, is used.
    """
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise BrokerNotReachable(
            f"Kafka did not answer a metadata request within {timeout:.0f} s ({exc}).",
            fix="start it with `lapor-hub broker start`, or check KAFKA_BOOTSTRAP_SERVERS.",
        ) from exc
    problems = []
    for spec in specs:
        meta = existing.get(spec.name)
        if meta is None:
            continue
        partitions = len(meta.partitions)
        replication = len(next(iter(meta.partitions.values())).replicas) if partitions else 0
        if partitions != spec.partitions or replication < spec.replication:
            problems.append(
                f"{spec.name} has {partitions} partitions x replication {replication}, "
                f"expected {spec.partitions} x {spec.replication}"
            )
    if problems:
        raise TopicMismatch(
            "Existing topics do not have the settings the hub needs: " + "; ".join(problems) + ".",
            fix="delete and let the hub recreate them, or change the hub's topic settings "
            "to match.",
        )
    _bring_configs(admin, [s for s in specs if s.name in existing], timeout)
    missing = [spec for spec in specs if spec.name not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(s.name, s.partitions, s.replication, config=dict(s.config)) for s in missing],
        operation_timeout=timeout,
    )
    for name, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].name() == "TOPIC_AUTHORIZATION_FAILED":
                # a principal sees only the topics its ACLs name: one it may neither see nor
                # create is another stage's, made by the operator (`lapor-hub security`)
                CLIENT_LOGGER.info("topic %s is not this principal's to check or create", name)
                continue
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # another worker raced us
                raise TopicMismatch(
                    f"Kafka refused to create topic {name}: {exc.args[0].str()}.",
                    fix="check the broker's log and the topic settings.",
                ) from exc
    created = [spec.name for spec in missing]
    _wait_for_leaders(admin, created, timeout)
    return created


def _short_of(key: str, have: str, wanted: str) -> bool:
    """Whether an existing topic's setting falls short of its spec: a size limit below the
    spec's (never lowered: an operator may have raised it), any other setting not equal."""
    if key == "max.message.bytes":
        return int(have) < int(wanted)
    return have != wanted


def _bring_configs(admin: AdminClient, specs: list[TopicSpec], timeout: float) -> None:
    """Existing topics get the settings the hub relies on (ENFORCED_CONFIGS) when they fall
    short: a dead-letter topic made by an older release, or by hand with the broker's 1
    MiB, would refuse the large records the hub writes there (aborting the transaction
    that holds one, which then reads it again, for ever); a status topic left with the
    producers' own timestamps would let an agency's app date its statuses. A principal
    that may not change them is told so in the log."""
    wanted = [s for s in specs if ENFORCED_CONFIGS & set(s.config)]
    if not wanted:
        return
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    try:
        described = admin.describe_configs(
            [ConfigResource("topic", s.name) for s in wanted], request_timeout=timeout
        )
        changes = []
        for spec, future in zip(wanted, described.values(), strict=True):
            have = future.result()
            short = [
                key
                for key in sorted(ENFORCED_CONFIGS & set(spec.config))
                if key in have and _short_of(key, have[key].value, spec.config[key])
            ]
            if short:
                entries = [
                    ConfigEntry(key, spec.config[key], incremental_operation=AlterConfigOpType.SET)
                    for key in short
                ]
                changes.append(ConfigResource("topic", spec.name, incremental_configs=entries))
        if not changes:
            return
        for future in admin.incremental_alter_configs(changes).values():
            future.result()
        CLIENT_LOGGER.warning(
            "set %s to what the hub needs there",
            ", ".join(
                f"{change.name}: {', '.join(e.name for e in change.incremental_configs)}"
                for change in changes
            ),
        )
    except KafkaException as exc:
        CLIENT_LOGGER.warning(
            "could not check or set the hub's settings of existing topics (%s): records "
            "larger than a dead-letter topic's limit would stop the hop that writes them, "
            "and statuses would keep their producers' timestamps",
            exc.args[0].str() if exc.args else exc,
        )


def _wait_for_leaders(admin: AdminClient, names: list[str], timeout: float) -> None:
    """New topics are usable once every partition has a leader; wait for that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = admin.list_topics(timeout=timeout).topics
        if all(
            name in listed
            and listed[name].partitions
            and all(p.leader >= 0 for p in listed[name].partitions.values())
            for name in names
        ):
            return
        time.sleep(0.1)


def partition_of(key: bytes, partitions: int) -> int:
    """The partition the hub's producers (librdkafka's murmur2_random, Java's default) and
    faust's (aiokafka's default) give a keyed record."""
    from aiokafka.partitioner import murmur2  # here: importing aiokafka takes ~90 ms

    return (murmur2(key) & 0x7FFFFFFF) % partitions


FLUSH_SECONDS = 30.0


class DurableProducer:
    """A producer for a worker whose step goes on only once Kafka took its records
    (acks=all), and which is replaced when a flush ends with records still waiting.

    After the only broker restarted, a librdkafka idempotent producer shared by a hub's
    pull and status loops acknowledged nothing more for minutes (the fault test saw the
    count waiting grow from 165 to 2,101 while every other client of the process went on),
    and the statuses it held never reached the tracker. A new producer starts afresh; the
    step that failed is tried again (its cursor was not moved, or its batch is read again),
    and what the old one may still have written is recognised by its idempotency key."""

    def __init__(self, bootstrap: str, confine: str | None = None, **overrides: Any) -> None:
        """``confine``: the connector whose sides write through this producer; their
        retries and dead letters go to its own failed topic (hub.records.confined)."""
        # failures only: a report for each record acknowledged built a Message and called
        # Python for it (the client's own shortcut, librdkafka's setting stays off)
        overrides = {"delivery_report_only_error": True, **overrides}
        self.bootstrap, self.overrides, self.confine = bootstrap, overrides, confine
        self.producer = make_producer(bootstrap, **overrides)
        self.replaced = 0
        self._lock = threading.Lock()

    async def send(self, records: list[Record], timeout: float = FLUSH_SECONDS) -> None:
        await asyncio.to_thread(self.send_blocking, records, timeout)

    def send_blocking(self, records: list[Record], timeout: float = FLUSH_SECONDS) -> None:
        """Return once Kafka acknowledged every record; raise KafkaException (a passing
        one: the step is tried again) if any failed or is still waiting after ``timeout``."""
        producer, failures = self.producer, []
        deadline = time.monotonic() + timeout
        if self.confine is not None:
            records = [confined(record, self.confine) for record in records]

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failures.append(err.str())

        unsent = 0
        for topic, key, value, headers in records:
            while True:
                try:
                    producer.produce(
                        topic, key=key, value=value, headers=headers, on_delivery=on_delivery
                    )
                    break
                except BufferError:
                    if time.monotonic() > deadline:  # a full queue that does not drain
                        unsent += 1
                        break
                    producer.poll(0.05)
        remaining = producer.flush(max(deadline - time.monotonic(), 0.0)) + unsent
        if remaining:
            self._replace(producer, remaining, timeout)
        if remaining or failures:
            raise KafkaException(
                KafkaError(
                    KafkaError._MSG_TIMED_OUT,
                    f"{remaining} unacknowledged, failures: {failures[:3]}",
                )
            )

    def _replace(self, producer: Producer, remaining: int, timeout: float) -> None:
        from hub.metrics import PRODUCERS_REPLACED

        with self._lock:
            if producer is not self.producer:
                return  # another step replaced it already
            self.producer = make_producer(self.bootstrap, **self.overrides)
            self.replaced += 1
        PRODUCERS_REPLACED.inc()
        log.warning(
            "%d records were still waiting for Kafka after %.0f s: a new producer takes "
            "over, and the step is tried again",
            remaining,
            timeout,
        )
        with contextlib.suppress(KafkaException, RuntimeError):
            producer.purge()  # what it still holds: its steps are tried again
            producer.flush(0)


@contextlib.contextmanager
def read_again_on_failure(consumer: Consumer, messages: list):
    """A step that fails after consuming ``messages`` leaves each of their partitions at
    its first one, so the next step reads them again: without it the consumer's position
    has moved past them and the next step's commit would skip them for good (deliveries
    and statuses carry idempotency keys, so handling one twice is safe)."""
    try:
        yield
    except BaseException:
        first: dict[tuple[str, int], int] = {}
        for msg in messages:
            if not msg.error():
                first.setdefault((msg.topic(), msg.partition()), msg.offset())
        for (topic, partition), offset in first.items():
            # a partition no longer assigned: its new owner reads it from the commit
            with contextlib.suppress(KafkaException):
                consumer.seek(TopicPartition(topic, partition, offset))
        raise


def commit_handled(consumer: Consumer, messages: list[Message], wait: bool = True) -> None:
    """Commit just past each partition's last record in ``messages``, and wait for it
    unless ``wait`` is False (a worker whose ledger already holds what it handled: a commit
    lost in a crash makes it read those records again and skip them).

    Not the consumer's stored offsets: librdkafka's seek leaves those past a batch that
    failed and was rewound (read_again_on_failure), so the next step's commit would take
    that partition past records not handled yet, lost if the process then died."""
    ends: dict[tuple[str, int], int] = {}
    for msg in messages:
        if msg.error() is None:
            place = (msg.topic(), msg.partition())
            ends[place] = max(ends.get(place, 0), msg.offset() + 1)
    if ends:
        offsets = [TopicPartition(topic, number, end) for (topic, number), end in ends.items()]
        consumer.commit(offsets=offsets, asynchronous=not wait)


def consume(consumer: Consumer, count: int, timeout: float, wait: float = 0.0) -> list[Message]:
    """``consumer.consume`` for a worker that commits each batch before it consumes the
    next (deliveries, statuses to origins, retries). With ``wait``, it first waits up to
    that long for one record and returns nothing if none came, then gathers up to
    ``timeout`` more: an idle worker sleeps in librdkafka instead of waking every
    ``timeout`` (a national hub runs two such workers per connector, for hundreds of
    connectors), and a busy one batches as before. It mends the errors after which
    librdkafka never fetches some assigned partitions: a failed fetch of the committed
    offsets that start them (NOT_COORDINATOR while the group's coordinator moves after a
    broker restart) leaves them waiting for good, while the consumer stays in its group and
    holds them (librdkafka#5586, open; it says so of a partition-level failure too). The
    batch is dropped and the same partitions are assigned again, from the group's
    committed offsets: nothing is skipped, and what is read twice carries an idempotency
    key. (The ingest worker's transactions span batches: the error replaces it instead,
    hub.dataplane.route.) Other errors, and such a failure that does not pass (a refused
    principal), are left to the caller."""
    if wait > 0:
        first = consumer.poll(wait)
        if first is None:
            return []
        messages = [first, *consumer.consume(count - 1, timeout)] if count > 1 else [first]
    else:
        messages = consumer.consume(count, timeout)
    unfetched = next((msg for msg in messages if leaves_partitions_unfetched(msg)), None)
    if unfetched is None:
        return messages
    assigned = consumer.assignment()
    log.warning(
        "%s; reading its %d partition(s) again from the committed offsets (librdkafka#5586)",
        unfetched.error().str(),
        len(assigned),
    )
    if assigned:  # no offset given: librdkafka fetches the committed ones again
        consumer.assign([TopicPartition(p.topic, p.partition) for p in assigned])
    return []


class ConsumerTurns:
    """A worker's consumer, called from threads one call at a time, and closed only once
    the call under way has returned. A step cancelled at shutdown leaves its thread in a
    consume that waits up to half a second for records: closing the consumer under it
    would free what that call still uses."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.closed = False
        self._lock = threading.Lock()

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(consumer, *args)``; None once closed."""
        with self._lock:
            return None if self.closed else function(self.consumer, *args)

    async def commit_waited(self, messages: list[Message]) -> None:
        """commit_handled for ``messages``, waited for in a thread; no thread is woken for
        an idle worker's empty batch, which has nothing to commit."""
        if messages:
            await asyncio.to_thread(self.call, commit_handled, messages)

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                self.consumer.close()


def leaves_partitions_unfetched(msg: Message) -> bool:
    error = msg.error()
    return (
        error is not None
        and error.str().startswith("Failed to fetch committed offset")
        and is_passing(KafkaException(error))
    )


def watermarks(consumer, partition: TopicPartition, timeout: float) -> tuple[int, int]:
    """A partition's offsets, waiting out a leader that is still being elected (a topic
    just created, a broker just restarted)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return consumer.get_watermark_offsets(partition, timeout=timeout)
        except KafkaException as exc:
            # a topic just created is unknown until its leader is elected; a partition whose
            # broker just restarted, until the client's metadata has its leader again (it
            # stopped a hub process reading its cursors in the single-broker restart test)
            settling = is_passing(exc) or exc.args[0].code() in (
                KafkaError.UNKNOWN_TOPIC_OR_PART,
                KafkaError._UNKNOWN_PARTITION,
            )
            if not settling or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def broker_probe(bootstrap: str, every: float = 5.0) -> Callable[[], str | None]:
    """A readiness check (hub.health): None while a broker answers a metadata request,
    else why not. Asked at most once per ``every`` seconds however often /readyz is."""
    admin: AdminClient | None = None
    asked_at, verdict = -every, None

    def probe() -> str | None:
        nonlocal admin, asked_at, verdict
        if time.monotonic() - asked_at >= every:
            admin = admin or make_admin(bootstrap)
            try:
                admin.list_topics(timeout=3)
                verdict = None
            except KafkaException as exc:
                verdict = f"no broker of {bootstrap} answers: {exc.args[0].str()}"
            asked_at = time.monotonic()
        return verdict

    return probe


def wait_visible(bootstrap: str, topic: str, partition: int, offset: int, timeout: float) -> None:
    """Return once a read_committed reader can see ``offset``. A committed transaction's
    markers are written after the commit returns, so a reader asking at once may still end
    before it; a writer that promises its record is readable waits here."""
    consumer = make_consumer(bootstrap, f"{READER_GROUP}-{uuid.uuid4().hex[:8]}")
    try:
        deadline = time.monotonic() + timeout
        while watermarks(consumer, TopicPartition(topic, partition), timeout)[1] <= offset:
            if time.monotonic() > deadline:
                raise HubError(
                    f"{topic} [{partition}] offset {offset} was committed but is not readable "
                    f"after {timeout:.0f} s",
                    fix="check the brokers (lapor-hub broker status): the transaction "
                    "coordinator has not finished the commit.",
                )
            time.sleep(0.05)
    finally:
        consumer.close()


def read_to_end(
    bootstrap: str,
    topic: str,
    timeout: float = 10.0,
    key: bytes | None = None,
    stall_seconds: float = 90.0,
    partitions: Iterable[int] | None = None,
    starts: dict[int, int] | None = None,
    reader: str = READER_GROUP,
):
    """Every record of ``topic``, from the start to the end it had when asked; with ``key``,
    only the partition that key's records are on; with ``partitions``, only those; with
    ``starts``, from those offsets (partition -> offset) instead of the start. The one
    reader of a topic to its end: cursors, the ledger, the tracker's recovery check, a
    report's history, the operator commands. ``reader``: its consumer group's prefix (a
    principal's ACLs name it).

    The end is taken when asked (for a read_committed reader, the last stable offset: an
    open transaction does not hold the read). However long the topic, it is read to that
    end; if reading stops moving for ``stall_seconds`` (the broker went away, a partition
    has no leader) HubError says so: a history or a replay ledger cut short without a word
    would look complete."""
    consumer = make_consumer(bootstrap, f"{reader}-{uuid.uuid4().hex[:8]}")
    try:
        metadata = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return
        numbers = list(metadata.partitions)
        if key is not None:
            numbers = [partition_of(key, len(numbers))]
        if partitions is not None:
            wanted = set(partitions)
            numbers = [number for number in numbers if number in wanted]
        ends, first = {}, {}
        for number in numbers:
            low, high = watermarks(consumer, TopicPartition(topic, number), timeout)
            first[number] = max(low, (starts or {}).get(number, low))
            if high > first[number]:
                ends[number] = high
        if not ends:
            return
        consumer.assign([TopicPartition(topic, n, first[n]) for n in ends])
        moved_at, last = time.monotonic(), None
        while ends:
            for msg in consumer.consume(500, 0.5):
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise RuntimeError(msg.error().str())
                yield msg
            # done by position, not by the last record seen: a transaction's commit marker
            # takes the last offset of a topic written in transactions, and is never delivered
            positions = consumer.position([TopicPartition(topic, n) for n in ends])
            now = [(p.partition, p.offset) for p in positions]
            if now != last:
                moved_at, last = time.monotonic(), now
            elif time.monotonic() - moved_at > stall_seconds:
                behind = {p: ends[p] - max(o, 0) for p, o in now}
                raise HubError(
                    f"reading {topic} stopped moving for {stall_seconds:.0f} s with records "
                    f"left (partition: records left) {behind}; what was read is incomplete",
                    fix="check that the brokers are up and every partition has a leader "
                    "(lapor-hub broker status), then run the command again.",
                )
            for partition in positions:
                if partition.offset >= ends[partition.partition]:
                    ends.pop(partition.partition)
    finally:
        consumer.close()


def latest_values(
    bootstrap: str, topic: str, reader: str, timeout: float
) -> dict[bytes, bytes | None]:
    """The last value of each key of a compacted topic (None for a key deleted last), read
    to its end; HubError if reading stalls for ``timeout`` seconds (a state read short
    would look complete)."""
    latest: dict[bytes, bytes | None] = {}
    for msg in read_to_end(bootstrap, topic, timeout, stall_seconds=timeout, reader=reader):
        latest[msg.key() or b""] = msg.value()
    return latest
