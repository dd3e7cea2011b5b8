"""Watching faust's table recovery: changelog records it passed over, and a stall.

After the only broker restarted, a tracker's table recovery sometimes received nothing from
a changelog partition for good ("No event received for active tp ... since recovery
start"). The state logged when it gave up showed why: aiokafka's position stood at the
partition's end while recovery had applied none of its records, so they had been fetched
and handed to faust, which never passed them on. faust's consumer drops fetched records
without seeking back when the group's generation changes while it hands them out, when
their partition is not active at that moment, and (seeking to the committed offsets, which
a changelog does not have) when its flow is stopped; which of these it was is not pinned.

So: a changelog partition whose recovery has received nothing for ``REWIND_AFTER`` seconds
while aiokafka's position is past what it applied is sought back to the first record not
applied (applying a changelog record twice writes the same value). If a recovery still
receives nothing, the tracker exits (``recovery_stalled``) and starts over.

A recovery that drops records in the middle of a partition ends all the same (the records
after them arrive): ``correct_store`` sets, at its end, what the table missed.

These functions read faust 0.15's and aiokafka 0.13's private state: a faust or aiokafka
upgrade must re-check them (the single-broker restart fault test exercises them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

REWIND_AFTER = 10.0  # seconds with no changelog record while aiokafka's position is past


def recovery_stalled(recovery: Any, now: float, limit: float) -> float | None:
    """Seconds faust's table recovery has received no changelog record while records
    remain to read, if at least ``limit``; else None."""
    started = getattr(recovery, "_recovery_started_at", None)
    if not recovery.in_recovery or started is None:
        return None
    received = [
        *recovery._active_events_received_at.values(),
        *recovery._standby_events_received_at.values(),
    ]
    quiet = now - max(received, default=started)
    if quiet < limit or not recovery.active_remaining_total():
        return None
    return quiet


def to_read_again(
    recovery: Any, positions: dict[Any, int], now: float, after: float = REWIND_AFTER
) -> dict[Any, int]:
    """Changelog partitions being recovered whose records aiokafka handed over (its
    ``positions``) but recovery never received, none for ``after`` seconds: the offset to
    read each one again from."""
    started = getattr(recovery, "_recovery_started_at", None)
    if not recovery.in_recovery or started is None:
        return {}
    rewind = {}
    for tp, remaining in recovery.active_remaining().items():
        if remaining <= 0:
            continue
        last = recovery._active_events_received_at.get(tp, started)
        if now - max(last, started) < after:
            continue
        wanted = max(recovery.active_offsets[tp] + 1, 0)  # -1: nothing applied yet
        position = positions.get(tp)
        if position is not None and position > wanted:
            rewind[tp] = wanted
    return rewind


def fetch_positions(app: Any) -> dict[Any, int]:
    """aiokafka's fetch position of each assigned partition (read from another thread than
    the consumer's: a plain attribute read, good enough for a check repeated every 0.2 s)."""
    assignment = _assignment(app)
    if assignment is None:
        return {}
    positions = {}
    for tp in list(assignment.tps):
        position = assignment.state_value(tp)._position
        if position is not None:
            positions[tp] = position
    return positions


def recovery_state(app: Any) -> str:
    """Where each changelog partition left to recover stands, in faust and in aiokafka's
    fetcher: for the log line of a tracker that gives up on a stalled recovery."""
    try:  # read from another thread than the consumer's: a set may change meanwhile
        return _recovery_state(app)
    except Exception as exc:  # a diagnosis must not stop the exit it explains
        return f"not read: {exc!r}"


def _assignment(app: Any) -> Any:
    try:
        consumer = app.consumer._thread._consumer
        return consumer._subscription.subscription.assignment
    except AttributeError:  # not started, or between assignments
        return None


def _recovery_state(app: Any) -> str:
    recovery = app.tables.recovery
    consumer = app.consumer._thread._consumer
    fetcher = consumer._fetcher
    assignment = _assignment(app)
    parts = [
        f"flow active {app.consumer.flow_active}",
        f"fetches in flight to nodes {sorted(fetcher._in_flight)}",
        f"records held for {sorted(f'{tp.topic}[{tp.partition}]' for tp in fetcher._records)}",
    ]
    for tp, remaining in recovery.active_remaining().items():
        if remaining <= 0:
            continue
        state = assignment.state_value(tp) if assignment is not None else None
        fetch = (
            "not assigned"
            if state is None
            else f"position {state._position}, {state._status.name}, paused {state.paused}"
        )
        parts.append(
            f"{tp.topic}[{tp.partition}]: applied to {recovery.active_offsets[tp]} of "
            f"{recovery.active_highwaters[tp]}; faust active "
            f"{tp in app.consumer._active_partitions}, paused "
            f"{tp in app.consumer._paused_partitions}; aiokafka {fetch}, leader "
            f"{consumer._client.cluster.leader_for_partition(tp)}"
        )
    return "; ".join(parts)


def latest_records(messages: Iterable[Any]) -> dict[bytes, tuple[int, bytes | None]]:
    """The last record of each key in these changelog records: its partition and value
    (None: deleted)."""
    latest = {}
    for message in messages:
        latest[message.key()] = (message.partition(), message.value())
    return latest


def correct_store(
    store: Any, latest: dict[bytes, tuple[int, bytes | None]], decode: Callable[[bytes], Any]
) -> Counter[int]:
    """Make faust's in-memory store hold each key's last changelog value; how many keys
    it had wrong, by partition. Written to the store itself, not through the table: the
    changelog holds these values already.

    faust's recovery can drop changelog records in the middle of a partition and still end
    (records after them arrived, so no stall shows): its table then holds older states of
    some reports, and the next change of such a report would be written from the older
    state, losing what the dropped records held (a status waiting for its decision, say)."""
    wrong: Counter[int] = Counter()
    for key, (partition, value) in latest.items():
        wanted = None if value is None else decode(value)
        if store.data.get(key) == wanted:
            continue
        wrong[partition] += 1
        if wanted is None:
            store.data.pop(key, None)
            store._key_partition.pop(key, None)
        else:
            store.data[key] = wanted
            store._key_partition[key] = partition  # faust drops keys of partitions it loses
    return wrong
