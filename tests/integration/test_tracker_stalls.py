"""The tracker's transport reads again a partition that stalled on a record faust lost.

faust-streaming can lose a record between its fetch and the agent (the tracker kill test
caught one in ~40 runs; the drop path inside faust was not pinned down). Since only records
the agent handled are committed, such a partition stands on that record for good. Here a
consumer thread loses the last record of a real topic's partition on purpose, right after
the fetch, as the kill test saw (the lost status was its partition's last record); the
transport's stall check must read the partition again from its committed offset so that
the agent handles every record and the group commits to the end.

(A lost record that later records follow is another matter: faust takes the jump in
offsets for a gap, as a compacted topic or a transaction marker leaves, and commits past
it. Nothing after the fact can tell such a loss from a gap; transport fixes 1-3 close the
ways to it that are known.)
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from hub import eventloop
from hub.kafka import TopicSpec, ensure_topics, make_admin, make_producer
from hub.runtime import wait_until
from hub.tracker import transport
from tests.helpers import unique

pytestmark = [pytest.mark.kafka]
RECORDS = 6
LOST_OFFSET = RECORDS - 1  # the partition's last


class LosingThread(transport.ConsumerThread):
    """Loses the record at LOST_OFFSET once, after the fetch has counted it."""

    lost = False

    async def getmany(self, active_partitions, timeout: float) -> Any:
        records = await super().getmany(active_partitions, timeout)
        if LosingThread.lost:
            return records
        kept = {}
        for tp, batch in records.items():
            remaining = [r for r in batch if r.offset != LOST_OFFSET]
            LosingThread.lost |= len(remaining) < len(batch)
            kept[tp] = remaining
        return kept


class LosingConsumer(transport.Consumer):
    def _new_consumer_thread(self) -> transport.ConsumerThread:
        return LosingThread(self, loop=self.loop, beacon=self.beacon)


class LosingTransport(transport.Transport):
    Consumer = LosingConsumer


class LosingApp(transport.App):
    def _new_transport(self) -> Any:
        return LosingTransport(self.conf.broker_consumer, self)


def test_a_partition_stalled_on_a_lost_record_is_read_again(kafka_bootstrap: str, tmp_path) -> None:
    topic = unique("stall")
    ensure_topics(make_admin(kafka_bootstrap), [TopicSpec(topic, 1)])
    producer = make_producer(kafka_bootstrap)
    for number in range(RECORDS):
        producer.produce(topic, key=b"k", value=str(number).encode())
    producer.flush(10)

    app = LosingApp(
        unique("stall-app"),
        broker=f"kafka://{kafka_bootstrap}",
        store="memory://",
        web_enabled=False,
        datadir=str(tmp_path),
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=0.5,
        topic_partitions=1,
    )
    handled: list[int] = []
    stalls: list[Any] = []

    async def agent(stream) -> None:
        async for event in stream.events():
            handled.append(event.message.offset)
            app.handled(event.message)

    async def check() -> None:
        stalls.extend(await app.consumer.reread_stalled(2.0))

    source = app.topic(topic, key_serializer="raw", value_serializer="raw")
    app.agent(source, name="count")(agent)
    app.timer(0.5)(check)
    stop = threading.Event()

    async def run() -> None:
        await app.start()
        try:
            while not stop.is_set():
                await asyncio.sleep(0.1)
        finally:
            await app.stop()

    thread = threading.Thread(target=eventloop.run, args=(run(),), daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: LosingThread.lost, 60), "the record was never fetched"
        assert wait_until(lambda: LOST_OFFSET in handled, 30), (
            f"the lost record was not read again: handled {handled}, stalls {stalls}"
        )
        assert sorted(set(handled)) == list(range(RECORDS))
        assert [tp.topic for tp in stalls] == [topic], "read again once, that partition"
    finally:
        stop.set()
        thread.join(60)
