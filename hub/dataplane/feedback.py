"""Feedback: statuses read from agency apps, and statuses told back to the app a report
came from.

- Status polling: one page of an app's status changes becomes StatusUpdates on
  ``lapor.status.<connector>`` (a status the connector refuses becomes a dead letter of the
  ``status`` stage), then the side's cursor moves.
- The FeedbackWorker tells origin apps the tracker's StatusUpdates on
  ``lapor.feedback.<connector>``, one report's statuses in order.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass

import httpx
from confluent_kafka import Message

from hub import metrics, records, topics
from hub.dataplane.inbound import Cursors, cursor_key, raw_headers, sealed_record
from hub.dataplane.retries import DEFAULT_SCHEDULE, RetrySchedule, failed_record, wait_behind
from hub.errors import BadInput, HubError, PermanentDeliveryError, RetryableDeliveryError
from hub.kafka import (
    ConsumerTurns,
    DurableProducer,
    client_id,
    consume,
    make_consumer,
    raise_consumed_error,
    read_again_on_failure,
)
from hub.records import Record
from hub.sdk.base import Connector
from hub.sdk.guard import page_of, record_failures
from hub.sdk.http import DEFAULT_POLICY, RetryPolicy, send_status_with_retries
from hub.serialization import TopicSerializer

log = logging.getLogger(__name__)


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
    asked = connector.poll_status(client, await cursors.load(key))
    page = await page_of(asked, connector.instance, "status")
    topic = topics.status(connector.instance)
    written = []
    for raw in page.messages:
        if isinstance(raw, BadInput):  # an item of the page that is no status at all
            headers = records.failure_headers(
                "status", connector.instance, raw, topic=f"{connector.instance} status feed"
            )
            written.append(
                sealed_record(topics.dead_letter("status"), None, raw.body or b"", headers)
            )
            continue
        try:
            with record_failures(f"{connector.instance} reading a status"):
                update = connector.to_status(raw)
            encoded = serializer.serialize(topic, update)
        except HubError as refused:
            headers = records.failure_headers(
                "status",
                connector.instance,
                refused,
                earlier=raw_headers(connector.instance, raw),
                topic=f"{connector.instance} status feed",
            )
            letter = topics.dead_letter("status")
            written.append(sealed_record(letter, raw.source_id.encode(), raw.body, headers))
            continue
        written.append(Record(topic, update["hub_id"].encode(), encoded, {}))
    await cursors.producer.send(written)
    await cursors.advance(key, page)
    return sum(1 for record in written if record.topic == topic)  # status updates, not letters


@dataclass
class Waiting:
    """A report's statuses in the retry topic, oldest first; ``since``: when the first
    became the one the others wait for (monotonic seconds)."""

    since: float
    ids: list[str]


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
        schedule: RetrySchedule = DEFAULT_SCHEDULE,
        concurrency: int = 64,
        member: str | None = None,
    ) -> None:
        """``member``: the process's name, for a static membership (hub.kafka)."""
        self.connector = connector
        self.serializer = serializer
        self.policy = policy
        self.schedule = schedule
        self.topic = topics.feedback(connector.instance)
        named = client_id("feedback", connector.instance)
        self.consumer = make_consumer(
            bootstrap,
            group,
            stage="feedback",
            member=(member, [self.topic]) if member else None,
            client_id=named,
        )
        self.assigned = threading.Event()
        self.consumer.subscribe(
            [self.topic], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked
        )
        self.turns = ConsumerTurns(self.consumer)
        self.producer = DurableProducer(bootstrap, confine=connector.instance, client_id=named)
        self.limit = asyncio.Semaphore(concurrency)
        self.sent = 0
        self.failed = 0
        self.waiting: dict[bytes, Waiting] = {}  # report -> its statuses in the retry topic

    def _assigned(self, *_) -> None:
        self.waiting.clear()  # what waited here may be another process's to send now
        self.assigned.set()

    def _revoked(self, *_) -> None:
        self.waiting.clear()

    async def run_once(
        self, client: httpx.AsyncClient, timeout: float = 1.0, wait: float = 0.0
    ) -> int:
        """One batch (hub.kafka.consume: ``wait`` for its first record, ``timeout`` to
        gather it), told to the origin apps, committed."""
        turn = self.turns.call
        messages = await asyncio.to_thread(turn, consume, 200, timeout, wait) or []
        with read_again_on_failure(self.consumer, messages):
            return await self._send_all(client, messages)

    async def _send_all(self, client: httpx.AsyncClient, messages: list[Message]) -> int:
        todo: dict[str, tuple[Message, dict]] = {}  # update id -> (record, update): once
        unreadable: list[Record] = []
        raise_consumed_error(messages)
        for msg in messages:
            if msg.error():  # a partition's end
                continue
            try:
                update = self.serializer.deserialize(self.topic, msg.value())
                todo.setdefault(update["update_id"], (msg, update))
            except Exception as exc:  # a record no schema reads: its dead letter
                metrics.count("feedback", "failed")
                unreadable.append(
                    records.dead_letter(msg, "feedback", self.connector.instance, exc)
                )
        metrics.count("feedback", "in", len(todo))
        by_report: dict[bytes, list[tuple[Message, dict]]] = {}
        for msg, update in todo.values():
            by_report.setdefault(msg.key() or b"", []).append((msg, update))
        results = await asyncio.gather(
            *(self._send_in_order(client, pairs) for pairs in by_report.values())
        )
        written = [record for sent in results for record in sent if record is not None]
        written += unreadable
        if written:
            await self.producer.send(written)
        await self.turns.commit_waited(messages)
        return len(messages)

    async def _send_in_order(
        self, client: httpx.AsyncClient, pairs: list[tuple[Message, dict]]
    ) -> list[Record | None]:
        """One report's statuses one after another, as the tracker wrote them (different
        reports at once): sent together, the app could take an older status last and show
        it as the report's current one."""
        return [await self._send_or_wait(client, msg, update) for msg, update in pairs]

    async def _send_or_wait(
        self, client: httpx.AsyncClient, msg: Message, update: dict
    ) -> Record | None:
        """A status goes to the app unless an earlier one of its report waits in the retry
        topic: then it waits there too, behind it, so the app never takes an older status
        last. Known to this process since its last rebalance: a status retried before that
        may still be overtaken (each status carries the time it happened)."""
        report, update_id = msg.key() or b"", update["update_id"]
        waiting = self.waiting.get(report)
        if waiting and time.monotonic() - waiting.since > self.schedule.span() + 60:
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
            return wait_behind(
                msg, "feedback", self.connector.instance, waiting.ids[0], self.schedule
            )
        record = await self._send(client, msg, update)
        retried = record is not None and record.topic == topics.retry("feedback")
        if waiting and not retried:  # told, or given up: the next one may go
            waiting.ids.pop(0)
            waiting.since = time.monotonic()
            if not waiting.ids:
                del self.waiting[report]
        elif retried and not waiting:
            self.waiting[report] = Waiting(time.monotonic(), [update_id])
        return record

    async def _send(self, client: httpx.AsyncClient, msg: Message, update: dict) -> Record | None:
        source_id = records.text(records.headers_of(msg), records.SOURCE_ID)
        try:
            async with self.limit:
                await send_status_with_retries(
                    self.connector, client, update, source_id, self.policy
                )
        except (PermanentDeliveryError, RetryableDeliveryError) as exc:
            self.failed += 1
            return failed_record(msg, "feedback", self.connector.instance, exc, self.schedule)
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
        self.turns.close()
