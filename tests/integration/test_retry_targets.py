"""The retry worker sends a record back only to its stage's own input: a record put on a
retry topic to reach another agency's topic or one of the hub's own (reports, audit), or
whose due time is not a time, becomes a dead letter with the reason, and the rest go on."""

from __future__ import annotations

import time

import pytest

from hub import records, topics
from hub.dataplane.retries import RetryWorker
from hub.kafka import make_producer, read_to_end
from hub.ops.deadletters import Filter, read_letters, replay
from hub.topic_specs import ensure_connector_topics
from tests.helpers import unique

pytestmark = [pytest.mark.kafka]


def test_a_retry_goes_back_only_where_its_stage_reads(kafka_bootstrap: str) -> None:
    instance = unique("retry-target")
    ensure_connector_topics(kafka_bootstrap, instance)
    worker = RetryWorker(kafka_bootstrap, "deliver", unique("retry"), start_at="latest")
    try:
        deadline = time.monotonic() + 60
        while not worker.consumer.assignment() and time.monotonic() < deadline:
            worker.run_once(0.5)
        assert worker.consumer.assignment(), "the retry worker got no partitions"

        def retry(key: str, target: str, not_before: bytes = b"0") -> tuple:
            headers = {
                records.ERROR_TOPIC: target.encode(),
                records.ERROR_CONNECTOR: instance.encode(),
                records.ATTEMPTS: b"1",
                records.NOT_BEFORE: not_before,
            }
            return key.encode(), headers

        outbound = topics.outbound(instance)
        sent = {
            "good": retry(f"{instance}-good", outbound),
            "reports": retry(f"{instance}-reports", topics.REPORTS),
            "audit": retry(f"{instance}-audit", topics.AUDIT),
            "other-family": retry(f"{instance}-status", topics.status(instance)),
            "bad-time": retry(f"{instance}-time", outbound, b"soon"),
        }
        producer = make_producer(kafka_bootstrap)
        for key, headers in sent.values():
            producer.produce(topics.retry("deliver"), key=key, value=b"{}", headers=headers)
        assert producer.flush(30) == 0

        ours = lambda: [  # noqa: E731
            x
            for x in read_letters(kafka_bootstrap, Filter(stages=("deliver",)))
            if x.connector == instance
        ]
        deadline = time.monotonic() + 60
        while len(ours()) < 4 and time.monotonic() < deadline:
            worker.run_once(0.5)
    finally:
        worker.close()

    letters = {x.key.decode(): x for x in ours()}
    assert set(letters) == {key.decode() for name, (key, _) in sent.items() if name != "good"}
    for name in ("reports", "audit", "other-family"):
        assert "target not allowed" in letters[sent[name][0].decode()].reason
    assert "not a time" in letters[sent["bad-time"][0].decode()].reason
    assert [m.key() for m in read_to_end(kafka_bootstrap, outbound)] == [sent["good"][0]]
    for forbidden in (topics.REPORTS, topics.AUDIT):
        assert not [
            m
            for m in read_to_end(kafka_bootstrap, forbidden)
            if m.key() in (sent["reports"][0], sent["audit"][0])
        ]

    # and a replay of a letter never goes where its stage does not read
    target = letters[sent["reports"][0].decode()]
    done = replay(kafka_bootstrap, [target], Filter(), to=topics.AUDIT, again=True)
    assert done.refused == [target.id] and not done.replayed
