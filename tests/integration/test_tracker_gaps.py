"""Records faust lost on their way to the tracker's agent or its table, found again.

faust-streaming has lost a status in ~1 of 40 runs of the whole-hub kill test, by a path
inside faust that was not pinned down. Here the tracker's consumer thread loses two status
records on purpose, right after the fetch: one its partition's later records follow (faust
commits past it, taking it for a transaction marker's offset) and one its partition's last
(the partition stands on it). Both statuses must still reach the origin app's feedback topic,
each once, and the tracker must say it applied them late. A record lost and not read by a
tick before its tracker stops is read by the next tracker (the group never committed past
it), and a changelog record faust's table recovery lost is set in the table at its end.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import TopicPartition

from hub import topics
from hub.kafka import make_consumer, make_producer, partition_of, read_to_end
from hub.runtime import wait_until
from hub.samples import sample_report
from hub.sdk.reports import hub_id, new_status
from hub.serialization import SchemaStore, SingleObjectCodec, TopicSerializer
from hub.serialization.store import default_schema_dir
from hub.tracker import app as tracker_app
from hub.tracker import metrics as tracker_metrics
from hub.tracker import transport
from tests.helpers import routed, tracker_running, unique

pytestmark = [pytest.mark.kafka]
SERIALIZER = TopicSerializer(SingleObjectCodec(SchemaStore(default_schema_dir())))
ORIGIN, DESTINATION, HANDLER = "warga", "lapor-nasional", "admin-nasional"
REPORTS = 12


class LosingThread(transport.ConsumerThread):
    """Loses, once each, the first fetched record of ``topic`` with a key in ``lose``."""

    topic = topics.status(DESTINATION)
    lose: set[bytes] = set()
    lost: set[bytes] = set()

    async def getmany(self, active_partitions, timeout: float) -> Any:
        records = await super().getmany(active_partitions, timeout)
        kept = {}
        for tp, batch in records.items():
            kept[tp] = []
            for record in batch:
                key = record.key or b""
                if tp.topic == self.topic and key in self.lose - self.lost:
                    LosingThread.lost.add(key)
                    continue
                kept[tp].append(record)
        return kept


def new_tracker(
    bootstrap: str, folder: Path, prefix: str, tick_seconds: float = 1.0
) -> tracker_app.Tracker:
    config = {
        "group_prefix": prefix,
        "connectors": {
            ORIGIN: {"type": "lapor-json", "agency": "pemprov-jawa-timur"},
            DESTINATION: {"type": "lapor-json", "agency": HANDLER},
        },
    }
    config_path = folder / "hub.yaml"
    config_path.write_text(yaml.safe_dump(config))
    return tracker_app.Tracker(
        config_path, bootstrap, "1", tick_seconds=tick_seconds, datadir=folder
    )


def origin_report(rng: random.Random, source_id: str) -> dict[str, Any]:
    sample = sample_report(rng)
    source = {**sample["source"], "connector": ORIGIN, "source_id": source_id}
    return {**sample, "source": source, "hub_id": hub_id(ORIGIN, source_id)}


def route(bootstrap: str, reports: list[dict[str, Any]]) -> None:
    """Write each report's routing decision (to HANDLER) to lapor.routed."""
    producer = make_producer(bootstrap)
    for report in reports:
        value = SERIALIZER.serialize(topics.ROUTED, routed(report, HANDLER))
        producer.produce(topics.ROUTED, key=report["hub_id"].encode(), value=value)
    producer.flush(30)


def test_records_faust_lost_are_applied_at_the_next_tick(
    fresh_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        transport.Consumer,
        "_new_consumer_thread",
        lambda self: LosingThread(self, loop=self.loop, beacon=self.beacon),
    )
    run_with_losses(fresh_bootstrap, new_tracker(fresh_bootstrap, tmp_path, "gaps"))


def test_a_decision_from_an_aborted_transaction_is_not_applied(
    fresh_bootstrap: str, tmp_path: Path
) -> None:
    """The data plane writes lapor.routed in transactions; one aborted (its retry decides
    again, at another moment) must not be a second routing in the report's lifecycle."""
    tracker = new_tracker(fresh_bootstrap, tmp_path, "aborted")
    report = origin_report(random.Random(41), "W-aborted")
    key = report["hub_id"].encode()
    committed = routed(report, HANDLER, reason="committed")
    aborted = routed(report, HANDLER, reason="aborted")
    aborted["decision"]["decided_at"] += timedelta(seconds=1)
    with tracker_running(tracker):
        writer = make_producer(fresh_bootstrap, transactional_id=unique("aborting"))
        writer.init_transactions(30)
        writer.begin_transaction()
        writer.produce(topics.ROUTED, key=key, value=SERIALIZER.serialize(topics.ROUTED, aborted))
        writer.flush(30)
        writer.abort_transaction(30)
        producer = make_producer(fresh_bootstrap)
        value = SERIALIZER.serialize(topics.ROUTED, committed)
        producer.produce(topics.ROUTED, key=key, value=value)
        producer.flush(30)

        def decided() -> list[str]:
            state = tracker.state(key)
            return [d["reason"] for d in state["decisions"]] if state else []

        assert wait_until(lambda: "committed" in decided(), 90), "the decision was not applied"
        assert decided() == ["committed"], "only the committed decision"


def run_with_losses(bootstrap: str, tracker: tracker_app.Tracker) -> None:
    partitions = tracker.partitions

    rng = random.Random(40)
    reports = [origin_report(rng, f"W-{number}") for number in range(REPORTS)]
    # statuses go out in this order: in a partition with two or more, lose the first (the
    # records after it are committed past it); in another, lose the last (nothing follows)
    by_partition: dict[int, list[bytes]] = defaultdict(list)
    for report in reports:
        key = report["hub_id"].encode()
        by_partition[partition_of(key, partitions)].append(key)
    crowded = next(p for p, keys in by_partition.items() if len(keys) >= 2)
    other = next(p for p in by_partition if p != crowded)
    LosingThread.lose = {by_partition[crowded][0], by_partition[other][-1]}
    LosingThread.lost = set()

    before = tracker_metrics.PASSED_OVER._value.get()
    with tracker_running(tracker):
        route(bootstrap, reports)
        producer = make_producer(bootstrap)
        assert wait_until(lambda: tracker.applied["decision"] >= REPORTS, 90), (
            f"the tracker applied {tracker.applied['decision']} of {REPORTS} decisions"
        )
        updates = {}
        for report in reports:
            update = new_status(
                hub_id=report["hub_id"],
                agency=HANDLER,
                status="IN_PROGRESS",
                source_status="diproses",
                occurred_at=datetime.now(UTC),
            )
            updates[update["update_id"]] = report["hub_id"]
            topic = topics.status(DESTINATION)
            value = SERIALIZER.serialize(topic, update)
            producer.produce(topic, key=report["hub_id"].encode(), value=value)
        producer.flush(30)

        def told() -> list[str]:
            feedback = topics.feedback(ORIGIN)
            return [
                SERIALIZER.deserialize(feedback, m.value())["update_id"]
                for m in read_to_end(bootstrap, feedback)
            ]

        assert wait_until(lambda: set(told()) == set(updates), 60, interval=1), (
            f"{len(set(updates) - set(told()))} statuses did not reach the origin "
            f"(lost on purpose: {len(LosingThread.lost)})"
        )
        assert LosingThread.lost == LosingThread.lose, "the statuses were never fetched"
        assert tracker_metrics.PASSED_OVER._value.get() - before == 2, "applied late: the two lost"
        assert sorted(told()) == sorted(updates), "each status reached the origin once"


def test_a_record_lost_before_a_tick_read_it_is_left_to_the_next_tracker(
    fresh_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """faust commits past a record its fetch lost. A tracker stopped (or whose partition
    went elsewhere) before a tick read it must not commit past it: the tracker that takes
    the partition over reads it again."""
    monkeypatch.setattr(
        transport.Consumer,
        "_new_consumer_thread",
        lambda self: LosingThread(self, loop=self.loop, beacon=self.beacon),
    )
    first = new_tracker(fresh_bootstrap, tmp_path, "handover", tick_seconds=3600.0)  # no tick
    rng = random.Random(42)
    reports = [origin_report(rng, f"H-{number}") for number in range(REPORTS)]
    keys = [report["hub_id"].encode() for report in reports]
    lost = keys[0]
    later = [key for key in keys[1:] if partition_of(key, 3) == partition_of(lost, 3)]
    assert later, "a record after the lost one in its partition"
    LosingThread.lose, LosingThread.lost = {lost}, set()
    route(fresh_bootstrap, reports)
    status_topic = topics.status(DESTINATION)
    statuses = [
        new_status(
            hub_id=report["hub_id"],
            agency=HANDLER,
            status="IN_PROGRESS",
            source_status="diproses",
            occurred_at=datetime.now(UTC),
        )
        for report in reports
    ]
    updates = {status["update_id"] for status in statuses}
    feedback = topics.feedback(ORIGIN)

    def told() -> list[str]:
        ids = [
            SERIALIZER.deserialize(feedback, m.value())["update_id"]
            for m in read_to_end(fresh_bootstrap, feedback)
        ]
        return [update_id for update_id in ids if update_id in updates]

    with tracker_running(first):
        assert wait_until(lambda: first.applied["decision"] >= REPORTS, 90)
        producer = make_producer(fresh_bootstrap)
        for status in statuses:
            value = SERIALIZER.serialize(status_topic, status)
            producer.produce(status_topic, key=status["hub_id"].encode(), value=value)
        producer.flush(30)
        assert wait_until(lambda: len(told()) == REPORTS - 1, 60, interval=1), (
            f"the first tracker told the origin {len(told())} of {REPORTS - 1} statuses"
        )
        time.sleep(3)  # faust commits every second
    assert LosingThread.lost == {lost}
    lost_at = next(
        m.offset() for m in read_to_end(fresh_bootstrap, status_topic) if m.key() == lost
    )
    reader = make_consumer(fresh_bootstrap, "handover-tracker")
    try:
        partition = TopicPartition(status_topic, partition_of(lost, 3))
        committed = reader.committed([partition], timeout=30)[0].offset
    finally:
        reader.close()
    assert committed <= lost_at, f"committed {committed}, past the lost record at {lost_at}"

    LosingThread.lose = set()
    (tmp_path / "second").mkdir()
    second = new_tracker(fresh_bootstrap, tmp_path / "second", "handover")
    with tracker_running(second):
        assert wait_until(lambda: len(told()) == REPORTS, 90, interval=1), (
            "the second tracker did not read the lost status again"
        )
    assert sorted(told()) == sorted(updates), "each status reached the origin once"


def test_a_changelog_record_the_table_recovery_lost_is_set_at_its_end(
    fresh_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """faust's recovery can drop changelog records and still end, when records after them
    arrive: the table would hold an older state of the report (here: none), and its next
    change would be written from it. At the recovery's end the tracker reads the changelog
    again and sets what the table missed."""
    rng = random.Random(43)
    reports = [origin_report(rng, f"C-{number}") for number in range(REPORTS)]
    first = new_tracker(fresh_bootstrap, tmp_path, "recheck")
    with tracker_running(first):
        route(fresh_bootstrap, reports)
        assert wait_until(
            lambda: all(first.table.get(r["hub_id"].encode()) for r in reports), 90
        ), "the first tracker did not apply the decisions"
        time.sleep(2)  # its table writes reach the changelog
    changelog = topics.tracker_changelog("recheck")
    records = list(read_to_end(fresh_bootstrap, changelog))
    last_of = {m.partition(): m.offset() for m in records}
    lost = next(
        m.key()
        for m in records
        if m.key() in {r["hub_id"].encode() for r in reports}
        and m.offset() < last_of[m.partition()]
    )

    monkeypatch.setattr(
        transport.Consumer,
        "_new_consumer_thread",
        lambda self: LosingThread(self, loop=self.loop, beacon=self.beacon),
    )
    monkeypatch.setattr(LosingThread, "topic", changelog)
    LosingThread.lose, LosingThread.lost = {lost}, set()
    before = tracker_metrics.RECOVERY_MISSES._value.get()
    (tmp_path / "second").mkdir()
    second = new_tracker(fresh_bootstrap, tmp_path / "second", "recheck")
    with tracker_running(second):
        assert wait_until(lambda: LosingThread.lost == {lost}, 60), "the record was never fetched"
        assert wait_until(lambda: second.table.get(lost) is not None, 60), (
            "the table does not hold the report whose changelog record its recovery lost"
        )
        assert tracker_metrics.RECOVERY_MISSES._value.get() - before == 1
        assert all(second.table.get(r["hub_id"].encode()) for r in reports)
