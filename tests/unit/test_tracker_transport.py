"""The tracker's fixes to faust's Kafka transport that need no broker (hub.tracker.transport)."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import faust
from aiokafka.client import AIOKafkaClient
from aiokafka.cluster import ClusterMetadata
from faust.transport.producer import ProducerBuffer

from hub.tracker.transport import DrainingBuffer  # its fixes apply to every aiokafka client


def test_a_failed_metadata_update_pauses_before_it_returns() -> None:
    """fix 6: while no broker answers, aiokafka's fetcher and its metadata updates woke each
    other at once, ~7,500 failed connects a second per tracker."""

    async def update() -> tuple[bool, float]:
        client = AIOKafkaClient(bootstrap_servers="127.0.0.1:9", retry_backoff_ms=200)
        started = time.monotonic()
        updated = await client._metadata_update(ClusterMetadata(), [])  # no broker known
        return updated, time.monotonic() - started

    updated, took = asyncio.run(update())
    assert updated is False
    assert took >= 0.19, "the next update waits for the client's retry backoff"


class SlowChannel:
    """Where a buffered message goes: like aiokafka's send while it waits for metadata (a
    broker just restarted), each takes a while to leave."""

    def __init__(self) -> None:
        self.published: list[int] = []

    async def publish_message(self, fut: SimpleNamespace, wait: bool = False) -> None:
        await asyncio.sleep(0.3)
        self.published.append(fut.number)


def test_a_flush_waits_until_the_buffer_has_sent_every_table_write() -> None:
    """fix 7: faust's flush gave up on its buffer once nothing left it for 0.1 s, and the
    consumer then committed offsets whose table changes had not reached the changelog."""

    async def flush(buffer_class) -> tuple[list[int], list[int]]:
        buffer = buffer_class()
        buffer.app = faust.App("flush-test")
        channel = SlowChannel()
        await buffer.start()
        try:
            for number in range(3):
                buffer.put(SimpleNamespace(number=number, message=SimpleNamespace(channel=channel)))
            if isinstance(buffer, DrainingBuffer):
                await buffer.drain()
            else:
                await buffer.flush()
            flushed = list(channel.published)
            await asyncio.sleep(1.0)  # what was left is sent in the end
            return flushed, channel.published
        finally:
            await buffer.stop()

    flushed, sent = asyncio.run(flush(ProducerBuffer))
    assert flushed != sent == [0, 1, 2], "faust's own flush returns before its buffer is sent"
    flushed, sent = asyncio.run(flush(DrainingBuffer))
    assert flushed == sent == [0, 1, 2]


def test_the_keyed_partitioner_places_a_key_where_every_other_client_does() -> None:
    """It only keeps each key's hash: a hub id must land on the partition the hub's own
    producers (librdkafka's murmur2_random, hub.kafka.partition_of) and aiokafka give it."""
    import os

    from aiokafka.partitioner import DefaultPartitioner

    from hub.kafka import partition_of
    from hub.tracker.transport import KeyedPartitioner

    keyed, default = KeyedPartitioner(keys=16), DefaultPartitioner()
    keys = [os.urandom(n % 40) for n in range(500)] + [b"5b1f4a43-4c41-504f-5221-4855422d4944"]
    for partitions in ([0, 1, 2], list(range(12))):
        for key in keys * 2:  # the second time from its kept hash (or evicted: 16 kept)
            placed = keyed(key, partitions, partitions)
            assert placed == default(key, partitions, partitions)
            assert placed == partition_of(key, len(partitions))
    assert keyed(None, [0, 1, 2], [1]) == 1, "no key: one of the available partitions"
    long_key = b"x" * 100_000  # placed as every client places it, and not kept
    before = keyed._hash.cache_info()
    assert keyed(long_key, [0, 1, 2], [0, 1, 2]) == partition_of(long_key, 3)
    assert keyed._hash.cache_info() == before, "a key longer than a hub id is not kept"
