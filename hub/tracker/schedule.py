"""Which reports a tick must look at, and the per-agency gauges, without reading every
report at every tick.

A tick used to read every state of the table, for every partition, every few seconds: at
national scale (millions of open reports) that is most of the tracker's work, and nearly
all of it finds nothing due. The schedule keeps, per report, when its next running clock
falls due, whether clocks wait for holiday data, and what it adds to the gauges (open and
overdue agencies, awaiting designation); it changes as each state is written, so a tick
reads only the reports that are due. faust can change the table without the tracker's
writes (a recovery, the recovery checks): the schedule is rebuilt from the whole table
when its size disagrees and every REBUILD_SECONDS in any case.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hub.kafka import partition_of
from hub.tracker import lifecycle

REBUILD_SECONDS = 120.0

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Standing:
    """One report's part in the ticks and the gauges."""

    partition: int
    next_due: int | None  # epoch ms when its first running clock falls due
    waiting: int  # running clocks waiting for holiday data
    opened: tuple[str, ...]
    overdue: tuple[str, ...]
    awaiting: bool


def standing_of(state: dict[str, Any], partition: int) -> Standing:
    dues = [
        clock["due"]
        for entry in state["agencies"].values()
        for clock in entry["clocks"].values()
        if clock.get("stopped") is None
        and clock.get("paused_at") is None
        and not clock.get("overdue")
        and clock.get("due") is not None
    ]
    open_ = state["state"] == lifecycle.OPEN
    return Standing(
        partition=partition,
        next_due=min(dues) if dues else None,
        waiting=lifecycle.waiting_clocks(state),
        opened=tuple(lifecycle.open_agencies(state)) if open_ else (),
        overdue=tuple(lifecycle.overdue_agencies(state)) if open_ else (),
        awaiting=lifecycle.awaiting_designation(state) if open_ else False,
    )


@dataclass
class Gauges:
    opened: Counter[str] = field(default_factory=Counter)
    overdue: Counter[str] = field(default_factory=Counter)
    awaiting: int = 0
    waiting: int = 0

    def add(self, standing: Standing, sign: int) -> None:
        for agency in standing.opened:
            self.opened[agency] += sign
        for agency in standing.overdue:
            self.overdue[agency] += sign
        self.awaiting += sign * standing.awaiting
        self.waiting += sign * standing.waiting


class Schedule:
    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.standing: dict[bytes, Standing] = {}
        self._due: dict[int, list[tuple[int, bytes]]] = {}  # partition -> heap (due, key)
        self._waiting: dict[int, set[bytes]] = {}  # partition -> keys with waiting clocks
        self._gauges: dict[int, Gauges] = {}
        self._taken: set[bytes] = set()  # due keys handed to a tick, until written again
        self._absent = 0  # table entries without a state (not scheduled)
        self._built_at: float | None = None

    def put(self, key: bytes, state: dict[str, Any] | None) -> None:
        before = self.standing.pop(key, None)
        if before is not None:
            self._gauges[before.partition].add(before, -1)
            self._waiting.get(before.partition, set()).discard(key)
        if state is None:
            return
        partition = before.partition if before else partition_of(key, self.partitions)
        now = standing_of(state, partition)
        self.standing[key] = now
        self._gauges.setdefault(partition, Gauges()).add(now, +1)
        if now.waiting:
            self._waiting.setdefault(partition, set()).add(key)
        taken = key in self._taken
        self._taken.discard(key)
        if now.next_due is not None and (
            before is None or before.next_due != now.next_due or taken
        ):
            heapq.heappush(self._due.setdefault(partition, []), (now.next_due, key))

    def rebuild(self, items: Iterable[tuple[bytes, dict[str, Any] | None]]) -> None:
        self.standing.clear()
        self._due.clear()
        self._waiting.clear()
        self._gauges.clear()
        self._taken.clear()
        self._absent = 0
        for key, state in items:
            if state is not None:
                try:
                    self.put(key, state)
                    continue
                except (KeyError, TypeError, AttributeError) as exc:
                    # JSON, but not the shape of a state (another version's, or damaged):
                    # that report's clocks are left out, every other report's still run
                    log.error(
                        "the tracker's state of report %s lacks what its clocks need (%s: "
                        "%s): they are left out",
                        key.decode("utf-8", "replace"),
                        type(exc).__name__,
                        exc,
                    )
            self._absent += 1
        self._built_at = time.monotonic()

    def stale(self, table_size: int) -> bool:
        """Whether the table may have changed under the schedule (or it was never built)."""
        return (
            self._built_at is None
            or table_size != len(self.standing) + self._absent
            or time.monotonic() - self._built_at > REBUILD_SECONDS
        )

    def due(self, partition: int, moment: int) -> list[bytes]:
        """Keys of the partition with a clock due before ``moment`` and those with clocks
        waiting for holiday data. A due key is taken off the schedule until its state is put
        again (written, or put back unchanged by the tick that could not change it)."""
        heap = self._due.get(partition, [])
        found: dict[bytes, None] = {}
        while heap and heap[0][0] < moment:
            due, key = heapq.heappop(heap)
            standing = self.standing.get(key)
            if standing is not None and standing.next_due == due:
                found[key] = None
                self._taken.add(key)
        for key in self._waiting.get(partition, ()):
            found[key] = None
        return list(found)

    def gauges(self, partition: int) -> Gauges:
        return self._gauges.get(partition, Gauges())
