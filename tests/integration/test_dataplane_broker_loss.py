"""The transactional ingest worker on a three-broker cluster that loses a broker mid-stream:
every report is routed once and reaches each destination's outbound topic once."""

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
from confluent_kafka import Producer

from hub import topics
from hub.kafka import make_consumer
from hub.samples import destination_connectors, lapor_app_message, sample_report
from hub.serialization import SchemaStore, SingleObjectCodec, TopicSerializer
from hub.serialization.store import default_schema_dir
from tests.helpers import unique

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
SERIALIZER = TopicSerializer(SingleObjectCodec(SchemaStore(default_schema_dir())))
COUNT = 6000


def test_losing_a_broker_mid_stream_loses_and_duplicates_nothing(
    local_cluster_factory, tmp_path: Path
) -> None:
    cluster = local_cluster_factory(nodes=3)
    cluster.start()
    bootstrap = cluster.bootstrap
    source = "lapor-loss"
    config_path = tmp_path / "hub.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "group_prefix": unique("loss"),
                "topics": {"partitions": 3, "replication": 3},
                "connectors": {
                    source: {"type": "lapor-json", "agency": "admin-nasional"},
                    **destination_connectors(),
                },
            }
        )
    )
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    log = (tmp_path / "worker.log").open("ab")

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
            stdout=log,
            stderr=log,
        )

    worker = start()
    time.sleep(4)
    rng = random.Random(3)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for number in range(COUNT):
        body = lapor_app_message(sample_report(rng), f"L-{number}")
        producer.produce(
            topics.inbound(source),
            key=f"L-{number}".encode(),
            value=body,
            headers={"content-type": b"application/json"},
        )
        if number % 500 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0

    time.sleep(1.5)
    cluster.stop_node(2)  # mid-stream: the worker is routing by now
    routed: dict[str, int] = Counter()
    consumer = make_consumer(bootstrap, unique("check"))
    consumer.subscribe([topics.ROUTED])
    deadline = time.monotonic() + 240
    while len(routed) < COUNT and time.monotonic() < deadline:
        if worker.poll() is not None:  # the worker must get over the loss, not exit
            tail = (tmp_path / "worker.log").read_text(errors="replace").splitlines()[-40:]
            pytest.fail(
                f"the worker exited on its own (code {worker.returncode}) after broker 2 "
                "stopped:\n" + "\n".join(tail),
                pytrace=False,
            )
        for message in consumer.consume(1000, 0.5):
            if not message.error():
                record = SERIALIZER.deserialize(topics.ROUTED, message.value())
                routed[record["report"]["hub_id"]] += 1
    worker.send_signal(signal.SIGTERM)
    worker.wait(60)
    time.sleep(1)
    for message in consumer.consume(1000, 2):  # anything that came late
        if not message.error():
            record = SERIALIZER.deserialize(topics.ROUTED, message.value())
            routed[record["report"]["hub_id"]] += 1
    consumer.close()
    assert len(routed) == COUNT, f"{COUNT - len(routed)} lost"
    assert max(routed.values()) == 1, "a report was routed twice"
