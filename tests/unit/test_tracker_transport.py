"""The tracker's fixes to faust's Kafka transport that need no broker (hub.tracker.transport)."""

from __future__ import annotations

import asyncio
import time

from aiokafka.client import AIOKafkaClient
from aiokafka.cluster import ClusterMetadata

import hub.tracker.transport  # noqa: F401  (its fixes apply to every aiokafka client)


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
