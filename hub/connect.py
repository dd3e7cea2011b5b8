"""A connector's sides, run against Kafka: what the SDK owns so connectors need not.

- inbound: pulled pages, webhook pushes and file imports land on ``lapor.in.<connector>``,
  byte for byte, keyed by the source's id, written durably (acks=all) before a page's
  cursor moves or a webhook is answered 2xx. Bad rows of a file go to ``lapor.dlq.ingest``
  with the reason; the rest go on.
- cursors: kept in the compacted topic ``lapor.cursors`` (key ``<connector>/<side>``), so a
  restarted connector continues where it left off; a crash between a page and its cursor
  re-reads that page, which is harmless because hub ids are stable.
- outbound: routed reports on ``lapor.out.<connector>`` are delivered with retries and an
  idempotency key; status pages become StatusUpdates on ``lapor.status.<connector>``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from hub import metrics, topics
from hub.deadletters import DeadLetter, dead_letter
from hub.errors import BadInput, PermanentDeliveryError, RetryableDeliveryError
from hub.kafka import (
    DurableProducer,
    TopicSpec,
    commit_handled,
    consume,
    ensure_topics,
    make_admin,
    make_consumer,
    read_again_on_failure,
    watermarks,
)
from hub.privacy import (
    SEALED_HEADER,
    PrivacyError,
    for_destination,
    hub_keyring,
    open_body,
    seal_body,
)
from hub.retries import Backoff, retry_or_dead_letter, wait_behind
from hub.sdk.base import Connector, RawMessage
from hub.sdk.http import (
    DEFAULT_POLICY,
    RetryPolicy,
    deliver_with_retries,
    send_status_with_retries,
)
from hub.sdk.reports import new_status
from hub.serialization import TopicSerializer

log = logging.getLogger(__name__)
CURSORS = "lapor.cursors"


def connector_topics(name: str, replication: int = 1) -> list[TopicSpec]:
    week = {"retention.ms": str(7 * 24 * 3600 * 1000)}
    return [
        TopicSpec(topics.inbound(name), 3, replication, week),
        TopicSpec(topics.outbound(name), 3, replication, week),
        TopicSpec(topics.status(name), 3, replication, week),
        TopicSpec(topics.feedback(name), 3, replication, week),
        TopicSpec(topics.dead_letter("ingest"), 3, replication, week),
        TopicSpec(topics.dead_letter("deliver"), 3, replication, week),
        TopicSpec(topics.dead_letter("status"), 3, replication, week),
        TopicSpec(topics.retry("deliver"), 3, replication, week),
        TopicSpec(topics.retry("feedback"), 3, replication, week),
        TopicSpec(topics.dead_letter("feedback"), 3, replication, week),
        TopicSpec(CURSORS, 1, replication, {"cleanup.policy": "compact"}),
        TopicSpec(LEDGER, 3, replication, {"cleanup.policy": "compact"}),
    ]


def raw_headers(connector: str, raw: RawMessage) -> dict[str, bytes]:
    return {
        "content-type": raw.content_type.encode(),
        "lapor.connector": connector.encode(),
        "lapor.received-at": raw.received_at.isoformat().encode(),
        **{f"lapor.source.{k}": str(v).encode() for k, v in raw.headers.items()},
    }


def raw_from_message(msg: Message) -> RawMessage:
    """The RawMessage a record of ``lapor.in.<connector>`` holds (opened if sealed)."""
    headers = {k: (v or b"").decode() for k, v in (msg.headers() or [])}
    body = msg.value() or b""
    if SEALED_HEADER in headers:
        body = open_body(body, msg.key() or b"", headers[SEALED_HEADER], hub_keyring())
    return RawMessage(
        source_id=(msg.key() or b"").decode(),
        body=body,
        content_type=headers.get("content-type", "application/json"),
        received_at=datetime.fromisoformat(headers["lapor.received-at"])
        if "lapor.received-at" in headers
        else datetime.now(UTC),
        headers={
            k[len("lapor.source.") :]: v
            for k, v in headers.items()
            if k.startswith("lapor.source.")
        },
    )


def sealed_record(key: bytes, body: bytes, headers: dict[str, bytes]) -> tuple[bytes, dict]:
    """A raw message as the hub keeps it: sealed whole (it may hold a reporter's identity),
    the key id in a header."""
    sealed, kid = seal_body(body, key, hub_keyring())
    return sealed, {**headers, SEALED_HEADER: kid}


class Inbound:
    """Writes what an app sent to ``lapor.in.<connector>``, and refusals to the ingest DLQ,
    sealed (hub.privacy)."""

    def __init__(self, bootstrap: str, connector: Connector) -> None:
        self.connector = connector
        self.topic = topics.inbound(connector.instance)
        self.producer = DurableProducer(bootstrap, linger_ms=5)

    async def write(self, messages: Iterable[RawMessage]) -> int:
        batch = []
        for m in messages:
            key = m.source_id.encode()
            headers = raw_headers(self.connector.instance, m)
            batch.append((self.topic, key, *sealed_record(key, m.body, headers)))
        await self.producer.send(batch)
        metrics.count("ingest", "out", len(batch))
        return len(batch)

    async def refuse(self, body: bytes, reason: str, source: str, stage: str = "ingest") -> None:
        headers = {
            "__connect.errors.stage": stage.encode(),
            "__connect.errors.connector.name": self.connector.instance.encode(),
            "__connect.errors.exception.class.name": b"BadInput",
            "__connect.errors.exception.message": reason.encode(),
            "lapor.source": source.encode(),
            "lapor.failed-at": datetime.now(UTC).isoformat().encode(),
        }
        sealed, headers = sealed_record(b"", body, headers)
        await self.producer.send([(topics.dead_letter(stage), None, sealed, headers)])


class Cursors:
    """Each connector side's cursor, in a compacted topic."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.producer = DurableProducer(bootstrap)
        self._known: dict[str, str | None] = {}  # read once, then kept as this process moves it

    async def load(self, key: str, timeout: float = 10.0) -> str | None:
        """The first time, read from the topic in a thread (it may take seconds, which
        would stall every delivery on the event loop); then as this process moved it."""
        if key not in self._known:
            self._known[key] = await asyncio.to_thread(self._read, key, timeout)
        return self._known[key]

    def _read(self, key: str, timeout: float) -> str | None:
        consumer = make_consumer(self.bootstrap, f"lapor-cursor-reader-{time.time_ns()}")
        try:
            low, high = watermarks(consumer, TopicPartition(CURSORS, 0), timeout)
            if high <= low:
                return None
            consumer.assign([TopicPartition(CURSORS, 0, low)])
            value, deadline = None, time.monotonic() + timeout
            while time.monotonic() < deadline:
                msg = consumer.poll(0.5)
                if msg is None or msg.error():
                    continue
                if msg.key() == key.encode():
                    value = msg.value().decode() if msg.value() else None
                if msg.offset() >= high - 1:
                    return value
            return value
        finally:
            consumer.close()

    async def save(self, key: str, cursor: str) -> None:
        if self._known.get(key) == cursor:
            return  # an idle app's poll: nothing to write (a record a poll, every second)
        await self.producer.send([(CURSORS, key.encode(), cursor.encode(), {})])
        self._known[key] = cursor


@dataclass
class ImportResult:
    accepted: int = 0
    refused: list[str] = field(default_factory=list)


def cursor_key(connector: Connector, side: str, namespace: str = "") -> str:
    """``[<namespace>/]<instance>/<side>``: a hub deployment keeps its own cursors."""
    return (
        f"{namespace}/{connector.instance}/{side}" if namespace else f"{connector.instance}/{side}"
    )


async def pull_once(
    connector: Connector,
    client: httpx.AsyncClient,
    inbound: Inbound,
    cursors: Cursors,
    namespace: str = "",
) -> int:
    """One page from the app into Kafka, then its cursor; the number of messages."""
    key = cursor_key(connector, "pull", namespace)
    page = await connector.pull(client, await cursors.load(key))
    written = await inbound.write(page.messages)
    if page.cursor is not None:
        await cursors.save(key, page.cursor)
    return written


async def import_file(
    connector: Connector, data: bytes, inbound: Inbound, source: str
) -> ImportResult:
    """Every good row of an export into Kafka; every bad row into the DLQ with its reason."""
    result = ImportResult()
    good: list[RawMessage] = []
    for item in connector.read_file(data):
        if isinstance(item, BadInput):
            result.refused.append(item.reason)
            await inbound.refuse(b"", item.reason, source)
        else:
            good.append(item)
    result.accepted = await inbound.write(good)
    return result


async def poll_status_once(
    connector: Connector,
    client: httpx.AsyncClient,
    bootstrap: str,
    cursors: Cursors,
    serializer: TopicSerializer,
    namespace: str = "",
) -> int:
    """One page of the app's status changes, as StatusUpdates on lapor.status.<connector>."""
    key = cursor_key(connector, "status", namespace)
    page = await connector.poll_status(client, await cursors.load(key))
    topic = topics.status(connector.instance)
    records = []
    for raw in page.messages:
        try:
            update = connector.to_status(raw)
        except BadInput as refused:
            headers = {
                **raw_headers(connector.instance, raw),
                "__connect.errors.topic": f"{connector.instance} status feed".encode(),
                "__connect.errors.stage": b"status",
                "__connect.errors.connector.name": connector.instance.encode(),
                "__connect.errors.exception.class.name": b"BadInput",
                "__connect.errors.exception.message": refused.reason.encode(),
                "lapor.errors.attempts": b"1",
                "lapor.errors.first-failure": datetime.now(UTC).isoformat().encode(),
                "lapor.errors.last-failure": datetime.now(UTC).isoformat().encode(),
            }
            records.append(
                (topics.dead_letter("status"), raw.source_id.encode(), raw.body, headers)
            )
            continue
        records.append((topic, update["hub_id"].encode(), serializer.serialize(topic, update), {}))
    await cursors.producer.send(records)
    if page.cursor is not None:
        await cursors.save(key, page.cursor)
    return sum(1 for record in records if record[0] == topic)  # status updates, not letters


LEDGER = "lapor.ledger"
DEFAULT_BACKOFF = Backoff()


class Ledger:
    """What each destination already acknowledged: ``<hub id>:<agency>`` -> the app's id,
    in a compacted topic, so a restarted delivery worker does not send it again."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.entries: dict[str, str] = {}

    def load(self, timeout: float = 30.0) -> int:
        consumer = make_consumer(self.bootstrap, f"lapor-ledger-reader-{time.time_ns()}")
        try:
            partitions = consumer.list_topics(LEDGER, timeout=timeout).topics[LEDGER].partitions
            for number in partitions:
                low, high = watermarks(consumer, TopicPartition(LEDGER, number), timeout)
                if high <= low:
                    continue
                consumer.assign([TopicPartition(LEDGER, number, low)])
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    msg = consumer.poll(0.5)
                    if msg is None or msg.error():
                        continue
                    self.entries[msg.key().decode()] = (msg.value() or b"").decode()
                    if msg.offset() >= high - 1:
                        break
        finally:
            consumer.close()
        return len(self.entries)


class DeliveryWorker:
    """Delivers the routed reports on ``lapor.out.<connector>`` into the app.

    One record per destination agency (header ``lapor.destination``); the idempotency key is
    ``<hub id>:<agency>``. A delivery the ledger already holds is skipped; a new one is
    recorded in the ledger, with a RECEIVED status update, before its offset is committed,
    so a crash re-sends at most what was in flight, with the same key. A batch is delivered
    concurrently (``concurrency`` requests at a time).
    """

    def __init__(
        self,
        bootstrap: str,
        connector: Connector,
        serializer: TopicSerializer,
        policy: RetryPolicy = DEFAULT_POLICY,
        group: str | None = None,
        ledger: Ledger | None = None,
        concurrency: int = 64,
        backoff: Backoff = DEFAULT_BACKOFF,
        start_at: str = "earliest",
    ) -> None:
        self.connector = connector
        self.serializer = serializer
        self.policy = policy
        self.topic = topics.outbound(connector.instance)
        self.consumer = make_consumer(
            bootstrap,
            group or f"lapor-deliver-{connector.instance}",
            stage="deliver",
            auto_offset_reset=start_at,
        )
        self.assigned = threading.Event()  # set once the group gave this worker partitions
        self.consumer.subscribe([self.topic], on_assign=lambda *_: self.assigned.set())
        self.producer = DurableProducer(bootstrap)
        self.ledger = ledger
        self.limit = asyncio.Semaphore(concurrency)
        self.delivered: dict[str, str] = {}  # "<hub id>:<agency>" -> the app's id, this run
        self.skipped = 0  # already in the ledger
        self.retried = 0  # sent to lapor.retry.deliver
        self.backoff = backoff
        self.failed: dict[str, str] = {}  # hub id -> why it was given up
        self.latencies_ms: list[float] = []  # from the hub receiving a report to the app's 2xx

    async def run_once(
        self, client: httpx.AsyncClient, max_messages: int = 500, timeout: float = 1.0
    ) -> int:
        messages = await asyncio.to_thread(consume, self.consumer, max_messages, timeout)
        with read_again_on_failure(self.consumer, messages):
            return await self._deliver_all(client, messages)

    async def _deliver_all(self, client: httpx.AsyncClient, messages: list[Message]) -> int:
        for msg in messages:
            if msg.error() and msg.error().code() != KafkaError._PARTITION_EOF:
                raise KafkaException(msg.error())
        todo, seen = [], set()
        for msg in messages:
            if msg.error():
                continue
            key = self._key(msg)
            if key in seen or (self.ledger is not None and key in self.ledger.entries):
                self.skipped += 1  # a duplicate in this batch, or acknowledged before
                continue
            seen.add(key)
            todo.append((msg, key))
        metrics.count("deliver", "in", len(todo))
        results = await asyncio.gather(*(self._deliver(client, m, k) for m, k in todo))
        records = [record for batch in results for record in batch]
        if records:
            await self.producer.send(records)
        if self.ledger is not None:  # only once written: a failed step delivers them again
            for topic, key, value, _ in records:
                if topic == LEDGER:
                    self.ledger.entries[key.decode()] = value.decode()
        await asyncio.to_thread(commit_handled, self.consumer, messages)
        return len(messages)

    def _agency(self, msg: Message) -> str:
        agency = dict(msg.headers() or []).get("lapor.destination", b"").decode()
        return agency or self.connector.config.agency

    def _key(self, msg: Message) -> str:
        """The idempotency key and ledger key of one delivery: ``<hub id>:<agency>`` for a
        handler, ``<hub id>:<agency>:copy`` for a copy, so an agency informed first and
        made the handler later (re-routing) receives the report again, as its handler."""
        role = dict(msg.headers() or []).get("lapor.role", b"HANDLER")
        copy = ":copy" if role == b"COPY" else ""
        return f"{(msg.key() or b'').decode()}:{self._agency(msg)}{copy}"

    async def _deliver(self, client: httpx.AsyncClient, msg: Message, key: str) -> list[tuple]:
        routed = self.serializer.deserialize(self.topic, msg.value())
        hub_id = routed["report"]["hub_id"]
        agency = self._agency(msg)
        role = dict(msg.headers() or []).get("lapor.role", b"HANDLER").decode()
        try:
            # the identity is opened here, for a handler of a report that is not anonymous
            routed = for_destination(routed, role, hub_keyring())
            async with self.limit:
                done = await deliver_with_retries(self.connector, client, routed, key, self.policy)
        except (PermanentDeliveryError, RetryableDeliveryError, PrivacyError) as exc:
            letter = failed_letter(msg, "deliver", self.connector.instance, exc, self.backoff)
            if letter.topic == topics.dead_letter("deliver"):
                self.failed[hub_id] = str(exc)
            else:
                self.retried += 1
            return [(letter.topic, letter.key, letter.value, letter.headers)]
        self.delivered[key] = done.remote_id
        log.info(
            "delivered to %s as %s",
            agency,
            done.remote_id,
            extra={
                "hub_id": hub_id,
                "agency": agency,
                "stage": "deliver",
                "connector": self.connector.instance,
            },
        )
        received = routed["report"]["received_at"]
        latency = (datetime.now(UTC) - received).total_seconds()
        self.latencies_ms.append(latency * 1000)
        metrics.DELIVERY_LATENCY.observe(latency)
        metrics.count("deliver", "out")
        status_topic = topics.status(self.connector.instance)
        update = new_status(
            hub_id=hub_id,
            agency=agency,
            status="RECEIVED",
            source_status="delivered",
            actor="lapor-hub",
            message=f"{self.connector.instance} id {done.remote_id}",
            occurred_at=datetime.now(UTC),
        )
        return [
            (LEDGER, key.encode(), done.remote_id.encode(), {}),
            (status_topic, hub_id.encode(), self.serializer.serialize(status_topic, update), {}),
        ]

    def close(self) -> None:
        self.consumer.close()


def failed_letter(
    msg: Message, stage: str, connector: str, error: Exception, backoff: Backoff
) -> DeadLetter:
    """A permanent failure goes to the dead letters; a transient one to the stage's retry
    topic (the dead letters after the last attempt). Counted either way."""
    if isinstance(error, RetryableDeliveryError):
        letter = retry_or_dead_letter(msg, stage, connector, error, backoff)
    else:
        letter = dead_letter(msg, stage, connector, error)
    failed = letter.topic == topics.dead_letter(stage)
    metrics.count(stage, "failed" if failed else "retried")
    return letter


@dataclass
class Waiting:
    """A report's statuses in the retry topic, oldest first; ``since``: when the first
    became the one the others wait for (monotonic seconds)."""

    since: float
    ids: list[str]


SOURCE_ID = "lapor.source-id"  # header of feedback records: the origin app's id for the report


class FeedbackWorker:
    """Tells origin apps what became of their reports: the tracker's StatusUpdates on
    ``lapor.feedback.<connector>`` go to the app through ``send_status``, with the update id
    as idempotency key (the tracker may write one twice; the app takes it once). Failures
    take the same way as deliveries: retries, then dead letters (stage ``feedback``)."""

    def __init__(
        self,
        bootstrap: str,
        connector: Connector,
        serializer: TopicSerializer,
        group: str,
        policy: RetryPolicy = DEFAULT_POLICY,
        backoff: Backoff = DEFAULT_BACKOFF,
        concurrency: int = 64,
    ) -> None:
        self.connector = connector
        self.serializer = serializer
        self.policy = policy
        self.backoff = backoff
        self.topic = topics.feedback(connector.instance)
        self.consumer = make_consumer(bootstrap, group, stage="feedback")
        self.assigned = threading.Event()
        self.consumer.subscribe(
            [self.topic], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked
        )
        self.producer = DurableProducer(bootstrap)
        self.limit = asyncio.Semaphore(concurrency)
        self.sent = 0
        self.failed = 0
        self.waiting: dict[bytes, Waiting] = {}  # report -> its statuses in the retry topic

    def _assigned(self, *_) -> None:
        self.waiting.clear()  # what waited here may be another process's to send now
        self.assigned.set()

    def _revoked(self, *_) -> None:
        self.waiting.clear()

    async def run_once(self, client: httpx.AsyncClient, timeout: float = 1.0) -> int:
        messages = await asyncio.to_thread(consume, self.consumer, 200, timeout)
        with read_again_on_failure(self.consumer, messages):
            return await self._send_all(client, messages)

    async def _send_all(self, client: httpx.AsyncClient, messages: list[Message]) -> int:
        todo: dict[str, tuple[Message, dict]] = {}  # update id -> (record, update): once
        for msg in messages:
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(msg.error())
                continue
            update = self.serializer.deserialize(self.topic, msg.value())
            todo.setdefault(update["update_id"], (msg, update))
        metrics.count("feedback", "in", len(todo))
        by_report: dict[bytes, list[tuple[Message, dict]]] = {}
        for msg, update in todo.values():
            by_report.setdefault(msg.key() or b"", []).append((msg, update))
        results = await asyncio.gather(
            *(self._send_in_order(client, pairs) for pairs in by_report.values())
        )
        records = [record for sent in results for record in sent if record is not None]
        if records:
            await self.producer.send(records)
        await asyncio.to_thread(commit_handled, self.consumer, messages)
        return len(messages)

    async def _send_in_order(
        self, client: httpx.AsyncClient, pairs: list[tuple[Message, dict]]
    ) -> list[tuple | None]:
        """One report's statuses one after another, as the tracker wrote them (different
        reports at once): sent together, the app could take an older status last and show
        it as the report's current one."""
        return [await self._send_or_wait(client, msg, update) for msg, update in pairs]

    async def _send_or_wait(
        self, client: httpx.AsyncClient, msg: Message, update: dict
    ) -> tuple | None:
        """A status goes to the app unless an earlier one of its report waits in the retry
        topic: then it waits there too, behind it, so the app never takes an older status
        last. Known to this process since its last rebalance: a status retried before that
        may still be overtaken (each status carries the time it happened)."""
        report, update_id = msg.key() or b"", update["update_id"]
        waiting = self.waiting.get(report)
        if waiting and time.monotonic() - waiting.since > self.backoff.span() + 60:
            log.warning(
                "stopped holding statuses behind %s: it did not come back from retries",
                waiting.ids[0],
                extra={"hub_id": update["hub_id"], "stage": "feedback"},
            )
            del self.waiting[report]
            waiting = None
        if waiting and waiting.ids[0] != update_id:
            if update_id not in waiting.ids:
                waiting.ids.append(update_id)
            metrics.count("feedback", "waiting")
            letter = wait_behind(
                msg, "feedback", self.connector.instance, waiting.ids[0], self.backoff
            )
            return (letter.topic, letter.key, letter.value, letter.headers)
        record = await self._send(client, msg, update)
        retried = record is not None and record[0] == topics.retry("feedback")
        if waiting and not retried:  # told, or given up: the next one may go
            waiting.ids.pop(0)
            waiting.since = time.monotonic()
            if not waiting.ids:
                del self.waiting[report]
        elif retried and not waiting:
            self.waiting[report] = Waiting(time.monotonic(), [update_id])
        return record

    async def _send(self, client: httpx.AsyncClient, msg: Message, update: dict) -> tuple | None:
        source_id = dict(msg.headers() or []).get(SOURCE_ID, b"").decode()
        try:
            async with self.limit:
                await send_status_with_retries(
                    self.connector, client, update, source_id, self.policy
                )
        except (PermanentDeliveryError, RetryableDeliveryError) as exc:
            self.failed += 1
            letter = failed_letter(msg, "feedback", self.connector.instance, exc, self.backoff)
            return (letter.topic, letter.key, letter.value, letter.headers)
        self.sent += 1
        metrics.count("feedback", "out")
        log.info(
            "told %s: %s at %s",
            self.connector.instance,
            update["status"],
            update["agency"],
            extra={"hub_id": update["hub_id"], "stage": "feedback"},
        )
        return None

    def close(self) -> None:
        self.consumer.close()


def ensure_connector_topics(bootstrap: str, name: str) -> None:
    ensure_topics(make_admin(bootstrap), connector_topics(name))
