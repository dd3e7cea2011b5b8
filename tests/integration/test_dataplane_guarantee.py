"""The transactional ingest worker, SIGKILLed mid-stream and restarted, loses and duplicates
nothing between topics: every report is routed once and reaches each of its destinations'
outbound topics once.

Reports arrive all along, as they do in a hub. Each kill waits until the worker it kills has
committed work of its own (a restarted worker waits ~45 s for its partitions: its killed
predecessor holds them until its session times out) and then for a transaction of its
to be open (records written, not committed), so it lands mid-stream; the records of
the transactions the kills cut short (written, aborted, then routed again by the next worker)
are counted and must be some: a run whose kills all missed the work would prove nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Producer, TopicPartition

from hub import topics
from hub.config import load_config
from hub.kafka import make_admin, make_consumer
from hub.samples import destination_connectors, lapor_app_message, sample_report
from hub.serialization import SchemaStore, SingleObjectCodec, TopicSerializer
from hub.serialization.store import default_schema_dir
from hub.topic_specs import ensure_hub_topics
from tests.helpers import aborted_records, in_open_transaction, unique

# five kills, each followed by a restart under the same name (a static member: it takes its
# partitions back at once, ~7 s to its first commit here, not after the dead one's 45 s
# session): a minute or two, with margin for a slow machine
pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(600)]
SERIALIZER = TopicSerializer(SingleObjectCodec(SchemaStore(default_schema_dir())))
# reports a second: a worker with a backlog routes ~10,000 a second here, faster than a kill
# can be aimed, so the reports keep coming while the kills go on (~4,000 in all)
RATE = 100
KILLS = 5


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


def log_tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def test_a_killed_ingest_worker_loses_and_duplicates_nothing(kafka_bootstrap: str, tmp_path: Path):
    rng = random.Random(5)  # when each kill lands
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
    log_path = tmp_path / "worker.log"

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

    def alive(worker: subprocess.Popen) -> None:
        """A worker that exits without being killed fails the test: nobody restarts it."""
        if worker.poll() is not None:
            pytest.fail(
                f"the worker exited on its own (code {worker.returncode}):\n{log_tail(log_path)}"
            )

    ensure_hub_topics(kafka_bootstrap, load_config(config_path))
    inbound = topics.inbound(source)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all"})
    filed: list[str] = []
    done_killing = threading.Event()

    def file() -> None:
        """``RATE`` reports a second until the kills are over."""
        samples, started = random.Random(9), time.monotonic()
        while not done_killing.is_set():
            source_id = f"EO-{len(filed):06d}"
            body = lapor_app_message(sample_report(samples), source_id)
            headers = {"content-type": b"application/json"}
            producer.produce(inbound, key=source_id.encode(), value=body, headers=headers)
            producer.poll(0)
            filed.append(source_id)
            done_killing.wait(max(0.0, started + len(filed) / RATE - time.monotonic()))

    # reads the group's commits only; read_uncommitted so that librdkafka does not ask for
    # stable offsets: right after a kill the dead worker's transaction holds pending offsets
    # until its successor fences it, and a stable fetch would wait for that and time out
    group = make_consumer(
        kafka_bootstrap, topics.route_group(prefix), isolation_level="read_uncommitted"
    )
    admin = make_admin(kafka_bootstrap)
    partitions = list(group.list_topics(inbound, timeout=30).topics[inbound].partitions)

    def committed() -> int:
        found = group.committed([TopicPartition(inbound, n) for n in partitions], timeout=30)
        return sum(max(tp.offset, 0) for tp in found)

    worker_log = log_path.open("ab")
    worker = start()
    filing = threading.Thread(target=file, daemon=True)
    filing.start()
    uncommitted = []  # records filed but not committed when each kill landed
    idle = []  # seconds from each worker's start to its first commit
    try:
        for _ in range(KILLS):
            # mid-stream: once this worker has committed a transaction of its own
            before, started = committed(), time.monotonic()
            while committed() == before:
                alive(worker)
                assert time.monotonic() < started + 120, "the worker committed nothing in 120 s"
                time.sleep(0.1)
            idle.append(round(time.monotonic() - started, 1))
            time.sleep(rng.uniform(0.2, 1.0))
            # and while a transaction of its is open: records written, not yet committed
            deadline = time.monotonic() + 10
            while not in_open_transaction(admin, topics.ROUTED) and time.monotonic() < deadline:
                time.sleep(0.005)
            alive(worker)
            worker.send_signal(signal.SIGKILL)
            assert worker.wait(30) == -signal.SIGKILL, "the worker had exited before its kill"
            uncommitted.append(len(filed) - committed())
            worker = start()
        done_killing.set()
        filing.join()
        assert producer.flush(60) == 0
        count = len(filed)
        routed = read_all(
            kafka_bootstrap,
            topics.ROUTED,
            lambda found: sum(1 for m in found if source.encode() in (m.value() or b"")) >= count,
            timeout=240,
        )
        alive(worker)
    finally:
        done_killing.set()
        group.close()
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)

    ours = {}
    for message in routed:
        record = SERIALIZER.deserialize(topics.ROUTED, message.value())
        if record["report"]["source"]["connector"] == source:
            ours.setdefault(record["report"]["hub_id"], []).append(record)
    assert len(ours) == count, f"{count - len(ours)} reports lost after {KILLS} kills"
    duplicated = [h for h, records in ours.items() if len(records) > 1]
    assert not duplicated, f"{len(duplicated)} reports routed twice"

    # what the killed workers had written in transactions the kills cut short: routed
    # again by their successors, and never seen by a read_committed reader
    aborted = aborted_records(
        kafka_bootstrap, topics.ROUTED, lambda m: source.encode() in (m.value() or b"")
    )
    print(
        f"\n{count} reports, {KILLS} kills, records uncommitted at each {uncommitted}; "
        f"{aborted} routed records aborted and routed again; seconds before each worker "
        f"committed {idle}"
    )
    assert aborted > 0, "no kill cut a transaction short: the kills missed the work"

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
