"""Dead letters through a real broker: refused with the reason, listed, replayed once the
cause is fixed, routed exactly once; a letter that fails again comes back, attempts raised."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Producer

from hub import topics
from hub.dataplane.route import route_loop
from hub.kafka import make_consumer
from hub.ops.deadletters import Filter, read_letters, replay
from hub.serialization import SchemaStore, SingleObjectCodec, TopicSerializer
from hub.serialization.store import default_schema_dir
from tests.helpers import unique

pytestmark = pytest.mark.kafka
SERIALIZER = TopicSerializer(SingleObjectCodec(SchemaStore(default_schema_dir())))
MAPPING = str(Path("connectors/declarative/examples/dinas-json.yaml").resolve())


def write_config(path: Path, prefix: str, source: str, with_bandung: bool) -> Path:
    connectors = {
        source: {"type": "lapor-json", "agency": "admin-nasional"},
        "lapor-nasional": {"type": "lapor-json", "agency": "admin-nasional"},
    }
    if with_bandung:
        connectors["dinas-bandung"] = {
            "type": "declarative",
            "agency": "pemkot-bandung",
            "mapping": MAPPING,
        }
    path.write_text(yaml.safe_dump({"group_prefix": prefix, "connectors": connectors}))
    return path


def run_until(loop, consumed: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while loop.stats.consumed < consumed and time.monotonic() < deadline:
        loop.step(0.2)
    loop.flush()  # commit what is open
    assert loop.stats.consumed >= consumed


def hub_ids_on(bootstrap: str, topic: str, source: str) -> list[str]:
    consumer = make_consumer(bootstrap, unique("check"))
    consumer.subscribe([topic])
    found, quiet = [], 0
    while quiet < 4:
        batch = [m for m in consumer.consume(500, 0.5) if not m.error()]
        quiet = 0 if batch else quiet + 1
        for message in batch:
            routed = SERIALIZER.deserialize(topic, message.value())
            if routed["report"]["source"]["connector"] == source:
                found.append(routed["report"]["hub_id"])
    consumer.close()
    return found


def test_letters_are_refused_listed_and_replayed_once(kafka_bootstrap: str, tmp_path: Path):
    prefix, source = unique("dlq"), unique("lapor-dlq")
    config = write_config(tmp_path / "hub.yaml", prefix, source, with_bandung=False)
    first = route_loop(config, "w1", kafka_bootstrap)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    inbound = topics.inbound(source)
    for tracking, fields in (
        ("A-1", {"isi": "Sampah menumpuk di Jalan Braga", "lokasi": {"kode_wilayah": "32.73"}}),
        ("A-2", {"isi": "Tanggalnya salah", "dibuat_pada": "kemarin sore"}),
        ("A-3", {"isi": "Saya bingung harus melapor ke mana"}),
    ):
        document = {"tracking_id": tracking, "dibuat_pada": "2026-11-25T09:00:00+07:00", **fields}
        producer.produce(
            inbound,
            key=tracking.encode(),
            value=json.dumps(document).encode(),
            headers={"content-type": b"application/json"},
        )
    producer.flush(30)
    run_until(first, 3)
    first.consumer.close()

    letters = read_letters(kafka_bootstrap, Filter(connector=source))
    by_stage = {letter.stage: letter for letter in letters}
    assert set(by_stage) == {"route", "translate"}, [(x.stage, x.reason) for x in letters]
    assert (
        "dinas-bandung" in by_stage["route"].reason and "not configure" in by_stage["route"].reason
    )
    assert "kemarin sore" in by_stage["translate"].reason
    assert by_stage["route"].original_topic == inbound
    assert by_stage["route"].value.startswith(b'{"tracking_id": "A-1"'), "kept byte for byte"
    assert len(hub_ids_on(kafka_bootstrap, topics.ROUTED, source)) == 1, "A-3 went through"

    dry = replay(kafka_bootstrap, [by_stage["route"]], Filter(connector=source), dry_run=True)
    assert dry.replayed == [by_stage["route"].id]

    # the cause is fixed: Bandung's connector is configured now
    fixed = route_loop(
        write_config(tmp_path / "hub.yaml", prefix, source, with_bandung=True),
        "w1",
        kafka_bootstrap,
    )
    done = replay(kafka_bootstrap, [by_stage["route"]], Filter(connector=source, stages=("route",)))
    assert done.replayed == [by_stage["route"].id]
    again = replay(kafka_bootstrap, [by_stage["route"]], Filter(connector=source))
    assert again.skipped == [by_stage["route"].id] and not again.replayed, "recorded as replayed"
    run_until(fixed, 1)
    routed = hub_ids_on(kafka_bootstrap, topics.ROUTED, source)
    assert len(routed) == 2 and len(set(routed)) == 2
    assert len(hub_ids_on(kafka_bootstrap, topics.outbound("dinas-bandung"), source)) == 1

    # a letter whose cause is not fixed fails again: back in the dead letters, attempts 2
    replay(kafka_bootstrap, [by_stage["translate"]], Filter(connector=source))
    run_until(fixed, 2)
    fixed.consumer.close()
    translate = read_letters(kafka_bootstrap, Filter(connector=source, stages=("translate",)))
    assert sorted(x.attempts for x in translate) == [1, 2]
    assert all(
        x.header("lapor.errors.first-failure") == translate[0].header("lapor.errors.first-failure")
        for x in translate
    )
