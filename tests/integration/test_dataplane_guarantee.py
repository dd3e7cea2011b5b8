"""The transactional ingest worker, SIGKILLed at random moments and restarted, loses and
duplicates nothing between topics: every report is routed once and reaches each of its
destinations' outbound topics once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from hub import topics
from hub.kafka import make_consumer
from hub.samples import destination_connectors, lapor_app_message, sample_report
from hub.serialization import SchemaStore, SingleObjectCodec, TopicSerializer
from hub.serialization.store import default_schema_dir
from tests.helpers import unique

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
SERIALIZER = TopicSerializer(SingleObjectCodec(SchemaStore(default_schema_dir())))
COUNT = 10_000  # ~5 s of work for one worker on these machines: the kills land mid-stream


def read_all(bootstrap: str, topic: str, stop_when, timeout: float) -> list:
    consumer = make_consumer(bootstrap, unique("check"))
    consumer.subscribe([topic])
    found, deadline, quiet = [], time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        batch = [m for m in consumer.consume(1000, 0.5) if not m.error()]
        found += batch
        quiet = 0 if batch else quiet + 1
        if stop_when(found) and quiet >= 4:
            break
    consumer.close()
    return found


def test_a_killed_ingest_worker_loses_and_duplicates_nothing(kafka_bootstrap: str, tmp_path: Path):
    from confluent_kafka import Producer

    prefix = unique("eo")
    source = f"lapor-{prefix}"
    config = {
        "group_prefix": prefix,
        "connectors": {
            source: {"type": "lapor-json", "agency": "admin-nasional"},
            **destination_connectors(),
        },
    }
    config_path = tmp_path / "hub.yaml"
    config_path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hub",
                "worker",
                "route",
                "--config",
                str(config_path),
                "--name",
                "w1",
            ],
            env=env,
            stdout=worker_log,
            stderr=worker_log,  # not a pipe: one nobody reads fills up and blocks the worker
        )

    worker_log = (tmp_path / "worker.log").open("ab")
    worker = start()  # creates the topics
    rng = random.Random(9)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all"})
    time.sleep(3)
    for number in range(COUNT):
        body = lapor_app_message(sample_report(rng), f"EO-{number:06d}")
        producer.produce(
            topics.inbound(source),
            key=f"EO-{number:06d}".encode(),
            value=body,
            headers={"content-type": b"application/json"},
        )
        if number % 500 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0

    kills = 0
    for _ in range(5):
        time.sleep(rng.uniform(2.5, 4.5))  # start-up takes ~2 s, then it works
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
        kills += 1
        worker = start()
    try:
        routed = read_all(
            kafka_bootstrap,
            topics.ROUTED,
            lambda found: sum(1 for m in found if source.encode() in (m.value() or b"")) >= COUNT,
            timeout=240,
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)

    ours = {}
    for message in routed:
        record = SERIALIZER.deserialize(topics.ROUTED, message.value())
        if record["report"]["source"]["connector"] == source:
            ours.setdefault(record["report"]["hub_id"], []).append(record)
    assert len(ours) == COUNT, f"{COUNT - len(ours)} reports lost after {kills} kills"
    duplicated = [h for h, records in ours.items() if len(records) > 1]
    assert not duplicated, f"{len(duplicated)} reports routed twice"

    expected = Counter()
    for (record,) in ours.values():
        for destination in record["decision"]["destinations"]:
            expected[(record["report"]["hub_id"], destination["agency"])] += 1
    delivered = Counter()
    for instance in ("lapor-nasional", "open311-surabaya", "kemensos-soap", "dinas-bandung"):
        for message in read_all(kafka_bootstrap, topics.outbound(instance), lambda f: True, 30):
            hub_id = message.key().decode()
            if hub_id in ours:
                delivered[(hub_id, dict(message.headers())["lapor.destination"].decode())] += 1
    assert delivered == expected, "each destination gets each report exactly once"
