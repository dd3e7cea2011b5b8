"""Failures injected at every stage, counted end to end through a real broker: every report
is delivered exactly once or sits in a dead-letter topic with its reason; transient failures
(5xx, timeouts, an app down for a while) go through retries, not dead letters; after the
cause is fixed a replay delivers what was refused, once."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
import yaml
from confluent_kafka import Producer

from connectors.lapor_json.simulator import LaporJsonApp
from connectors.simulator import serve
from hub import topics
from hub.config import build_connectors, load_config
from hub.dataplane.deliver import DeliveryWorker, Ledger
from hub.dataplane.retries import RetrySchedule, RetryWorker
from hub.dataplane.route import route_loop
from hub.ops.deadletters import Filter, read_letters, replay
from hub.sdk import RetryPolicy
from hub.sdk.reports import hub_id
from hub.serialization import SchemaStore, SingleObjectCodec, TopicSerializer
from hub.serialization.store import default_schema_dir
from tests.helpers import unique

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
SERIALIZER = TopicSerializer(SingleObjectCodec(SchemaStore(default_schema_dir())))
GOOD = 12


def test_every_report_is_delivered_once_or_dead_lettered_with_its_reason(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    destination = LaporJsonApp()
    source = unique("lapor-faults")
    with serve(destination.app) as url:
        config_path = tmp_path / "hub.yaml"
        config_path.write_text(
            yaml.safe_dump(
                {
                    "group_prefix": unique("faults"),
                    "connectors": {
                        source: {"type": "lapor-json", "agency": "admin-nasional"},
                        "lapor-nasional": {
                            "type": "lapor-json",
                            "agency": "admin-nasional",
                            "base_url": url,
                            "timeout_s": 1.0,
                        },
                    },
                }
            )
        )
        loop = route_loop(config_path, "w1", kafka_bootstrap)
        connector = build_connectors(load_config(config_path))["lapor-nasional"]
        ledger = Ledger(kafka_bootstrap, "lapor-nasional")
        worker = DeliveryWorker(
            kafka_bootstrap,
            connector,
            SERIALIZER,
            RetryPolicy(attempts=2, max_seconds=3, initial_wait=0.05, max_wait=0.1),
            group=unique("deliver"),
            ledger=ledger,
            start_at="latest",
            schedule=RetrySchedule(first_seconds=0.5, max_seconds=2),
        )
        retrier = RetryWorker(kafka_bootstrap, "deliver", unique("retry"), start_at="latest")

        async def pump(seconds: float, until=lambda: False) -> None:
            deadline = time.monotonic() + seconds
            async with httpx.AsyncClient(timeout=1.0) as client:
                while time.monotonic() < deadline and not until():
                    await asyncio.to_thread(loop.step, 0.2)
                    await worker.run_once(client, timeout=0.2)
                    await asyncio.to_thread(retrier.run_once, 0.2)

        asyncio.run(pump(15, until=worker.assigned.is_set))  # join the groups first
        # the hub (a new consumer group) also reads lapor.in.lapor-nasional from its start:
        # on a broker earlier runs used, their citizens' reports are routed again. They are
        # delivered before the faults are set up, and left out of the counts below.
        for _ in range(30):
            before = (loop.stats.consumed, worker.delivered_total, len(worker.failed))
            asyncio.run(pump(2))
            if (loop.stats.consumed, worker.delivered_total, len(worker.failed)) == before:
                break
        destination.refuse_words.add("TOLAK")
        destination.state.fail_next(4, status=503)  # 5xx
        destination.state.fail_next(2, status=200, delay=2.0)  # answers too late: timeouts
        destination.state.fail_next(10, status=503)  # then down for a while
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        inbound = topics.inbound(source)

        def send(tracking: str, body: bytes) -> None:
            producer.produce(
                inbound,
                key=tracking.encode(),
                value=body,
                headers={"content-type": b"application/json"},
            )

        def report(tracking: str, text: str, **extra) -> bytes:
            return json.dumps(
                {
                    "tracking_id": tracking,
                    "isi": text,
                    "dibuat_pada": "2026-11-25T09:00:00+07:00",
                    **extra,
                }
            ).encode()

        for n in range(GOOD):
            send(f"G-{n}", report(f"G-{n}", f"Keluhan tanpa topik yang dikenal nomor {n}"))
        send("BAD-BYTES", b"\xff\xfe{ ini bukan JSON")
        send("BAD-SCHEMA", report("BAD-SCHEMA", "Koordinat rusak", lokasi={"lat": "enam"}))
        send("REFUSED", report("REFUSED", "TOLAK laporan ini"))
        producer.flush(30)
        good = {hub_id(source, f"G-{n}") for n in range(GOOD)}
        asyncio.run(pump(90, until=lambda: {k.split(":")[0] for k in worker.delivered} >= good))

        def delivered_here() -> list[str]:
            return [
                d["referensi_hub"]
                for d in destination.state.delivered.values()
                if d["sumber_asal"]["konektor"] == source
            ]

        delivered = delivered_here()
        assert sorted(delivered) == sorted(good), "each good report delivered exactly once"
        assert worker.retried >= 1, "transient failures went through lapor.retry.deliver"

        def ours_now() -> list:
            return [
                x
                for x in read_letters(kafka_bootstrap, Filter())
                if x.connector == source or (x.key or b"").decode() == hub_id(source, "REFUSED")
            ]

        # the delivery's dead letter went through lapor.failed.lapor-nasional: the route
        # hop moves it on in its next transaction
        deadline = time.monotonic() + 30
        while len(ours := ours_now()) < 3 and time.monotonic() < deadline:
            asyncio.run(pump(1))
        reasons = {x.stage: x.reason for x in ours}
        assert sorted(x.stage for x in ours) == ["deliver", "translate", "translate"]
        assert any("malformed JSON" in x.reason or "not valid UTF-8" in x.reason for x in ours)
        assert any("latitude" in x.reason for x in ours), "the field that did not fit is named"
        assert "HTTP 422" in reasons["deliver"]

        # the app's validation is fixed: the refused report is replayed and delivered, once
        destination.refuse_words.clear()
        refused = [x for x in ours if x.stage == "deliver"]
        replay(kafka_bootstrap, refused, Filter(stages=("deliver",)))
        replay(kafka_bootstrap, refused, Filter(stages=("deliver",)), again=True)  # twice
        target = hub_id(source, "REFUSED")
        asyncio.run(pump(30, until=lambda: any(k.startswith(target) for k in worker.delivered)))
        asyncio.run(pump(3))
        delivered = delivered_here()
        assert delivered.count(target) == 1 and len(delivered) == GOOD + 1
        assert_metrics_counted_it()
        assert_history_of(kafka_bootstrap, target, config_path)
        loop.consumer.close()
        worker.close()
        retrier.close()


def assert_metrics_counted_it() -> None:
    """What happened above, on the Prometheus endpoint."""
    from connectors.simulator import free_port
    from hub.metrics import serve_metrics

    port = free_port()
    serve_metrics(port)
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    for line in (
        'lapor_stage_records_total{outcome="retried",stage="deliver"}',
        'lapor_stage_records_total{outcome="failed",stage="translate"}',
        'lapor_stage_records_total{outcome="out",stage="deliver"}',
        "lapor_delivery_latency_seconds_bucket",
        "lapor_routing_decisions_total",
    ):
        assert line in text, line


def assert_history_of(bootstrap: str, target: str, config: Path) -> None:
    """`lapor-hub reports show`: the refused-then-replayed report's whole story."""
    import os
    import subprocess
    import sys

    from hub.ops.history import report_history

    history = report_history(bootstrap, target, SERIALIZER, connectors=["lapor-nasional"])
    assert history.report is not None and history.report["body"] == "TOLAK laporan ini"
    assert len(history.decisions) == 1 and history.decisions[0]["rules_version"]
    assert list(history.deliveries) == ["admin-nasional"]
    assert [stage for stage, _ in history.dead_letters] == ["deliver"]
    assert any(u["source_status"] == "delivered" for u in history.statuses)
    shown = subprocess.run(
        [sys.executable, "-m", "hub", "reports", "show", target, "--config", str(config)],
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "routed" in shown.stdout and "delivered to admin-nasional" in shown.stdout
    assert "dead letter (deliver): " in shown.stdout and "HTTP 422" in shown.stdout
