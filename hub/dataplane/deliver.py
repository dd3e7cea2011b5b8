"""Delivery: routed reports on ``lapor.out.<connector>`` into the destination app, with an
idempotency key, retries and a ledger of what each destination acknowledged."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict, deque
from datetime import UTC, datetime

import httpx
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from hub import metrics, records, topics
from hub.dataplane.retries import DEFAULT_SCHEDULE, RetrySchedule, failed_record
from hub.errors import PermanentDeliveryError, RetryableDeliveryError
from hub.kafka import (
    ConsumerTurns,
    DurableProducer,
    client_id,
    commit_handled,
    consume,
    is_passing,
    latest_values,
    make_consumer,
    raise_consumed_error,
    read_again_on_failure,
)
from hub.privacy import MissingKey, PrivacyError, for_destination, hub_keyring
from hub.records import Record
from hub.sdk.base import Connector
from hub.sdk.http import DEFAULT_POLICY, RetryPolicy, deliver_with_retries
from hub.sdk.reports import HUB_NAMESPACE, new_status, uuid5_text
from hub.serialization import TopicSerializer

log = logging.getLogger(__name__)

# what a worker keeps of its latest deliveries, for a look at them (the demo, tests): a hub
# runs for months at hundreds of deliveries a second, and the ledger holds them all
RECENT = 10_000


class Recent(OrderedDict):
    """The latest ``RECENT`` entries put in, oldest dropped first."""

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        if len(self) > RECENT:
            self.popitem(last=False)


class Ledger:
    """What one connector's destinations already acknowledged: ``<hub id>:<agency>`` -> the
    app's id, in its compacted ``lapor.ledger.<connector>`` (no other connector can write
    there), so a restarted delivery worker does not send it again."""

    def __init__(self, bootstrap: str, connector: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topics.ledger(connector)
        self.entries: dict[str, str] = {}

    def load(self, timeout: float = 30.0) -> int:
        """Read the whole ledger; HubError if it cannot be read to its end (a ledger read
        short would deliver again what a destination already has)."""
        found = latest_values(self.bootstrap, self.topic, topics.LEDGER_READER_GROUP, timeout)
        # its connector writes this topic: what is not text is taken as text, not a stop
        self.entries.update(
            (key.decode("utf-8", "replace"), (value or b"").decode("utf-8", "replace"))
            for key, value in found.items()
        )
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
        schedule: RetrySchedule = DEFAULT_SCHEDULE,
        start_at: str = "earliest",
        member: str | None = None,
    ) -> None:
        """``member``: the process's name, for a static membership (hub.kafka)."""
        self.connector = connector
        self.serializer = serializer
        self.policy = policy
        self.topic = topics.outbound(connector.instance)
        self.consumer = make_consumer(
            bootstrap,
            group or topics.deliver_group("lapor", connector.instance),
            stage="deliver",
            on_commit=self._committed,
            member=(member, [self.topic]) if member else None,
            auto_offset_reset=start_at,
            client_id=(named := client_id("deliver", connector.instance)),
        )
        self._commit_failed: KafkaError | None = None
        self.assigned = threading.Event()  # set once the group gave this worker partitions
        self.consumer.subscribe([self.topic], on_assign=lambda *_: self.assigned.set())
        self.turns = ConsumerTurns(self.consumer)
        self.producer = DurableProducer(bootstrap, confine=connector.instance, client_id=named)
        self.ledger = ledger
        self.limit = asyncio.Semaphore(concurrency)
        self.delivered_total = 0  # deliveries the apps acknowledged, this run
        self.delivered: dict[str, str] = Recent()  # "<hub id>:<agency>" -> the app's id, latest
        self.skipped = 0  # already in the ledger
        self.retried = 0  # sent to lapor.retry.deliver
        self.schedule = schedule
        self.failed: dict[str, str] = Recent()  # hub id -> why it was given up, latest
        # from the hub receiving a report to the app's 2xx, latest
        self.latencies_ms: deque[float] = deque(maxlen=RECENT)

    async def run_once(
        self,
        client: httpx.AsyncClient,
        max_messages: int = 500,
        timeout: float = 1.0,
        wait: float = 0.0,
    ) -> int:
        """One batch: up to ``timeout`` gathering it (after up to ``wait`` for its first
        record, hub.kafka.consume), delivered, recorded, committed."""
        if (failed := self._commit_failed) is not None:  # an earlier batch's, not waited for
            self._commit_failed = None
            raise KafkaException(failed)
        turn = self.turns.call
        messages = await asyncio.to_thread(turn, consume, max_messages, timeout, wait) or []
        with read_again_on_failure(self.consumer, messages):
            return await self._deliver_all(client, messages)

    async def _deliver_all(self, client: httpx.AsyncClient, messages: list[Message]) -> int:
        raise_consumed_error(messages)
        todo, seen = [], set()
        for msg in messages:
            if msg.error():
                continue
            headers = records.headers_of(msg)
            key = self._key(msg, headers)
            if key in seen or (self.ledger is not None and key in self.ledger.entries):
                self.skipped += 1  # a duplicate in this batch, or acknowledged before
                continue
            seen.add(key)
            todo.append((msg, headers, key))
        metrics.count("deliver", "in", len(todo))
        results = await asyncio.gather(*(self._deliver(client, *job) for job in todo))
        written = [record for batch in results for record in batch]
        if written:
            await self.producer.send(written)
        if self.ledger is None:
            await self.turns.commit_waited(messages)
            return len(messages)
        for record in written:  # only once written: a failed step delivers them again
            if record.topic == self.ledger.topic:
                self.ledger.entries[record.key.decode()] = record.value.decode()
        # the ledger has them: the commit need not be waited for (one lost in a crash reads
        # them again, and the ledger skips them)
        self.turns.call(commit_handled, messages, False)
        return len(messages)

    def _committed(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """A commit's outcome (librdkafka's callback, in the consuming thread): a failure
        that does not pass (a principal refused its group) is raised at the next step, as
        a commit waited for would have; a passing one only reads the batch again, which
        the ledger skips."""
        failed = error or next((p.error for p in partitions or () if p.error), None)
        if failed is not None and not is_passing(KafkaException(failed)):
            self._commit_failed = failed

    def _agency(self, headers: dict[str, bytes]) -> str:
        return records.text(headers, records.DESTINATION) or self.connector.config.agency

    def _key(self, msg: Message, headers: dict[str, bytes]) -> str:
        """The idempotency key and ledger key of one delivery: ``<hub id>:<agency>`` for a
        handler, ``<hub id>:<agency>:copy`` for a copy, so an agency informed first and
        made the handler later (re-routing) receives the report again, as its handler."""
        copy = ":copy" if headers.get(records.ROLE) == b"COPY" else ""
        return f"{(msg.key() or b'').decode('utf-8', 'replace')}:{self._agency(headers)}{copy}"

    async def _deliver(
        self, client: httpx.AsyncClient, msg: Message, headers: dict[str, bytes], key: str
    ) -> list[Record]:
        try:
            routed = self.serializer.deserialize(self.topic, msg.value())
            hub_id = routed["report"]["hub_id"]
        except Exception as exc:  # a record no schema reads: its dead letter, not a stop
            metrics.count("deliver", "failed")
            return [records.dead_letter(msg, "deliver", self.connector.instance, exc)]
        agency = self._agency(headers)
        role = records.text(headers, records.ROLE, "HANDLER")
        try:
            # the identity is opened here, for a handler of a report that is not anonymous
            routed = for_destination(routed, role, hub_keyring())
            async with self.limit:
                done = await deliver_with_retries(self.connector, client, routed, key, self.policy)
        except MissingKey as exc:  # retried: the agency's ring may be exported again soon
            letter = failed_record(
                msg,
                "deliver",
                self.connector.instance,
                RetryableDeliveryError(str(exc)),
                self.schedule,
            )
            self.retried += letter.topic != topics.dead_letter("deliver")
            return [letter]
        except (PermanentDeliveryError, RetryableDeliveryError, PrivacyError) as exc:
            letter = failed_record(msg, "deliver", self.connector.instance, exc, self.schedule)
            if letter.topic == topics.dead_letter("deliver"):
                self.failed[hub_id] = str(exc)
            else:
                self.retried += 1
            return [letter]
        self.delivered[key] = done.remote_id
        self.delivered_total += 1
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
        decided = (routed.get("decision") or {}).get("decided_at") or ""
        update = new_status(
            hub_id=hub_id,
            agency=agency,
            status="RECEIVED",
            source_status="delivered",
            actor="lapor-hub",
            message=f"{self.connector.instance} id {done.remote_id}",
            occurred_at=datetime.now(UTC),
            # one per routing decision, agency and role: a delivery sent again after a crash
            # (the app keeps it once, by its idempotency key) must not tell the origin twice
            update_id=uuid5_text(HUB_NAMESPACE, f"{key}/{role}/{decided}/delivered"),
        )
        return [
            Record(topics.ledger(self.connector.instance), key.encode(), done.remote_id.encode()),
            Record(
                status_topic, hub_id.encode(), self.serializer.serialize(status_topic, update), {}
            ),
        ]

    def close(self) -> None:
        self.turns.close()
