"""The data plane's saturated throughput beside two references, through a real broker.

(a) The hub's hop from inbound to outbound topics (translate and route fused, in Kafka
transactions, writing lapor.reports, lapor.routed and one record per destination) over
realistic LAPOR!-style reports, beside two one-hop references over the same reports: a raw
confluent-kafka consume-produce that passes the bytes through, and the same with one Avro
decode and encode per record (the least any Python hub must do). All on one core's worth of
Python; the broker is this machine's own.

Not measured yet (printed as NA): (b) latency from ingest to an app's 2xx at a fixed load of
1,000 reports/s, which needs the simulated destination and the workers in separate
processes, and (c) the tracker's events per second: there is no tracker yet.

The last line is the summary:
    pipeline: hub_per_s=N passthrough_per_s=N avro_chain_per_s=N ratio_vs_avro=R
              ratio_vs_raw=R p99_ms_at_1000=NA tracker_events_per_s=NA
Usage: python bench/pipeline.py [--reports N]   (uses KAFKA_BOOTSTRAP_SERVERS or the local
broker, which it starts if needed)
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script, this folder comes first on sys.path and bench/connectors.py would hide
# the connectors package: drop the folder
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from io import BytesIO  # noqa: E402

import yaml  # noqa: E402
from confluent_kafka import Producer  # noqa: E402
from fastavro import schemaless_reader, schemaless_writer  # noqa: E402

from hub.dataplane.worker import ingest_loop  # noqa: E402
from hub.kafka import TopicSpec, ensure_topics, make_admin, make_consumer, make_producer  # noqa: E402
from hub.samples import destination_connectors, lapor_app_message, sample_report  # noqa: E402
from hub.serialization import SchemaStore, SingleObjectCodec  # noqa: E402
from hub.serialization.store import default_schema_dir  # noqa: E402


def bootstrap_servers() -> str:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    from hub.broker import LocalCluster, cluster_root
    from hub.settings import jar_cache, load_settings

    settings = load_settings()
    cluster = LocalCluster(
        cluster_root(settings.home, 1),
        cache=jar_cache(settings),
        kafka_version=settings.kafka_version,
    )
    cluster.start()
    return cluster.bootstrap


def fill(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all"})
    for number, value in enumerate(values):
        while True:
            try:
                producer.produce(
                    topic,
                    key=str(number).encode(),
                    value=value,
                    headers={"content-type": b"application/json"},
                )
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)


def one_hop(bootstrap: str, source: str, target: str, count: int, transform) -> float:
    """Records per second through consume -> transform -> produce, from first to last."""
    consumer = make_consumer(bootstrap, f"bench-{uuid.uuid4().hex[:8]}")
    consumer.subscribe([source])
    producer = make_producer(bootstrap, linger_ms=5)
    done, started = 0, None
    while done < count:
        batch = [m for m in consumer.consume(1000, 1.0) if not m.error()]
        if batch and started is None:
            started = time.perf_counter()
        for msg in batch:
            while True:
                try:
                    producer.produce(target, key=msg.key(), value=transform(msg.value()))
                    break
                except BufferError:
                    producer.poll(0.05)
        done += len(batch)
    producer.flush(120)
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=20_000)
    args = parser.parse_args()
    bootstrap = bootstrap_servers()
    run = uuid.uuid4().hex[:6]
    rng = random.Random(1708)
    reports = [sample_report(rng) for _ in range(args.reports)]
    raw = [lapor_app_message(r, f"B-{n}") for n, r in enumerate(reports)]
    parsed = SchemaStore(default_schema_dir()).latest("Report").parsed
    codec = SingleObjectCodec(SchemaStore(default_schema_dir()))
    avro = [codec.encode("Report", r) for r in reports]

    names = {k: f"bench.{k}.{run}" for k in ("raw-in", "raw-out", "avro-in", "avro-out")}
    ensure_topics(make_admin(bootstrap), [TopicSpec(t, 3) for t in names.values()])
    fill(bootstrap, names["raw-in"], raw)
    fill(bootstrap, names["avro-in"], avro)
    passthrough = one_hop(
        bootstrap, names["raw-in"], names["raw-out"], args.reports, lambda value: value
    )

    def decode_encode(value: bytes) -> bytes:
        buffer = BytesIO(value)
        buffer.seek(10)
        record = schemaless_reader(buffer, parsed, None)
        out = BytesIO()
        schemaless_writer(out, parsed, record)
        return out.getvalue()

    avro_chain = one_hop(
        bootstrap, names["avro-in"], names["avro-out"], args.reports, decode_encode
    )

    source = f"lapor-bench-{run}"
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "hub.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "group_prefix": f"bench-{run}",
                    "connectors": {
                        source: {"type": "lapor-json", "agency": "admin-nasional"},
                        **destination_connectors(),
                    },
                }
            )
        )
        loop = ingest_loop(config, "bench", bootstrap)
        fill(bootstrap, f"lapor.in.{source}", raw)
        while loop.stats.consumed == 0:
            loop.step(1.0)
        started, first = time.perf_counter(), loop.stats.consumed
        while loop.stats.consumed < args.reports:
            loop.step()
        for _ in range(3):
            loop.step(0.05)
        hub = (args.reports - first) / (time.perf_counter() - started)
        outputs = loop.stats.produced / max(loop.stats.consumed, 1)
        loop.consumer.close()
    print(
        f"{args.reports} reports of {min(map(len, raw))}-{max(map(len, raw))} bytes, "
        f"broker {bootstrap}"
    )
    print(f"raw one-hop passthrough:          {passthrough:>8,.0f} records/s")
    print(f"one hop with Avro decode+encode:  {avro_chain:>8,.0f} records/s")
    print(
        f"hub translate+route (transactional, {outputs:.1f} outputs per report): "
        f"{hub:>8,.0f} reports/s"
    )
    print(
        f"pipeline: hub_per_s={hub:.0f} passthrough_per_s={passthrough:.0f} "
        f"avro_chain_per_s={avro_chain:.0f} ratio_vs_avro={hub / avro_chain:.2f} "
        f"ratio_vs_raw={hub / passthrough:.2f} p99_ms_at_1000=NA tracker_events_per_s=NA"
    )


if __name__ == "__main__":
    main()
