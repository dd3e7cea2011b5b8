"""Topics followed from their start into the console's memory, by one thread.

The console answers every page from memory (hub.console.view): a page never scans a topic.
This thread reads each topic it is given from its first record and then follows it; topics
made later (a dead-letter topic's first letter) are picked up when the topic list is read
again. ``caught_up`` is set once every partition known at start was read to the end it had
then: until then, a page says the console is still reading.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, Message, TopicPartition

from hub.kafka import make_consumer, watermarks
from hub.topics import READER_GROUP

log = logging.getLogger(__name__)

Handler = Callable[[Message], None]
RELIST_SECONDS = 5.0


class Follower:
    """``routes``: topic name -> handler, or a prefix ending in "." -> handler for every
    topic under it."""

    def __init__(self, bootstrap: str, routes: dict[str, Handler]) -> None:
        self.bootstrap = bootstrap
        self.routes = routes
        self.caught_up = threading.Event()
        self.error: str | None = None  # why following stopped moving, while it does
        self._stop = threading.Event()
        self._assigned: set[tuple[str, int]] = set()
        self._ends: dict[tuple[str, int], int] = {}  # what "caught up" waits for
        self._thread = threading.Thread(target=self._run, daemon=True, name="console-follow")

    def start(self) -> Follower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def handler_of(self, topic: str) -> Handler | None:
        if topic in self.routes:
            return self.routes[topic]
        for prefix, handler in self.routes.items():
            if prefix.endswith(".") and topic.startswith(prefix):
                return handler
        return None

    def _run(self) -> None:
        consumer = make_consumer(self.bootstrap, f"{READER_GROUP}-console-{uuid.uuid4().hex[:8]}")
        listed_at = 0.0
        try:
            while not self._stop.is_set():
                if time.monotonic() - listed_at > RELIST_SECONDS:
                    self._assign_new(consumer, first=listed_at == 0.0)
                    listed_at = time.monotonic()
                for msg in consumer.consume(1000, 0.5):
                    error = msg.error()
                    if error is not None:
                        if error.code() != KafkaError._PARTITION_EOF:
                            self.error = error.str()
                        continue
                    handler = self.handler_of(msg.topic())
                    if handler is None:
                        continue
                    try:
                        handler(msg)
                    except Exception:  # one bad record must not stop the console's view
                        log.exception(
                            "console: record %s:%s@%s not understood; skipped",
                            msg.topic(),
                            msg.partition(),
                            msg.offset(),
                        )
                self._check_caught_up(consumer)
        except KafkaException as exc:
            self.error = exc.args[0].str()
            log.error("console: following the hub's topics stopped: %s", self.error)
        finally:
            consumer.close()

    def _assign_new(self, consumer, first: bool) -> None:
        try:
            listed = consumer.list_topics(timeout=10).topics
        except KafkaException as exc:
            self.error = f"the broker's topic list could not be read: {exc.args[0].str()}"
            return
        fresh = []
        for topic, metadata in sorted(listed.items()):
            if metadata.error is not None or self.handler_of(topic) is None:
                continue
            for number in metadata.partitions:
                if (topic, number) in self._assigned:
                    continue
                self._assigned.add((topic, number))
                fresh.append(TopicPartition(topic, number, OFFSET_BEGINNING))
                if first:
                    _low, high = watermarks(consumer, TopicPartition(topic, number), 10)
                    if high > 0:
                        self._ends[topic, number] = high
        if fresh:
            consumer.incremental_assign(fresh)
        self.error = None

    def _check_caught_up(self, consumer) -> None:
        if self.caught_up.is_set():
            return
        if self._ends:
            positions = consumer.position([TopicPartition(t, p) for t, p in self._ends])
            for position in positions:
                if position.offset >= self._ends[position.topic, position.partition]:
                    self._ends.pop((position.topic, position.partition))
        if not self._ends:
            self.caught_up.set()
