"""Records the tracker's agent passed over, found and read again at the next tick.

faust-streaming can still lose a record between its fetch and the agent (the whole-hub kill
test lost a status in ~1 of 40 runs after transport fixes 1-3; the drop path inside faust
was not pinned down). A lost record that later records follow is committed past, as faust
commits past a transaction marker's offset; a partition's last record lost leaves the
partition standing on it. Neither can be told from the group's committed offsets, and
seeking a faust consumer back has hurt before (transport fix 4, reverted).

So the tracker remembers, per stream partition, the next offset it expects its agent to
handle: the committed offset after each seek, then one past each record handled. A record
handled past it leaves a gap; a partition whose agent handled nothing for 5 s while its end
stood past that offset leaves one at its tail. At each tick of a partition the
tracker reads that partition's gaps with a plain read_committed consumer: transaction
markers and aborted records read as nothing, and any record the table does not show applied
is applied then (tracker.app).

Until a tick has read a gap, the group's commits stop short of it (``commit_limits``,
applied by hub.tracker.transport): faust would commit past it, and a tracker killed before
that tick, or whose partition went to another tracker, would leave the gap to nobody (a CI
run of the single-broker restart test fits this: 572 statuses whose records the group had
committed but no table showed). So the next owner reads it again from the committed offset.
Commits trail by about a tick, since every transaction marker is such a gap; reading a
record twice changes nothing.

A first record handled with no seek seen before it (so no known start) is placed at the
next tick from the group's committed offset, which is not moved meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from hub.kafka import watermarks

log = logging.getLogger(__name__)
SETTLE_SECONDS = 5.0  # a tail untouched this long was lost, not slow
TP = tuple[str, int]  # topic, partition (faust's TP is a NamedTuple of the same two)
Ranges = dict[TP, list[tuple[int, int]]]  # [start, end) offsets


class Gaps:
    """Where the agent skipped offsets, per stream partition (thread-safe: seeks are
    reported from faust's consumer thread), and how far the group may commit meanwhile."""

    def __init__(
        self,
        topics: Iterable[str],
        settle_seconds: float = SETTLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topics = set(topics)
        self.settle_seconds = settle_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._expected: dict[TP, int] = {}
        self._pending: defaultdict[TP, list[tuple[int, int]]] = defaultdict(list)
        self._reading: dict[TP, list[tuple[int, int]]] = {}  # handed to a tick, not done
        self._first_unplaced: dict[TP, int] = {}  # first record handled with no start known
        self._handled_since: set[TP] = set()  # partitions handled since their last look
        self._standing: dict[TP, tuple[int, float]] = {}  # end offset seen, and since when

    def sought(self, tp: TP, offset: int) -> None:
        """The consumer was sought to ``offset`` (a committed offset): read from there."""
        if tp[0] in self.topics:
            with self._lock:
                self._expected[tuple(tp)] = offset
                self._first_unplaced.pop(tuple(tp), None)  # read again from there

    def unknown(self, tps: Iterable[TP]) -> list[TP]:
        """Of these partitions, those whose start this process does not know: no seek to
        the committed offsets was seen since they were assigned."""
        with self._lock:
            return [
                tuple(tp)
                for tp in tps
                if tp[0] in self.topics and (tp not in self._expected or tp in self._first_unplaced)
            ]

    def start_at(self, tp: TP, offset: int) -> None:
        """The group's committed offset of a partition whose start was unknown: the agent
        should have handled everything from there."""
        tp = tuple(tp)
        with self._lock:
            first = self._first_unplaced.pop(tp, None)
            if first is not None and offset < first:
                self._pending[tp].append((offset, first))
            self._expected.setdefault(tp, offset)

    def handled(self, tp: TP, offset: int) -> None:
        if tp[0] not in self.topics:
            return
        tp = tuple(tp)
        with self._lock:
            expected = self._expected.get(tp)
            if expected is None:
                self._first_unplaced[tp] = offset  # what came before it: see start_at
            elif offset < expected:
                return  # read again after a seek back: nothing new
            elif offset > expected:
                self._pending[tp].append((expected, offset))
            self._expected[tp] = offset + 1
            self._handled_since.add(tp)

    def revoked(self, tps: Iterable[TP]) -> None:
        with self._lock:
            for tp in map(tuple, tps):
                self._expected.pop(tp, None)
                self._first_unplaced.pop(tp, None)
                self._reading.pop(tp, None)
                unread = self._pending.pop(tp, None)
                if unread:
                    log.warning(
                        "%s[%d] was revoked with offsets its agent passed over not read yet "
                        "(%s): its next owner reads them from the group's committed offset",
                        tp[0],
                        tp[1],
                        ", ".join(f"{start}-{end - 1}" for start, end in unread[:5]),
                    )
                self._standing.pop(tp, None)
                self._handled_since.discard(tp)

    def commit_limits(self, offsets: Mapping[Any, int]) -> dict[Any, int]:
        """Of the offsets faust means to commit, what may be committed: never past an
        offset the agent passed over and no tick has read yet, and nothing for a partition
        whose start is not known. faust commits past records its fetch skipped (it takes
        them for transaction markers) and past a first record's predecessors; committed,
        they would be read by nobody if the partition went to another process first."""
        allowed = {}
        with self._lock:
            for tp, offset in offsets.items():
                key = tuple(tp)
                if key[0] not in self.topics:
                    allowed[tp] = offset
                    continue
                if key in self._first_unplaced:
                    continue
                unread = [*self._pending.get(key, ()), *self._reading.get(key, ())]
                limit = min((start for start, _ in unread), default=offset)
                allowed[tp] = min(offset, limit)
        return allowed

    def due(self, ends: dict[TP, int]) -> Ranges:
        """The gaps to read for these partitions (their end offsets given): the gaps left
        behind handled records, and a tail the agent has not touched for settle_seconds
        although it was there all that time. Call ``again`` with what could not be read and
        ``finished`` once done: until then they hold the group's commits back.

        (Time, not ticks: a restarted tracker handles a backlog of ticks back to back, and
        its stream may take a second or two to deliver its first records.)"""
        due: Ranges = {}
        now = self.clock()
        with self._lock:
            for tp, end in ends.items():
                ranges = self._pending.pop(tp, [])
                expected = self._expected.get(tp)
                standing = self._standing.get(tp)
                if tp in self._handled_since or standing is None or expected is None:
                    self._standing[tp] = (end, now)
                elif standing[0] <= expected:
                    self._standing[tp] = (end, now)  # nothing was waiting: look from now
                elif now - standing[1] >= self.settle_seconds:
                    ranges.append((expected, standing[0]))  # never handled: lost
                    self._expected[tp] = standing[0]
                    self._standing[tp] = (end, now)
                self._handled_since.discard(tp)
                if ranges:
                    due[tp] = ranges
                    self._reading[tp] = list(ranges)
        return due

    def again(self, ranges: Ranges) -> None:
        """Gaps that could not be read: read them at the next tick."""
        with self._lock:
            for tp, spans in ranges.items():
                if tp in self._expected:  # still this process's
                    self._pending[tp].extend(spans)

    def finished(self, ranges: Ranges) -> None:
        """A tick is done with these gaps (read, or given back with ``again``)."""
        with self._lock:
            for tp in ranges:
                self._reading.pop(tp, None)


class GapReader:
    """Reads offset ranges of a few partitions with a consumer of its own, in the tracker's
    group (for its committed offsets; it never joins the group, nor commits).

    A consumer that cannot learn a partition's end at three ticks running is replaced: after
    its only broker restarted, a tracker's agent stood still on a partition for minutes and
    no tick read it again, and the stacks then showed its reader inside watermarks (the log
    said nothing more: its failures were not logged then)."""

    def __init__(self, make_consumer: Callable[[], Consumer], replace_after: int = 3) -> None:
        self.make_consumer = make_consumer
        self.consumer = make_consumer()
        self.replace_after = replace_after
        self.failed_ticks = 0

    def ends(self, tps: Iterable[TP], timeout: float = 1.0) -> dict[TP, int]:
        """The partitions' end offsets; those it cannot learn now (no leader, the broker
        away) are left for a later tick. Within ``timeout`` in all: a tick holds up the
        agent."""
        found, failed = {}, None
        deadline = time.monotonic() + timeout
        for topic, partition in tps:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                _, high = watermarks(self.consumer, TopicPartition(topic, partition), left)
            except Exception as exc:  # KafkaException; a tick must not wait on a broker
                failed = f"{topic}[{partition}]: {exc}"
                continue
            found[(topic, partition)] = high
        self._note(failed)
        return found

    def committed(self, tps: Iterable[TP], timeout: float = 1.0) -> dict[TP, int]:
        """The tracker group's committed offsets (0 where it has none)."""
        asked = [TopicPartition(topic, partition) for topic, partition in tps]
        try:
            offsets = self.consumer.committed(asked, timeout=timeout)
        except Exception as exc:  # KafkaException: asked again at a later tick
            log.warning("could not read the tracker's committed offsets: %s", exc)
            return {}
        return {(tp.topic, tp.partition): max(tp.offset, 0) for tp in offsets}

    def _note(self, failed: str | None) -> None:
        if failed is None:
            self.failed_ticks = 0
            return
        self.failed_ticks += 1
        log.warning("the tracker's reader could not learn where %s", failed)
        if self.failed_ticks >= self.replace_after:
            log.warning(
                "the tracker's reader failed %d ticks running: a new one takes over",
                self.failed_ticks,
            )
            old, self.consumer, self.failed_ticks = self.consumer, self.make_consumer(), 0
            threading.Thread(target=old.close, daemon=True).start()  # it may hang

    def close(self) -> None:
        self.consumer.close()

    def read(
        self, ranges: Ranges, timeout: float = 10.0, limit: int = 2000
    ) -> tuple[list[Message], Ranges]:
        """The records inside ``ranges`` (up to ``limit``, so that a tick stays short), and
        what of the ranges is still to read: past the limit, or not reached in time."""
        if not ranges:
            return [], {}
        ends = {tp: max(end for _, end in spans) for tp, spans in ranges.items()}
        reached = {tp: min(start for start, _ in spans) for tp, spans in ranges.items()}
        self.consumer.assign([TopicPartition(t, p, reached[t, p]) for t, p in ranges])
        found: list[Message] = []
        deadline = time.monotonic() + timeout
        try:
            while ends and len(found) < limit and time.monotonic() < deadline:
                for msg in self.consumer.consume(min(500, limit - len(found)), 0.2):
                    if msg.error():
                        if msg.error().code() != KafkaError._PARTITION_EOF:
                            raise RuntimeError(msg.error().str())
                        continue
                    tp, offset = (msg.topic(), msg.partition()), msg.offset()
                    reached[tp] = max(reached[tp], offset + 1)
                    if any(start <= offset < end for start, end in ranges.get(tp, ())):
                        found.append(msg)
                # done by position: a marker or an aborted record is never delivered
                for position in self.consumer.position(
                    [TopicPartition(topic, partition) for topic, partition in ends]
                ):
                    tp = (position.topic, position.partition)
                    if position.offset >= 0 and position.offset >= ends[tp]:
                        del ends[tp]
        finally:
            self.consumer.unassign()
        rest = {
            tp: [(max(start, reached[tp]), end) for start, end in ranges[tp] if end > reached[tp]]
            for tp in ends
        }
        return found, rest
