"""The newcomer's first run: a real broker, a few citizen reports through the hub's plumbing.

For now the demo shows the foundation: it starts the local broker (unless
KAFKA_BOOTSTRAP_SERVERS names one), creates an inbound topic the way the hub creates its
topics, produces sample reports as an agency app would hand them over, reads them back
with read_committed and prints what happened. Later stages (translate, route, deliver)
grow it into the whole flow.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import KafkaException
from rich.console import Console
from rich.table import Table

from hub.errors import BrokerNotReachable
from hub.kafka import TopicSpec, ensure_topics, make_admin, make_consumer, make_producer

DEMO_TOPIC = "lapor.in.demo"
SAMPLE_REPORTS = [
    {
        "id": "WEB-2026-000101",
        "channel": "web",
        "title": "Jalan berlubang di Jl. Ahmad Yani",
        "body": "Jalan rusak parah dan berlubang dekat pasar, sudah tiga bulan belum diperbaiki.",
        "location": "Kel. Gubeng, Kec. Gubeng, Kota Surabaya",
    },
    {
        "id": "SMS-1708-88213",
        "channel": "sms",
        "title": "Bansos tidak diterima",
        "body": "Bantuan sosial PKH bulan ini belum cair, padahal nama saya terdaftar.",
        "location": "Kab. Kutai Timur",
    },
    {
        "id": "APP-55120",
        "channel": "mobile",
        "title": "Pungli pembuatan KTP",
        "body": "Petugas kelurahan meminta uang Rp50.000 untuk mempercepat pembuatan KTP-el.",
        "location": "Kota Bandung",
    },
    {
        "id": "EMAIL-7781",
        "channel": "email",
        "title": "Aspirasi taman kota",
        "body": "Mohon ditambah lampu penerangan di taman kota agar aman di malam hari.",
        "location": "Kota Yogyakarta",
    },
    {
        "id": "WEB-2026-000102",
        "channel": "web",
        "title": "Permintaan informasi anggaran desa",
        "body": "Saya meminta salinan APBDes tahun 2026 sesuai UU Keterbukaan Informasi Publik.",
        "location": "Desa Sukamaju, Kab. Bogor",
    },
]


@dataclass
class DemoResult:
    produced: int
    consumed: int
    seconds: float


def run_demo(bootstrap: str, console: Console) -> DemoResult:
    admin = make_admin(bootstrap)
    created = ensure_topics(
        admin, [TopicSpec(DEMO_TOPIC, partitions=3, replication=1, config=_retention_7d())]
    )
    what = "created" if created else "already there"
    console.print(f"topic [bold]{DEMO_TOPIC}[/] ({what}): 3 partitions, replication 1")

    run_id = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    producer = make_producer(bootstrap)
    acked: list[str] = []
    for report in SAMPLE_REPORTS:
        producer.produce(
            DEMO_TOPIC,
            key=report["id"].encode(),
            value=json.dumps(report, ensure_ascii=False).encode(),
            headers={"content-type": b"application/json", "lapor.demo-run": run_id.encode()},
            on_delivery=lambda err, msg: acked.append(msg.key().decode()) if err is None else None,
        )
    if producer.flush(30) or len(acked) != len(SAMPLE_REPORTS):
        raise BrokerNotReachable(
            f"Only {len(acked)} of {len(SAMPLE_REPORTS)} demo reports were acknowledged by "
            f"Kafka at {bootstrap}.",
            fix="check `lapor-hub broker status`.",
        )
    console.print(f"produced {len(acked)} reports with acks=all (idempotent producer)")

    table = Table(title=f"read back from {DEMO_TOPIC} (read_committed)")
    for column in ("partition", "offset", "key", "channel", "title", "location"):
        table.add_column(column)
    consumer = make_consumer(bootstrap, f"lapor-hub-demo-{run_id}")
    consumer.subscribe([DEMO_TOPIC])
    seen = 0
    deadline = time.monotonic() + 30
    try:
        while seen < len(SAMPLE_REPORTS) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            if dict(msg.headers() or []).get("lapor.demo-run") != run_id.encode():
                continue  # reports of an earlier demo run
            report = json.loads(msg.value())
            table.add_row(
                str(msg.partition()),
                str(msg.offset()),
                msg.key().decode(),
                report["channel"],
                report["title"],
                report["location"],
            )
            seen += 1
    finally:
        consumer.close()
    console.print(table)
    return DemoResult(len(acked), seen, time.perf_counter() - started)


def _retention_7d() -> dict[str, str]:
    return {"retention.ms": str(7 * 24 * 3600 * 1000), "cleanup.policy": "delete"}
