"""The watch over faust's table recovery (hub.tracker.recovery), on stand-ins for faust's
Recovery and memory store: when it has stalled, which changelog partitions to read again,
and what its end left wrong."""

import json
from collections import Counter
from types import SimpleNamespace

from hub.tracker.recovery import correct_store, latest_records, recovery_stalled, to_read_again

CHANGELOG = ("reports-changelog", 1)


def recovery(remaining: int = 5, received: dict | None = None, **fields) -> SimpleNamespace:
    """A recovery of CHANGELOG (last offset 155) started at t=100 s, ``remaining``
    records short of it."""
    offsets = Counter({CHANGELOG: 155 - remaining})
    state = {
        "in_recovery": True,
        "_recovery_started_at": 100.0,
        "_active_events_received_at": received or {},
        "_standby_events_received_at": {},
        "active_offsets": offsets,
        **fields,
    }
    return SimpleNamespace(
        **state,
        active_remaining_total=lambda: remaining,
        active_remaining=lambda: Counter({CHANGELOG: remaining}),
    )


def test_a_table_recovery_that_receives_nothing_is_stalled() -> None:
    assert recovery_stalled(recovery(), 150.0, 120.0) is None, "50 s: still waiting"
    assert recovery_stalled(recovery(), 230.0, 120.0) == 130.0
    moving = recovery(received={CHANGELOG: 200.0})
    assert recovery_stalled(moving, 230.0, 120.0) is None, "records arrived 30 s ago"
    assert recovery_stalled(recovery(remaining=0), 230.0, 120.0) is None
    assert recovery_stalled(recovery(in_recovery=False), 230.0, 120.0) is None


def test_records_fetched_but_never_received_are_read_again_from_the_first_not_applied() -> None:
    nothing_applied = recovery(remaining=156)  # applied to -1: none of 0..155
    assert to_read_again(nothing_applied, {CHANGELOG: 156}, 115.0) == {CHANGELOG: 0}
    part_applied = recovery(remaining=55, received={CHANGELOG: 101.0})  # applied to 100
    assert to_read_again(part_applied, {CHANGELOG: 156}, 115.0) == {CHANGELOG: 101}


def test_a_recovery_still_reading_or_waiting_for_its_fetch_is_left_alone() -> None:
    assert to_read_again(recovery(remaining=156), {CHANGELOG: 156}, 105.0) == {}, "5 s: wait"
    receiving = recovery(remaining=55, received={CHANGELOG: 112.0})
    assert to_read_again(receiving, {CHANGELOG: 156}, 115.0) == {}, "a record 3 s ago"
    waiting = recovery(remaining=55)  # aiokafka has not handed over what was not applied
    assert to_read_again(waiting, {CHANGELOG: 101}, 115.0) == {}
    assert to_read_again(waiting, {}, 115.0) == {}, "no position known"
    assert to_read_again(recovery(remaining=0), {CHANGELOG: 156}, 115.0) == {}
    assert to_read_again(recovery(in_recovery=False), {CHANGELOG: 156}, 115.0) == {}


def record(partition: int, key: bytes, value: dict | None) -> SimpleNamespace:
    raw = None if value is None else json.dumps(value).encode()
    return SimpleNamespace(key=lambda: key, partition=lambda: partition, value=lambda: raw)


def test_a_store_missing_the_last_changelog_records_is_set_from_them() -> None:
    changelog = [
        record(0, b"A", {"applied": ["d1"]}),
        record(0, b"A", {"applied": ["d1", "s1"]}),  # dropped by the recovery
        record(1, b"B", {"applied": ["d2"]}),
        record(1, b"C", {"applied": ["d3"]}),
        record(1, b"C", None),  # deleted
        record(2, b"D", {"applied": ["d4"]}),  # dropped by the recovery
    ]
    store = SimpleNamespace(
        data={b"A": {"applied": ["d1"]}, b"B": {"applied": ["d2"]}, b"C": {"applied": ["d3"]}},
        _key_partition={b"A": 0, b"B": 1, b"C": 1},
    )
    wrong = correct_store(store, latest_records(changelog), json.loads)
    assert wrong == Counter({0: 1, 1: 1, 2: 1})
    assert store.data == {
        b"A": {"applied": ["d1", "s1"]},
        b"B": {"applied": ["d2"]},
        b"D": {"applied": ["d4"]},
    }
    assert store._key_partition == {b"A": 0, b"B": 1, b"D": 2}
    assert correct_store(store, latest_records(changelog), json.loads) == Counter()
