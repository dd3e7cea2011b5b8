"""The tracker's bookkeeping of offsets its agent passed over (hub.tracker.gaps)."""

from __future__ import annotations

import time

from hub.kafka import make_consumer
from hub.tracker.gaps import GapReader, Gaps

ROUTED = ("lapor.routed", 0)
STATUS = ("lapor.status.x", 0)


def new() -> Gaps:
    return Gaps({"lapor.routed", "lapor.status.x"})


def test_records_handled_in_order_leave_no_gap() -> None:
    gaps = new()
    gaps.sought(ROUTED, 10)
    for offset in range(10, 20):
        gaps.handled(ROUTED, offset)
    assert gaps.due({ROUTED: 20}) == {}


def test_skipped_offsets_are_due_once() -> None:
    gaps = new()
    gaps.sought(ROUTED, 10)
    for offset in (10, 11, 13, 14, 18):  # 12 a marker or a lost record; 15-17 too
        gaps.handled(ROUTED, offset)
    assert gaps.due({ROUTED: 19}) == {ROUTED: [(12, 13), (15, 18)]}
    assert gaps.due({ROUTED: 19}) == {}, "handed out once"


def test_a_first_record_past_the_committed_offset_is_a_gap() -> None:
    gaps = new()
    gaps.sought(STATUS, 5)
    gaps.handled(STATUS, 7)
    assert gaps.due({STATUS: 8}) == {STATUS: [(5, 7)]}


def test_records_read_again_after_a_seek_back_are_not_gaps() -> None:
    gaps = new()
    gaps.sought(STATUS, 0)
    for offset in range(6):
        gaps.handled(STATUS, offset)
    gaps.handled(STATUS, 3)  # a prefetched record handled late
    gaps.handled(STATUS, 6)
    assert gaps.due({STATUS: 7}) == {}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def after_one_record() -> tuple[Clock, Gaps]:
    """Gaps on a fake clock, its agent having handled a status partition's first record."""
    clock = Clock()
    gaps = Gaps({"lapor.status.x"}, settle_seconds=5.0, clock=clock)
    gaps.sought(STATUS, 0)
    gaps.handled(STATUS, 0)
    return clock, gaps


def test_a_tail_left_unhandled_for_the_settle_time_is_due() -> None:
    clock, gaps = after_one_record()
    assert gaps.due({STATUS: 3}) == {}, "offsets 1-2 may still be on their way"
    clock.now += 1
    assert gaps.due({STATUS: 3}) == {}, "ticks handled back to back are not time"
    clock.now += 4
    assert gaps.due({STATUS: 3}) == {STATUS: [(1, 3)]}, "5 s without them"
    clock.now += 10
    assert gaps.due({STATUS: 3}) == {}, "read once"


def test_a_tail_is_not_due_while_the_agent_moves_on() -> None:
    clock, gaps = after_one_record()
    assert gaps.due({STATUS: 3}) == {}
    clock.now += 6
    gaps.handled(STATUS, 1)
    assert gaps.due({STATUS: 5}) == {}
    clock.now += 6
    gaps.handled(STATUS, 2)
    assert gaps.due({STATUS: 5}) == {}


def test_a_record_arriving_after_a_quiet_spell_gets_the_settle_time() -> None:
    clock, gaps = after_one_record()
    assert gaps.due({STATUS: 1}) == {}
    clock.now += 60  # quiet: nothing was waiting
    assert gaps.due({STATUS: 2}) == {}, "offset 1 just arrived"
    clock.now += 1
    assert gaps.due({STATUS: 2}) == {}


def test_other_topics_and_revoked_partitions_are_forgotten() -> None:
    gaps = new()
    gaps.handled(("lapor.tracker.ticks", 0), 0)
    gaps.handled(("lapor.tracker.ticks", 0), 9)
    assert gaps.due({("lapor.tracker.ticks", 0): 10}) == {}
    gaps.sought(ROUTED, 0)
    gaps.handled(ROUTED, 4)
    gaps.revoked([ROUTED])
    assert gaps.due({ROUTED: 5}) == {}
    gaps.again({ROUTED: [(0, 4)]})
    assert gaps.due({ROUTED: 5}) == {}, "not this process's any more"


def test_gaps_not_read_in_time_are_due_again() -> None:
    gaps = new()
    gaps.sought(ROUTED, 0)
    gaps.handled(ROUTED, 2)
    due = gaps.due({ROUTED: 3})
    gaps.again(due)
    assert gaps.due({ROUTED: 3}) == {ROUTED: [(0, 2)]}


def test_a_partition_with_no_seek_seen_starts_at_the_committed_offset() -> None:
    """A partition assigned again without a seek this process saw: its tail is watched
    from the group's committed offset, not left unwatched."""
    clock = Clock()
    gaps = Gaps({"lapor.routed"}, settle_seconds=5.0, clock=clock)
    assert gaps.unknown([ROUTED, ("lapor.tracker.ticks", 0)]) == [ROUTED]
    gaps.start_at(ROUTED, 40)
    assert gaps.unknown([ROUTED]) == []
    gaps.due({ROUTED: 50})
    clock.now += 6.0
    assert gaps.due({ROUTED: 50}) == {ROUTED: [(40, 50)]}


def test_a_first_record_with_no_start_known_is_placed_at_the_committed_offset() -> None:
    """faust commits past a first record's predecessors when the group has no offset
    yet: they are a gap until a tick has read them, and no commit is made before."""
    gaps = new()
    gaps.handled(ROUTED, 60)
    assert gaps.commit_limits({ROUTED: 61}) == {}, "where it starts is not known"
    assert gaps.unknown([ROUTED]) == [ROUTED]
    gaps.start_at(ROUTED, 40)
    gaps.handled(ROUTED, 61)
    assert gaps.unknown([ROUTED]) == []
    assert gaps.commit_limits({ROUTED: 62}) == {ROUTED: 40}
    assert gaps.due({ROUTED: 62}) == {ROUTED: [(40, 60)]}


def test_a_committed_offset_at_the_first_record_leaves_no_gap() -> None:
    gaps = new()
    gaps.handled(ROUTED, 60)
    gaps.start_at(ROUTED, 60)
    gaps.handled(ROUTED, 61)
    assert gaps.due({ROUTED: 62}) == {}
    assert gaps.commit_limits({ROUTED: 62}) == {ROUTED: 62}


def test_commits_stop_short_of_gaps_until_a_tick_has_read_them() -> None:
    gaps = new()
    gaps.sought(STATUS, 0)
    for offset in (0, 1, 5, 6, 9):
        gaps.handled(STATUS, offset)
    ticks = ("lapor.tracker.ticks", 1)
    assert gaps.commit_limits({STATUS: 10, ticks: 7}) == {STATUS: 2, ticks: 7}
    due = gaps.due({STATUS: 10})
    assert gaps.commit_limits({STATUS: 10}) == {STATUS: 2}, "being read, not read yet"
    gaps.again({STATUS: [(7, 9)]})
    gaps.finished(due)
    assert gaps.commit_limits({STATUS: 10}) == {STATUS: 7}
    gaps.finished(gaps.due({STATUS: 10}))
    assert gaps.commit_limits({STATUS: 10}) == {STATUS: 10}


def test_a_seek_places_a_partition_whose_start_was_unknown() -> None:
    gaps = new()
    gaps.handled(STATUS, 30)
    gaps.sought(STATUS, 12)  # read again from there: nothing is passed over
    for offset in range(12, 31):
        gaps.handled(STATUS, offset)
    assert gaps.unknown([STATUS]) == []
    assert gaps.commit_limits({STATUS: 31}) == {STATUS: 31}


def test_a_reader_that_keeps_failing_is_replaced() -> None:
    """No broker answers at this address: each tick's ends fail, and at the third a new
    consumer takes over (a real librdkafka consumer, bounded by the tick's timeout)."""
    made = []

    def make() -> object:
        made.append(make_consumer("127.0.0.1:9", "gap-reader-test"))
        return made[-1]

    reader = GapReader(make)
    try:
        for _ in range(3):
            started = time.monotonic()
            assert reader.ends([ROUTED, STATUS], timeout=0.5) == {}
            assert time.monotonic() - started < 2.0, "a tick is not held up for long"
        assert len(made) == 2 and reader.consumer is made[1]
    finally:
        reader.close()
