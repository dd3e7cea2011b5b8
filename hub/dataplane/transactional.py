"""Consume-transform-produce in Kafka transactions: a worker that dies at any moment
neither loses nor duplicates a record between topics.

The loop follows the pitfalls recorded in DESIGN.md: one producer per worker with a
transactional.id stable across restarts (so a restart fences and aborts its predecessor's
open transaction at once), a lowered transaction timeout, batches committed every N records
or T ms with the consumer's positions sent in the transaction, the classic group protocol
pinned, commit on revoke, abort on lost partitions; retriable errors retry,
abortable ones abort and rewind to the committed offsets, fatal ones end the worker (its
supervisor starts it again).

A commit that does not return is a fault of its own: librdkafka 2.16's
send_offsets_to_transaction can wait for good on a group coordinator whose broker left the
cluster (librdkafka#5511, #5456: its timeout is not checked). Seen here whenever the broker
that coordinates the ingest group stopped: the hop stood still, without a word. A commit
the worker has waited for well past the transaction timeout (by then the broker has aborted
the transaction anyway) raises CommitHung; the loop is abandoned and its supervisor starts
a new one, whose transactional id fences the old producer.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message

from hub.kafka import (
    CLIENT_LOGGER,
    CONSUMER_DEFAULTS,
    PRODUCER_DEFAULTS,
    client_id,
    client_security,
    is_passing,
    static_member_id,
)
from hub.metrics import LAG_SETTINGS, lag_reporter
from hub.records import Record

log = logging.getLogger(__name__)


Transform = Callable[[Message], Sequence[Record]]


class CommitHung(Exception):
    """A transaction commit that did not return: the loop cannot go on (see above)."""


class Committer:
    """Runs commits in order on one daemon thread. (A ThreadPoolExecutor's threads are
    joined when the interpreter exits: a commit hung in librdkafka would keep the process
    from ever exiting.)"""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._work, daemon=True, name="commit").start()

    def submit(self, fn: Callable, *args) -> Future:
        future: Future = Future()
        self._jobs.put((future, fn, args))
        return future

    def shutdown(self, wait: bool = True) -> None:
        stopped = self.submit(None)
        if wait:
            stopped.result()

    def _work(self) -> None:
        while True:
            future, fn, args = self._jobs.get()
            if fn is None:
                future.set_result(None)
                return
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to the worker's thread by the future
                future.set_exception(exc)


def _weakly(method: Callable[..., None]) -> Callable[..., None]:
    """A callback for the loop's own clients that does not keep the loop alive: a loop
    replaced after a hung commit is then freed as soon as it is dropped, even where the
    cyclic collector never looks (a process that froze its start-up heap, hub.memory)."""
    loop, function = weakref.ref(method.__self__), method.__func__

    def call(*args: object) -> None:
        if (alive := loop()) is not None:
            function(alive, *args)

    return call


@dataclass
class LoopStats:
    consumed: int = 0
    produced: int = 0
    transactions: int = 0
    aborted: int = 0


class TransactionalLoop:
    """Commits every ``batch_size`` records consumed or ``commit_interval_ms``, whichever
    comes first: below saturation the interval decides (a report waits at most that long
    for its commit); under a backlog, the batch. A transaction's own cost (each partition
    added to it, a marker written on each) is spread over its records: the ingest hop
    passed 10-20% more reports a second at 1,000 a transaction than at 500 (bench/README)."""

    def __init__(
        self,
        bootstrap: str,
        *,
        group_id: str,
        transactional_id: str,
        topics: Sequence[str],
        transform: Transform,
        batch_size: int = 1000,
        commit_interval_ms: int = 50,
        transaction_timeout_ms: int = 20_000,
        stage: str = "ingest",
    ) -> None:
        from confluent_kafka import Producer

        self.transform = transform
        self.batch_size = batch_size
        self.commit_interval = commit_interval_ms / 1000
        self.commit_deadline = 1.5 * transaction_timeout_ms / 1000
        self.abandoned = False  # a commit hung: nothing more is to be waited for
        self.failed = False  # a Kafka error ended run(): nothing more is to be committed
        self.closing = False  # close() was called: its revoke commits nothing (flush() does)
        self.stats = LoopStats()
        self._failures: list[str] = []  # why records of the open transaction failed
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                **PRODUCER_DEFAULTS,
                **client_security(),
                "transactional.id": transactional_id,
                "client.id": client_id(stage),
                "transaction.timeout.ms": transaction_timeout_ms,
                "linger.ms": 5,
                # librdkafka reports only the records that failed: an abort can say why
                "delivery.report.only.error": True,
                "on_delivery": _weakly(self._on_failed_delivery),
            },
            logger=CLIENT_LOGGER,
        )
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                **CONSUMER_DEFAULTS,
                **client_security(),
                "group.id": group_id,
                "group.instance.id": static_member_id(transactional_id, topics),
                "client.id": client_id(stage),
                "enable.auto.offset.store": False,
                # the broker answers a fetch as soon as one record came (its default): ~280
                # fetches a second at 300 reports/s, one a report. What is read waits for
                # the commit interval anyway, so each fetch is held for half of it: a third
                # less CPU in the hub's librdkafka threads, ~13 ms more to a 2xx (bench/README)
                "fetch.wait.max.ms": max(1, commit_interval_ms // 2),
                "fetch.min.bytes": 1 << 20,
                **LAG_SETTINGS,
                "stats_cb": lag_reporter(stage),
            },
            logger=CLIENT_LOGGER,
        )
        self._in_transaction = False
        self._pending = 0
        self._opened = 0.0
        self._committer = Committer()
        self._committing: Future[KafkaError | None] | None = None
        self.producer.init_transactions(30)
        self.assigned = threading.Event()  # set once the group gave this worker partitions
        self.consumer.subscribe(
            list(topics),
            on_assign=lambda *_, assigned=self.assigned: assigned.set(),
            on_revoke=_weakly(self._on_revoke),
            on_lost=_weakly(self._on_lost),
        )

    # -- the loop ------------------------------------------------------------------------

    def run(self, should_stop: Callable[[], bool]) -> LoopStats:
        try:
            while not should_stop():
                self.step()
            self.flush()
        except KafkaException as exc:
            # a passing error out of a step (an abort's rewind timed out while the broker
            # restarted) leaves the transaction's state unknown: the loop is replaced
            # (hub.dataplane.route), and does not wait on a broker that is away to close
            self.abandoned = is_passing(exc)
            # nothing of a loop a Kafka error ended is committed on its close's revoke: a
            # fenced worker's commit (another process under its name) would wait out its
            # deadline and be taken for a hung one
            self.failed = True
            raise
        finally:
            self.close()
        return self.stats

    def close(self) -> None:
        """Leave the group and stop the commit thread (what is open is not committed:
        call flush() first to commit it). An abandoned loop does not wait for its hung
        commit, and gives its consumer 30 s to leave the group."""
        # the consumer's close serves its revoke, whose commit would wait for good on the
        # commit thread stopped here
        self.closing = True
        self._committer.shutdown(wait=not self.abandoned)
        if not self.abandoned:
            self.consumer.close()
            return
        leaving = threading.Thread(target=self.consumer.close, daemon=True)
        leaving.start()
        leaving.join(30)

    def step(self, timeout: float | None = None) -> int:
        """Consume one batch (or wait up to the commit interval) and commit when due.

        A commit runs in the background while the next batch is consumed and transformed
        (a commit waits on the broker for tens of ms: in line it would take as long as the
        transform itself); that batch's records are produced only once the commit is done,
        into the next transaction, and dropped if the commit had to be aborted (the rewind
        reads them again)."""
        messages = self.consumer.consume(self.batch_size, timeout or self.commit_interval)
        batch: list[Sequence[Record]] = []
        for msg in messages:
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                # a passing one replaces the loop (hub.dataplane.route): among them the
                # failed committed-offsets fetch after which librdkafka never fetches some
                # partitions (hub.kafka.consume); the new loop's consumer starts them
                raise KafkaException(error)
            batch.append(self.transform(msg))
        if not self._settle():
            return 0  # the transaction before was aborted: this batch is read again
        for records in batch:
            self._begin()
            for record in records:
                self._produce(record)
            self._pending += 1
        self.stats.consumed += len(batch)
        due = time.monotonic() - self._opened >= self.commit_interval
        if self._in_transaction and (self._pending >= self.batch_size or due):
            self._start_commit()
        return len(batch)

    def flush(self) -> None:
        """Wait for the commit under way, and commit what is still open."""
        if self._settle() and self._in_transaction:
            self._start_commit()
            self._settle()

    def _begin(self) -> None:
        if not self._in_transaction:
            self.producer.begin_transaction()
            self._in_transaction, self._pending, self._opened = True, 0, time.monotonic()

    def _produce(self, record: Record) -> None:
        while True:
            try:
                self.producer.produce(
                    record.topic, key=record.key, value=record.value, headers=record.headers
                )
                self.stats.produced += 1
                return
            except BufferError:
                self.producer.poll(0.05)

    def _start_commit(self) -> None:
        # the positions are read here, in the consumer's own thread, while every record
        # consumed so far has its records in this transaction
        positions = self.consumer.position(self.consumer.assignment())
        metadata = self.consumer.consumer_group_metadata()
        self._committing = self._committer.submit(self._commit, positions, metadata)

    def _settle(self) -> bool:
        """Wait for the commit under way; False if it had to be aborted (and was rewound)."""
        committing, self._committing = self._committing, None
        if committing is None:
            return True
        try:  # a fatal error is raised here, in the worker's thread
            error = committing.result(timeout=self.commit_deadline)
        except TimeoutError:
            self.abandoned = True
            raise CommitHung(
                f"a transaction commit has not returned in {self.commit_deadline:.0f} s "
                "(librdkafka#5511: its group coordinator's broker left the cluster)"
            ) from None
        if error is None:
            self.stats.transactions += 1
            self._in_transaction = False
            return True
        self._abort_and_rewind(error)
        return False

    def _commit(self, positions: list, metadata) -> KafkaError | None:
        """Commit the open transaction; the error if it must be aborted instead."""
        attempt = 0
        while True:
            try:
                self.producer.send_offsets_to_transaction(positions, metadata, 30)
                self.producer.commit_transaction(30)
                return None
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                attempt += 1
                if error.retriable() and attempt < 10:
                    log.warning(
                        "committing a transaction: %s (attempt %d); retrying", error, attempt
                    )
                    time.sleep(0.1 * attempt)
                    continue
                if error.txn_requires_abort():
                    return error
                raise  # fatal (fenced, or an EndTxn timeout librdkafka cannot resolve)

    def _on_failed_delivery(self, error: KafkaError, msg: Message) -> None:
        if len(self._failures) < 1000:  # enough to say why; a broken broker fails them all
            self._failures.append(f"{msg.topic()}: {error.str()}")

    def _abort_and_rewind(self, error: KafkaError | None = None) -> None:
        self.producer.poll(0)  # the failed records' reports, if not served yet
        why = ", ".join(f"{n} x {w}" for w, n in Counter(self._failures).most_common(3))
        log.warning(
            "aborting a transaction (%s)%s; rewinding to committed offsets",
            error,
            f"; records failed: {why}" if why else "",
        )
        self.producer.abort_transaction(30)
        self._failures.clear()
        self.stats.aborted += 1
        self._in_transaction = False
        assignment = self.consumer.assignment()
        if not assignment:
            return
        for partition in self.consumer.committed(assignment, timeout=30):
            if partition.offset < 0:
                partition.offset = OFFSET_BEGINNING
            self.consumer.seek(partition)

    # -- rebalances ----------------------------------------------------------------------

    def _on_revoke(self, consumer: Consumer, partitions: list) -> None:
        if not (self.abandoned or self.failed or self.closing):
            self.flush()  # offsets of partitions about to move go with their records

    def _on_lost(self, consumer: Consumer, partitions: list) -> None:
        if self.abandoned:
            return
        try:
            self._settle()
        except KafkaException as exc:  # the partitions are gone: so is what was committing
            log.warning("a commit failed as the partitions were lost: %s", exc)
        if self._in_transaction:
            self._abort_and_rewind()
