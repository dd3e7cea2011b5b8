"""The tracker's schedule: a tick reads only the reports due, and the gauges follow each
state written, as a full read of the table would find them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.kafka import partition_of
from hub.tracker import lifecycle
from hub.tracker.schedule import Schedule, standing_of

SLA = lifecycle.SlaDefaults()


def state_of(hub_id: str, agency: str, days_ago: int) -> dict:
    received = datetime.now(UTC) - timedelta(days=days_ago)
    report = {
        "hub_id": hub_id,
        "source": {"connector": "warga", "source_id": hub_id},
        "location": {"region_code": "35.78"},
        "received_at": received,
    }
    decision = {
        "destinations": [{"agency": agency, "role": "HANDLER"}],
        "rules_version": "t",
        "decided_at": received,
        "reason": "t",
    }
    state = lifecycle.empty_state(hub_id)
    lifecycle.apply_decision(state, report, "", decision, SLA)
    return state


def full_read(states: dict[bytes, dict], partition: int, partitions: int, now: datetime):
    """What a tick used to find by reading every state."""
    due, opened = [], {}
    for key, state in states.items():
        if partition_of(key, partitions) != partition:
            continue
        if lifecycle.has_due_clock(state, now):
            due.append(key)
        for agency in lifecycle.open_agencies(state):
            opened[agency] = opened.get(agency, 0) + 1
    return sorted(due), opened


def test_a_tick_gets_what_reading_every_state_would_find() -> None:
    partitions, now = 3, datetime.now(UTC)
    states = {
        f"r{n}".encode(): state_of(f"r{n}", ("kemensos", "kemenkes")[n % 2], n * 3)
        for n in range(40)
    }
    schedule = Schedule(partitions)
    schedule.rebuild(states.items())
    for partition in range(partitions):
        due, opened = full_read(states, partition, partitions, now)
        assert sorted(schedule.due(partition, lifecycle.ms(now))) == due
        assert {a: n for a, n in schedule.gauges(partition).opened.items() if n} == opened
        assert due  # the test means something: some reports are overdue in each partition


def test_a_due_report_comes_back_until_its_state_changes() -> None:
    schedule, now = Schedule(1), datetime.now(UTC)
    state = state_of("late", "kemensos", 60)
    schedule.put(b"late", state)
    assert schedule.due(0, lifecycle.ms(now)) == [b"late"]
    assert schedule.due(0, lifecycle.ms(now)) == []  # taken until put again
    schedule.put(b"late", state)  # the tick could not change it: due again
    assert schedule.due(0, lifecycle.ms(now)) == [b"late"]
    lifecycle.apply_tick(state, now, SLA)  # overdue now: nothing more falls due
    schedule.put(b"late", state)
    assert schedule.due(0, lifecycle.ms(now)) == []
    assert schedule.gauges(0).overdue["kemensos"] == 1
    closed = lifecycle.hub_status(state, "kemensos", "CLOSED", now, "t")
    lifecycle.apply_status(state, closed, SLA)
    schedule.put(b"late", state)
    assert schedule.gauges(0).overdue["kemensos"] == 0
    assert schedule.gauges(0).opened["kemensos"] == 0


def test_a_table_changed_under_the_schedule_makes_it_stale() -> None:
    schedule = Schedule(3)
    assert schedule.stale(0)
    states = {b"a": state_of("a", "kemensos", 1)}
    schedule.rebuild(states.items())
    assert not schedule.stale(1)
    assert schedule.stale(2)  # a recovery added a report without the tracker writing it


def test_a_report_not_yet_due_is_not_read() -> None:
    schedule, now = Schedule(1), datetime.now(UTC)
    state = state_of("fresh", "kemensos", 0)
    schedule.put(b"fresh", state)
    assert schedule.due(0, lifecycle.ms(now)) == []
    standing = standing_of(state, 0)
    assert standing.next_due is not None
    assert schedule.due(0, standing.next_due + 1) == [b"fresh"]


def test_a_stored_state_of_another_shape_is_left_out_not_raised(caplog) -> None:
    """JSON objects without what a state's clocks need (another version's state, damage):
    the schedule is built from every other report, and says which one it left out."""
    schedule, now = Schedule(1), datetime.now(UTC)
    late = state_of("late", "kemensos", 60)
    odd = {
        b"no-agencies": {"hub_id": "no-agencies", "state": "OPEN"},
        b"clocks-a-list": {**late, "agencies": {"kemensos": {"clocks": ["x"]}}},
        b"agencies-a-string": {**late, "agencies": "kemensos"},
    }
    schedule.rebuild([(b"late", late), *odd.items(), (b"gone", None)])
    assert schedule.due(0, lifecycle.ms(now)) == [b"late"]
    assert schedule.gauges(0).opened["kemensos"] == 1
    assert not schedule.stale(5)  # the ones left out still count as the table's entries
    for key in odd:
        assert key.decode() in caplog.text
