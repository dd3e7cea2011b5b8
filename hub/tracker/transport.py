"""faust's Kafka transport with two fixes, so that a rebalance never skips records.

faust-streaming 0.15 (issues #216, #221, #236 are the family) can commit past records no
agent handled when a rebalance gives a process back partitions it had:

1. A fetch that started before the rebalance and returns after it is taken as the new
   generation's: its records (read at the old position, ahead of the committed offset)
   make faust mark everything between the committed offset and them as a gap, commit past
   it, and drop those records when they are read again. Under the whole-hub fault test
   this lost runs of ~60 consecutive routing decisions, whose statuses then never reached
   the origin app. Here such a fetch is thrown away and the partitions are sought to their
   committed offsets again, so whatever it held is read again.
2. Events a stream skips during a rebalance are acked while skipped, and their offsets can
   be committed. Here only a message the agent marked as handled is acked.

Reading a record again is safe: the tracker's transitions are idempotent.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver
from faust.types import TP, Message

log = logging.getLogger(__name__)


class ConsumerThread(driver.AIOKafkaConsumerThread):
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


class Consumer(driver.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handled: weakref.WeakSet[Message] = weakref.WeakSet()

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def ack(self, message: Message) -> bool:
        if message not in self.handled:  # skipped by the stream: not done (fix 2)
            message.acked = True
            return False
        self.handled.discard(message)
        return super().ack(message)


class Transport(driver.Transport):
    Consumer = Consumer


class App(faust.App):
    """A faust App whose consumer commits only what its agent handled."""

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)

    def handled(self, message: Message) -> None:
        """Call when the agent is done with ``message``: its offset may now be committed."""
        self.consumer.handled.add(message)
