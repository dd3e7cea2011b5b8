"""The reports as the console shows them: a summary of each report the tracker keeps, held
in memory and kept current from the tracker table's changelog (hub.console.follow).

A page is answered from these summaries and their indexes (by source id, by agency, each
agency's tallies), never by reading a topic: the tallies change as each state comes in, so
the SLA page costs the same with a hundred reports or a million. A summary keeps what lists
and tallies need, not the state itself; a report's page reads its one state record back
from the changelog by its offset (``ReportsView.state_of``), which compaction always keeps.
"""

from __future__ import annotations

import base64
import heapq
import json
import queue
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Message, TopicPartition
from sortedcontainers import SortedList

from hub import topics
from hub.kafka import make_consumer
from hub.tracker.lifecycle import FINISHED, HANDLER, OPEN

CLOCKS = ("verification", "follow_up", "completion", "auto_close")
READERS = 4  # report pages reading their state at once


@dataclass(frozen=True, slots=True)
class Deadline:
    due: int  # epoch ms
    hub_id: str
    agency: str
    clock: str


@dataclass(frozen=True, slots=True)
class Summary:
    """One report, as lists and tallies need it."""

    hub_id: str
    origin: str | None  # the connector it came in through
    source_id: str | None
    title: str
    kind: str
    received_at: int | None  # epoch ms
    region_code: str | None
    open: bool
    awaiting_designation: bool
    agencies: tuple[tuple[str, str, str | None, bool], ...]  # agency, role, status, escalated
    overdue: tuple[tuple[str, str], ...]  # (agency, clock) overdue and running
    deadlines: tuple[Deadline, ...]  # running clocks with a deadline
    partition: int
    offset: int

    def concerns(self, agency: str, origin_agency: str | None) -> bool:
        """Whether an agency's operator may see it: sent to that agency, in any role, or
        filed through that agency's app."""
        return origin_agency == agency or any(a == agency for a, *_ in self.agencies)

    def tally(self) -> Iterable[tuple[str, str]]:
        """(agency, what) for each count this report adds to the SLA page."""
        for agency, role, status, escalated in self.agencies:
            if role == HANDLER and status not in FINISHED and self.open:
                yield agency, "open"
            if escalated:
                yield agency, "escalated"
        for agency, clock in self.overdue:
            yield agency, f"overdue:{clock}"


def summarise(state: dict[str, Any], partition: int, offset: int, title: str, kind: str) -> Summary:
    agencies, overdue, deadlines = [], [], []
    for agency, entry in state.get("agencies", {}).items():
        agencies.append(
            (agency, entry.get("role", ""), entry.get("status"), bool(entry.get("escalated")))
        )
        for name, clock in entry.get("clocks", {}).items():
            if clock.get("stopped") is not None:
                continue
            if clock.get("overdue"):
                overdue.append((agency, name))
            elif clock.get("due") is not None:
                deadlines.append(Deadline(clock["due"], state["hub_id"], agency, name))
    return Summary(
        hub_id=state["hub_id"],
        origin=state.get("origin"),
        source_id=state.get("source_id"),
        title=title,
        kind=kind,
        received_at=state.get("received_at"),
        region_code=state.get("region_code"),
        open=state.get("state") == OPEN,
        awaiting_designation=bool(state.get("awaiting_designation")),
        agencies=tuple(agencies),
        overdue=tuple(overdue),
        deadlines=tuple(deadlines),
        partition=partition,
        offset=offset,
    )


class ReportsView:
    """Every tracked report's summary, indexed; fed one changelog record at a time.

    ``decode``: a report's encoded form (as the tracker keeps it) -> the Report; the title
    and kind are taken from the first state that holds it."""

    def __init__(self, bootstrap: str, group_prefix: str, decode: Callable[[bytes], dict]):
        self.bootstrap = bootstrap
        self.topic = topics.tracker_changelog(group_prefix)
        self.decode = decode
        self._lock = threading.Lock()
        self.summaries: dict[str, Summary] = {}
        self.by_source: dict[str, set[str]] = defaultdict(set)
        self.by_agency: dict[str, set[str]] = defaultdict(set)
        self.by_origin: dict[str, set[str]] = defaultdict(set)
        self.tallies: dict[str, Counter[str]] = defaultdict(Counter)
        # (due, hub id, agency, clock) of running clocks with a deadline, soonest first
        self.deadlines: SortedList = SortedList()
        # (received, hub id, agency, clock) of clocks the tracker marked overdue, oldest first
        self.late: SortedList = SortedList()
        # consumers fetching one state by its offset, made when first needed
        self._readers: queue.Queue = queue.Queue()
        for _ in range(READERS):
            self._readers.put(None)

    # -- fed by the follower -------------------------------------------------------------

    def take(self, msg: Message) -> None:
        hub_id = (msg.key() or b"").decode("utf-8", "replace")
        value = msg.value()
        state = json.loads(value) if value else None
        with self._lock:
            before = self.summaries.get(hub_id)
        if state is None:
            self._put(hub_id, None)
            return
        if before is not None and before.origin is not None:  # set with the report
            title, kind = before.title, before.kind
        else:  # a status can be tracked before the report's routing decision brings it
            title, kind = self._title_of(state)
        self._put(hub_id, summarise(state, msg.partition(), msg.offset(), title, kind))

    def _title_of(self, state: dict[str, Any]) -> tuple[str, str]:
        if not state.get("report"):
            return "", ""
        try:
            report = self.decode(base64.b64decode(state["report"]))
        except Exception:  # shown without its title rather than not at all
            return "(report not readable)", ""
        return report.get("title") or "", str(report.get("kind") or "")

    def _put(self, hub_id: str, summary: Summary | None) -> None:
        with self._lock:
            before = self.summaries.pop(hub_id, None)
            if before is not None:
                self._index(before, -1)
            if summary is not None:
                self.summaries[hub_id] = summary
                self._index(summary, +1)

    def _index(self, summary: Summary, sign: int) -> None:
        keyed = (
            (self.by_source, summary.source_id),
            (self.by_origin, summary.origin),
            *((self.by_agency, agency) for agency, *_ in summary.agencies),
        )
        for index, key in keyed:
            if key is None:
                continue
            if sign > 0:
                index[key].add(summary.hub_id)
            else:
                index[key].discard(summary.hub_id)
                if not index[key]:
                    del index[key]
        for agency, what in summary.tally():
            counts = self.tallies[agency]
            counts[what] += sign
            if not counts[what]:
                del counts[what]
                if not counts:
                    del self.tallies[agency]
        if summary.open:
            change = self.deadlines.add if sign > 0 else self.deadlines.remove
            for d in summary.deadlines:
                change((d.due, d.hub_id, d.agency, d.clock))
        change = self.late.add if sign > 0 else self.late.remove
        for agency, clock in summary.overdue:
            change((summary.received_at or 0, summary.hub_id, agency, clock))

    # -- read by the pages ---------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.summaries)

    def get(self, hub_id: str) -> Summary | None:
        return self.summaries.get(hub_id)

    def search(self, text: str, limit: int = 50) -> list[Summary]:
        """By hub id, by the origin app's id, or by agency id (its newest reports)."""
        text = text.strip()
        with self._lock:
            if text in self.summaries:
                return [self.summaries[text]]
            ids = set(self.by_source.get(text, ())) | set(self.by_agency.get(text, ()))
            found = [self.summaries[i] for i in ids if i in self.summaries]
        return heapq.nlargest(limit, found, key=lambda s: s.received_at or 0)

    def sla_rows(self, agencies: Iterable[str] | None = None) -> dict[str, Counter[str]]:
        with self._lock:
            chosen = self.tallies.keys() if agencies is None else agencies
            return {a: Counter(self.tallies[a]) for a in chosen if a in self.tallies}

    def nearest_deadlines(
        self, keep: Callable[[str], bool] | None = None, limit: int = 20
    ) -> list[Deadline]:
        """Running clocks of open reports whose deadline is still ahead, nearest first."""
        now = int(time.time() * 1000)
        found: list[Deadline] = []
        with self._lock:
            start = self.deadlines.bisect_left((now,))
            for due, hub_id, agency, clock in self.deadlines.islice(start):
                if keep is None or keep(agency):
                    found.append(Deadline(due, hub_id, agency, clock))
                    if len(found) >= limit:
                        break
        return found

    def overdue_reports(
        self, keep: Callable[[str], bool] | None = None, limit: int = 50
    ) -> list[tuple[Summary, str, str]]:
        """(report, agency, clock) of running clocks past their deadline, oldest report
        first: those the tracker marked overdue, and those whose deadline passed since its
        last tick."""
        now = int(time.time() * 1000)
        late: list[tuple[int, str, str, str]] = []
        with self._lock:
            for received, hub_id, agency, clock in self.late:
                if keep is None or keep(agency):
                    late.append((received, hub_id, agency, clock))
                    if len(late) >= limit:
                        break
            end = self.deadlines.bisect_left((now,))
            for _due, hub_id, agency, clock in self.deadlines.islice(0, end):
                if keep is None or keep(agency):
                    received = self.summaries[hub_id].received_at or 0
                    late.append((received, hub_id, agency, clock))
            late.sort()
            return [
                (self.summaries[hub_id], agency, clock)
                for _received, hub_id, agency, clock in late[:limit]
            ]

    def awaiting(self) -> int:
        with self._lock:
            return sum(1 for s in self.summaries.values() if s.awaiting_designation and s.open)

    def state_of(self, summary: Summary, timeout: float = 3.0) -> dict[str, Any] | None:
        """The report's whole state, read back from the changelog at its offset: the first
        record of its key from there (compaction may have removed that offset for a newer
        one, never the key's last record). None if it cannot be read in ``timeout`` or no
        reader is free (a page is refused, not queued behind a flood of them)."""
        try:
            reader = self._readers.get(timeout=timeout)
        except queue.Empty:
            return None
        try:
            if reader is None:
                reader = make_consumer(
                    self.bootstrap,
                    f"{topics.READER_GROUP}-console-state-{uuid.uuid4().hex[:8]}",
                    # a fetch left waiting at a partition's end would hold the next seek for
                    # fetch.wait.max.ms (500 ms by default): the reader never waits long
                    fetch_wait_max_ms=10,
                    # it wants one record (a state is under 1 MiB): no read-ahead of 64 MiB
                    fetch_max_bytes=1_048_576,
                    max_partition_fetch_bytes=1_048_576,
                    queued_max_messages_kbytes=1024,
                )
            key = summary.hub_id.encode()
            reader.assign([TopicPartition(self.topic, summary.partition, summary.offset)])
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                msg = reader.poll(0.2)
                if msg is None or msg.error() or msg.offset() < summary.offset:
                    continue
                if msg.key() == key:
                    return json.loads(msg.value()) if msg.value() else None
            return None
        finally:
            self._readers.put(reader)

    def close(self) -> None:
        while True:
            try:
                reader = self._readers.get_nowait()
            except queue.Empty:
                return
            if reader is not None:
                reader.close()
