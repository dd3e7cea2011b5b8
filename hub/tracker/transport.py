"""faust's Kafka transport, fixed so that a rebalance never skips records, and read_committed.

faust-streaming 0.15 (issues #216, #221, #236 are the family) can commit past records no
agent handled when a rebalance gives a process back partitions it had:

1. A fetch that started before the rebalance and returns after it is taken as the new
   generation's: its records (read at the old position, ahead of the committed offset)
   make faust mark everything between the committed offset and them as a gap, commit past
   it, and drop those records when they are read again. Under the whole-hub fault test
   this lost runs of ~60 consecutive routing decisions, whose statuses then never reached
   the origin app. Here such a fetch is thrown away and the partitions are sought to their
   committed offsets again, so whatever it held is read again.
2. aiokafka's seek to the committed offsets leaves a partition nobody has committed yet
   where its fetcher is, so what faust meant to read again after a recovery or a dropped
   fetch was never read: here it starts again from its first record.
3. Events a stream skips during a rebalance are acked while skipped, and their offsets can
   be committed. Here only a message the agent marked as handled is acked.
4. (reverted; see hub.tracker.gaps for what replaced it)
5. faust reads uncommitted records unless it writes in transactions itself. The data plane
   writes lapor.routed in transactions: a decision from an aborted one (its retry decides
   again, at another moment) was a second routing in the report's lifecycle. Here the
   tracker reads committed records only.
6. While its only broker is down, aiokafka's fetcher asks for a metadata update, which fails
   at once (connection refused), which wakes the fetcher to ask again: ~7,500 failed
   connects a second per tracker (aio-libs/aiokafka#496), which took ~0.9 of a core from a
   broker restarting on the same machine (it once took over 2 minutes to come back). Here a
   failed metadata update pauses for the client's retry backoff (100 ms) before it returns.
7. faust's producer flush, which the consumer awaits before it commits offsets, gives up
   on its buffer once no message left it for 0.1 s (ProducerBuffer.flush_atmost). Table
   writes wait in that buffer while aiokafka waits for metadata (a broker just restarted),
   so offsets could be committed before the table changes they record reached the
   changelog, and a tracker taking the partition over could recover a table without them
   (a report's routing decision lost: its statuses would wait for it for good). Found by
   reading faust, not seen in a log. Here a flush waits until the buffer is empty and the
   message it was sending has left.

8. faust commits past offsets its fetch skipped (it takes them for transaction markers)
   and, on a partition with no committed offset, past whatever preceded the first record
   handled. Here a commit stops short of what hub.tracker.gaps has not read yet.

9. A record aiokafka cannot parse (a header name that is not UTF-8) would stop the tracker
   at it after every restart: it is passed over, counted and logged.

Reading a record again is safe: the tracker's transitions are idempotent. A record lost by
a path not known yet is found by hub.tracker.gaps (fed here: every seek to the committed
offsets, every revoke, every record handled) and applied at the partition's next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import weakref
from collections.abc import Mapping
from typing import Any

import faust
from aiokafka.client import AIOKafkaClient
from aiokafka.consumer.fetcher import PartitionRecords
from aiokafka.partitioner import DefaultPartitioner, murmur2
from faust.transport.drivers import aiokafka as driver
from faust.transport.producer import ProducerBuffer
from faust.types import TP, Message

from hub.kafka import client_security
from hub.tracker.gaps import Gaps

log = logging.getLogger(__name__)


def pause_after_failed_metadata_updates() -> None:
    """fix 6, for every aiokafka client of this process (the tracker's)."""
    update = AIOKafkaClient._metadata_update
    if getattr(update, "pauses", False):
        return

    async def _metadata_update(self: AIOKafkaClient, cluster_metadata: Any, topics: Any) -> bool:
        updated = await update(self, cluster_metadata, topics)
        if not updated:
            await asyncio.sleep(self._retry_backoff)  # not at once again: no broker answers
        return updated

    _metadata_update.pauses = True  # type: ignore[attr-defined]
    AIOKafkaClient._metadata_update = _metadata_update


pause_after_failed_metadata_updates()


def skip_unreadable_records() -> None:
    """fix 9: a record whose header name is not UTF-8 (any client can write one, and an
    agency's connector writes the status topics the tracker reads) makes aiokafka's
    record parser raise UnicodeDecodeError, which would stop the tracker at that record
    after every restart. Here it is passed over (its partition's fetch goes on from the
    next offset), counted and logged with where it is."""
    unpack = PartitionRecords._unpack_records
    if getattr(unpack, "skips", False):
        return

    def _unpack_records(self: PartitionRecords) -> Any:
        records = unpack(self)
        while True:
            try:
                yield next(records)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                from hub.tracker.metrics import REFUSED

                log.error(
                    "passed over the record at %s offset %d: it cannot be read (%s)",
                    self._tp,
                    self.next_fetch_offset,
                    exc,
                )
                REFUSED.labels(self._tp.topic).inc()
                self.next_fetch_offset += 1  # the fetch goes on after it
                return

    _unpack_records.skips = True  # type: ignore[attr-defined]
    PartitionRecords._unpack_records = _unpack_records


skip_unreadable_records()


class ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # fix 5: read what was committed only (faust reads uncommitted records unless it
        # writes in transactions itself); aiokafka takes the level from here when it starts
        consumer._isolation_level = "read_committed"
        return consumer

    async def getmany(self, active_partitions: set[TP] | None, timeout: float) -> Any:
        generation = self.app.consumer_generation_id
        records = await super().getmany(active_partitions, timeout)
        if generation != self.app.consumer_generation_id and records:
            # a fetch across a rebalance: its records may come from before the seek to the
            # committed offsets or after it; drop them and seek there again (fix 1)
            try:
                await self.consumer.perform_seek()
            except Exception as exc:  # rebalancing again: that rebalance seeks too
                log.info("no seek after a fetch across a rebalance: %r", exc)
            return {}
        return records

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return await self.call_thread(self._seek_to_committed)

    async def commit(self, offsets: Mapping[TP, int]) -> bool:
        """fix 8: never past records the agent passed over and no tick has read yet."""
        allowed = self.app.gaps.commit_limits(offsets)
        if not allowed:
            return False
        return await super().commit(allowed)

    async def _seek_to_committed(self) -> Mapping[TP, int]:
        """aiokafka's seek_to_committed leaves a partition with no committed offset (or 0)
        where its fetcher is. faust seeks to the committed offsets after every recovery and
        here after a dropped fetch, meaning to read again what it dropped: for a partition
        nobody has committed yet that read nothing again, and its first records were never
        handled (up to ~1,000 statuses in the kill test). Such a stream partition is sought
        to its first record, as a first assignment does (auto_offset_reset=earliest);
        changelogs are faust's own to position."""
        consumer = self._ensure_consumer()
        committed = await consumer.seek_to_committed()
        changelogs = self.app.tables.changelog_topics
        for tp, offset in committed.items():
            if tp.topic in changelogs:
                continue
            if not offset:
                await consumer.seek_to_beginning(tp)
            self.app.gaps.sought(tp, offset or 0)  # the agent should handle it next
        return committed


class Consumer(driver.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handled: weakref.WeakSet[Message] = weakref.WeakSet()

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        try:
            await super().on_partitions_revoked(revoked)  # its commits see the gaps
        finally:
            self.app.gaps.revoked(revoked)

    def ack(self, message: Message) -> bool:
        if message not in self.handled:  # skipped by the stream: not done (fix 3)
            message.acked = True
            return False
        self.handled.discard(message)
        return super().ack(message)


class DrainingBuffer(ProducerBuffer):
    """faust's producer buffer, which knows whether it is sending a message (fix 7)."""

    sending = 0

    async def _send_pending(self, fut: Any) -> None:
        self.sending += 1
        try:
            await super()._send_pending(fut)
        finally:
            self.sending -= 1

    async def drain(self) -> None:
        """Return once every message put in the buffer has been handed to aiokafka."""
        while self.size or self.sending:
            if self.state != "running":
                raise RuntimeError("Cannot flush: Producer not Running")
            self.message_sent.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.message_sent.wait(), 0.1)


class Producer(driver.Producer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buffer = DrainingBuffer(loop=self.loop, beacon=self.beacon)
        self.buffer.app = self.app

    async def flush(self) -> None:
        await self.buffer.drain()  # fix 7: then aiokafka's flush waits for the acks
        await super().flush()


class KeyedPartitioner:
    """aiokafka's default partitioner (murmur2, as Java's clients and the hub's own
    producers place a key) that keeps each key's hash: a report's state and its effects
    go out under the same hub id several times, and hashing it again in Python took ~2% of
    the tracker's CPU. Only keys the size of a hub id are kept: a key an agency made up,
    up to a record's size, must not fill the tracker's memory 65,536 times over."""

    KEPT_KEY_BYTES = 64

    def __init__(self, keys: int = 65_536) -> None:
        self._default = DefaultPartitioner()
        self._hash = functools.lru_cache(maxsize=keys)(murmur2)

    def __call__(self, key: Any, all_partitions: list[int], available: list[int]) -> int:
        if not isinstance(key, bytes) or len(key) > self.KEPT_KEY_BYTES:
            return self._default(key, all_partitions, available)
        return all_partitions[(self._hash(key) & 0x7FFFFFFF) % len(all_partitions)]


class Transport(driver.Transport):
    Consumer = Consumer
    Producer = Producer


class App(faust.App):
    """A faust App whose consumer commits only what its agent handled, and which notes
    the offsets its agent passed over (hub.tracker.gaps)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gaps = Gaps(())  # the tracker names the topics to watch

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)

    def handled(self, message: Message) -> None:
        """Call when the agent is done with ``message``: its offset may now be committed."""
        self.consumer.handled.add(message)
        self.gaps.handled(message.tp, message.offset)


def faust_credentials() -> faust.SASLCredentials | faust.SSLCredentials | None:
    """This process's Kafka credentials (hub.kafka.client_security), as faust takes them:
    SASL over TLS, TLS alone, or none (plain text)."""
    security = client_security()
    protocol = security.get("security.protocol")
    if protocol == "SSL":
        return faust.SSLCredentials(
            ssl.create_default_context(cafile=security.get("ssl.ca.location"))
        )
    if protocol != "SASL_SSL":
        return None
    return faust.SASLCredentials(
        username=security["sasl.username"],
        password=security["sasl.password"],
        mechanism=security["sasl.mechanism"],
        ssl_context=ssl.create_default_context(cafile=security.get("ssl.ca.location")),
    )
