"""Reports in and out of every simulated agency app, through a real broker.

Each test uses a connector subclass with a name of its own, so its topics
(lapor.in.<name>, lapor.out.<name>, lapor.status.<name>) are fresh on a shared broker.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from connectors.csv_export import CsvExport
from connectors.csv_export.simulator import CsvExportApp
from connectors.declarative import Declarative
from connectors.declarative.simulator import DinasJsonApp
from connectors.lapor_json import LaporJson
from connectors.lapor_json.simulator import LaporJsonApp
from connectors.open311 import Open311
from connectors.open311.simulator import Open311App
from connectors.simulator import serve
from connectors.sms1708 import Sms1708
from connectors.sms1708.simulator import SmsGateway
from connectors.soap_ministry import SoapMinistry
from connectors.soap_ministry.simulator import SoapMinistryApp
from hub import topics
from hub.dataplane.deliver import DeliveryWorker, Ledger
from hub.dataplane.feedback import FeedbackWorker, poll_status_once
from hub.dataplane.inbound import Cursors, Inbound, import_file, pull_once, raw_from_message
from hub.kafka import DurableProducer, make_consumer
from hub.records import FAILED_TO, SOURCE_ID
from hub.runtime import wait_until
from hub.sdk import RetryPolicy
from hub.sdk.reports import hub_id, new_status
from hub.sdk.webhook import webhook_app
from hub.serialization import SchemaStore, SingleObjectCodec, TopicSerializer
from hub.serialization.store import default_schema_dir
from hub.topic_specs import ensure_connector_topics
from tests.helpers import FailureMover, routed, unique

pytestmark = pytest.mark.kafka
SERIALIZER = TopicSerializer(SingleObjectCodec(SchemaStore(default_schema_dir())))
FAST = RetryPolicy(attempts=5, max_seconds=20, initial_wait=0.05, max_wait=0.5)


def renamed(cls: type, prefix: str):
    """The connector as an instance of a fresh name: fresh topics and cursors for this test."""
    return lambda config: cls(config, instance=unique(prefix))


def read_topic(bootstrap: str, topic: str, count: int, timeout: float = 30) -> list:
    consumer = make_consumer(bootstrap, unique("reader"))
    consumer.subscribe([topic])
    found, deadline = [], time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        found += [m for m in consumer.consume(100, 0.5) if not m.error()]
    consumer.close()
    return found


def retries_list(bootstrap: str, prefix: str, folder: Path) -> str:
    """`lapor-hub retries list`'s table, wide enough for a row a line."""
    config = folder / "hub.yaml"
    config.write_text(f"group_prefix: {prefix}\nconnectors: {{}}\n")
    result = subprocess.run(
        [sys.executable, "-m", "hub", "retries", "list", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "COLUMNS": "250"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def statuses_for_origin(
    connector, tracking_id: str, names: list[str], started: datetime
) -> list[tuple[dict, tuple]]:
    """A handler's statuses of the origin app's report ``tracking_id``, a second apart, as
    the tracker writes them to ``lapor.feedback.<origin>``: (update, record) pairs."""
    topic = topics.feedback(connector.instance)
    report = hub_id(connector.instance, tracking_id)
    updates = [
        new_status(
            hub_id=report,
            agency="pemkot-surabaya",
            status=status,
            source_status=status.lower(),
            occurred_at=started + timedelta(seconds=n),
        )
        for n, status in enumerate(names)
    ]
    return [
        (u, (topic, report.encode(), SERIALIZER.serialize(topic, u), {SOURCE_ID: tracking_id}))
        for u in updates
    ]


async def pull_and_translate(bootstrap: str, connector, client, expected: int) -> list[dict]:
    ensure_connector_topics(bootstrap, connector.instance)
    inbound, cursors = Inbound(bootstrap, connector), Cursors(bootstrap, connector.instance)
    assert await pull_once(connector, client, inbound, cursors) == expected
    assert await pull_once(connector, client, inbound, cursors) == 0, "the cursor was kept"
    messages = read_topic(bootstrap, topics.inbound(connector.instance), expected)
    return [connector.to_report(raw_from_message(m)) for m in messages]


async def deliver_and_follow(bootstrap: str, connector, client, report: dict) -> DeliveryWorker:
    topic = topics.outbound(connector.instance)
    value = SERIALIZER.serialize(topic, routed(report, connector.config.agency))
    key = report["hub_id"].encode()
    # the same routed report twice: the app must still hold it once
    await DurableProducer(bootstrap).send([(topic, key, value, {}), (topic, key, value, {})])
    ledger = Ledger(bootstrap, connector.instance)
    ledger.load()
    worker = DeliveryWorker(
        bootstrap, connector, SERIALIZER, FAST, group=unique("deliver"), ledger=ledger
    )
    deadline = time.monotonic() + 30
    handled = 0
    while handled < 2 and time.monotonic() < deadline:
        handled += await worker.run_once(client, timeout=0.5)
    worker.close()
    assert handled == 2
    return worker


def test_lapor_json_in_and_out(kafka_bootstrap: str) -> None:
    app = LaporJsonApp()
    for n in range(5):
        app.citizen_files(
            isi=f"Jalan berlubang nomor {n}",
            lokasi={"kode_wilayah": "35.78"},
            pelapor={"nama": "Siti", "telepon": "0812"},
        )
    with serve(app.app) as url:
        connector = renamed(LaporJson, "lapor-json")(
            {"agency": "kemenpan-rb", "base_url": url, "page_size": 50}
        )

        async def scenario() -> None:
            async with httpx.AsyncClient() as client:
                reports = await pull_and_translate(kafka_bootstrap, connector, client, 5)
                assert sorted(r["body"] for r in reports) == [
                    f"Jalan berlubang nomor {n}" for n in range(5)
                ]
                app.state.fail_next(2, status=503, retry_after=0.05)
                worker = await deliver_and_follow(kafka_bootstrap, connector, client, reports[0])
                assert list(worker.delivered) == [f"{reports[0]['hub_id']}:kemenpan-rb"]
                assert not worker.failed
                assert len(app.state.delivered) == 1, "delivered once despite 503s and a duplicate"
                app.officer_updates(reports[0]["hub_id"], "selesai", "Sudah diperbaiki")
                app.state.statuses.append({"id": "TL-rusak", "status": "selesai"})  # no hub ref
                cursors = Cursors(kafka_bootstrap, connector.instance)
                assert (
                    await poll_status_once(connector, client, kafka_bootstrap, cursors, SERIALIZER)
                    == 2
                )
                updates = [
                    SERIALIZER.deserialize(m.topic(), m.value())
                    for m in read_topic(kafka_bootstrap, topics.status(connector.instance), 3)
                ]
                hub_made = [u for u in updates if u["actor"] == "lapor-hub"]
                assert [u["source_status"] for u in hub_made] == ["delivered"], "one, not two"
                app_updates = [u for u in updates if u["actor"] != "lapor-hub"]
                assert [u["status"] for u in app_updates] == ["RECEIVED", "RESOLVED"]
                # the connector writes its dead letters to its own failed topic, meant for
                # the status dead letters (the hub moves them on: hub.dataplane.failures)
                letters = read_topic(kafka_bootstrap, topics.failed(connector.instance), 10_000, 5)
                ours = [
                    m
                    for m in letters
                    if m.key() == b"TL-rusak"
                    and dict(m.headers())[FAILED_TO] == topics.dead_letter("status").encode()
                ]
                assert len(ours) == 1, "a status message the hub cannot use is a dead letter"
                assert (
                    b"referensi_hub"
                    in dict(ours[0].headers())["__connect.errors.exception.message"]
                )
                assert app_updates[1]["source_status"] == "selesai"

        asyncio.run(scenario())


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_open311_in_and_out(kafka_bootstrap: str, fmt: str) -> None:
    app = Open311App()
    app.citizen_files(description="Sampah menumpuk di TPS", address="Jl. Darmo, Surabaya")
    with serve(app.app) as url:
        connector = renamed(Open311, "open311")(
            {"agency": "pemkot-surabaya", "base_url": url, "format": fmt}
        )

        async def scenario() -> None:
            async with httpx.AsyncClient() as client:
                (report,) = await pull_and_translate(kafka_bootstrap, connector, client, 1)
                assert report["source"]["channel"] == "OPEN311"
                worker = await deliver_and_follow(kafka_bootstrap, connector, client, report)
                (remote_id,) = worker.delivered.values()
                app.city_updates(remote_id, "closed", "Sudah diangkut", "fixed")
                n = await poll_status_once(
                    connector,
                    client,
                    kafka_bootstrap,
                    Cursors(kafka_bootstrap, connector.instance),
                    SERIALIZER,
                )
                assert n == 1

        asyncio.run(scenario())


def test_soap_ministry_in_and_out(kafka_bootstrap: str) -> None:
    app = SoapMinistryApp()
    app.citizen_files(Uraian="PKH belum cair", KodeWilayah="73.06")
    with serve(app.app) as url:
        connector = renamed(SoapMinistry, "soap")({"agency": "kemensos", "base_url": url})

        async def scenario() -> None:
            async with httpx.AsyncClient() as client:
                (report,) = await pull_and_translate(kafka_bootstrap, connector, client, 1)
                app.state.fail_next(1, status=500)
                await deliver_and_follow(kafka_bootstrap, connector, client, report)
                assert len(app.state.delivered) == 1

        asyncio.run(scenario())


def test_declarative_in_and_out(kafka_bootstrap: str) -> None:
    app = DinasJsonApp()
    app.citizen_files(subject="Lampu taman", message="Lampu taman kota mati")
    with serve(app.app) as url:
        connector = renamed(Declarative, "dinas")(
            {
                "agency": "pemkot-bandung",
                "base_url": url,
                "mapping": "connectors/declarative/examples/dinas-json.yaml",
            }
        )

        async def scenario() -> None:
            async with httpx.AsyncClient() as client:
                (report,) = await pull_and_translate(kafka_bootstrap, connector, client, 1)
                await deliver_and_follow(kafka_bootstrap, connector, client, report)
                (document,) = app.state.delivered.values()
                assert document["ref"] == report["hub_id"]

        asyncio.run(scenario())


def test_a_permanent_refusal_goes_to_the_dead_letter_topic(kafka_bootstrap: str) -> None:
    app = LaporJsonApp()
    app.citizen_files(isi="Laporan")
    with serve(app.app) as url:
        connector = renamed(LaporJson, "lapor-json")({"agency": "kemenpan-rb", "base_url": url})

        async def scenario() -> None:
            async with httpx.AsyncClient() as client:
                (report,) = await pull_and_translate(kafka_bootstrap, connector, client, 1)
                app.state.fail_next(5, status=422)
                worker = await deliver_and_follow(kafka_bootstrap, connector, client, report)
                assert report["hub_id"] in worker.failed
                assert "HTTP 422" in worker.failed[report["hub_id"]]

        asyncio.run(scenario())
        mover = FailureMover(kafka_bootstrap, connector.instance)  # the hub's part
        assert wait_until(lambda: mover.run_once() > 0, 30)
        mover.close()
        letters = read_topic(kafka_bootstrap, topics.dead_letter("deliver"), 10_000, timeout=5)
        ours = [
            m
            for m in letters
            if dict(m.headers())["__connect.errors.connector.name"] == connector.instance.encode()
        ]
        assert ours and b"HTTP 422" in dict(ours[0].headers())["__connect.errors.exception.message"]


def test_sms_gateway_pushes_to_the_webhook(kafka_bootstrap: str) -> None:
    connector = renamed(Sms1708, "sms")({"agency": "admin-nasional"})
    ensure_connector_topics(kafka_bootstrap, connector.instance)
    inbound = Inbound(kafka_bootstrap, connector)
    secrets = [SecretStr("rahasia-lama"), SecretStr("rahasia-baru")]  # during a rotation
    with serve(webhook_app(connector, secrets, inbound.write, inbound.refuse)) as hook:
        gateway = SmsGateway(hook + "/", secret="rahasia-baru")
        with serve(gateway.app) as gateway_url:
            answer = httpx.post(
                f"{gateway_url}/kirim-sms-warga",
                json={
                    "dari": "+6281234567890",
                    "pesan": "LAPOR# sampah menumpuk di Kel. Gubeng, Surabaya",
                },
            )
            assert answer.json()["hub"] == 202
        forged = SmsGateway(hook + "/", secret="bukan-rahasianya")
        refused = forged.forward([forged.message("+628", "palsu")])
        assert refused.status_code == 401 and "signature does not match" in refused.text
        unsigned = httpx.post(hook + "/", content=b"[]")
        assert unsigned.status_code == 401 and "missing X-Lapor-Signature" in unsigned.text
        huge = httpx.post(hook + "/", content=b"x" * (connector.max_body_bytes + 1))
        assert huge.status_code == 413
        mixed = SmsGateway(hook + "/", secret="rahasia-lama")  # the old secret still works
        batch = [mixed.message("+62811", "LAPOR# lampu jalan mati"), {"id": "rusak", "dari": "+62"}]
        answer = mixed.forward(batch)
        assert answer.status_code == 202, answer.text
        assert answer.json()["refused"] == ["SMS #2: missing required field pesan"]
    first, second = read_topic(kafka_bootstrap, topics.inbound(connector.instance), 2)
    assert connector.to_report(raw_from_message(second))["body"] == "lampu jalan mati"
    report = connector.to_report(raw_from_message(first))
    assert report["source"]["channel"] == "SMS" and report["reporter"]["phone"] == "+6281234567890"
    assert "Gubeng" in report["location"]["address"]
    assert report["category"] == "lingkungan.sampah"


def test_csv_export_imports_good_rows_and_refuses_bad_ones(kafka_bootstrap: str) -> None:
    app = CsvExportApp()
    rows = [
        {
            "no_laporan": f"K-{n}",
            "tanggal": "2026-11-01 10:00",
            "jenis": "pengaduan",
            "isi": f"Sampah pasar {n}",
            "kode_wilayah": "64.08",
        }
        for n in range(20)
    ]
    rows.insert(7, {"no_laporan": "", "tanggal": "2026-11-01", "isi": "tanpa nomor"})
    app.export("november.csv", rows)
    with serve(app.app) as url:
        data = httpx.get(f"{url}/ekspor/november.csv").content
    connector = renamed(CsvExport, "csv")({"agency": "pemkab-kutai-timur"})
    ensure_connector_topics(kafka_bootstrap, connector.instance)
    inbound = Inbound(kafka_bootstrap, connector)
    result = asyncio.run(import_file(connector, data, inbound, "november.csv"))
    assert result.accepted == 20 and result.refused == ["line 9: no_laporan is empty"]
    again = asyncio.run(import_file(connector, data, inbound, "november.csv"))  # imported twice
    messages = read_topic(kafka_bootstrap, topics.inbound(connector.instance), 40)
    hub_ids = {connector.to_report(raw_from_message(m))["hub_id"] for m in messages}
    assert again.accepted == 20 and len(messages) == 40 and len(hub_ids) == 20, (
        "importing twice gives the same 20 reports (hub ids), not 40"
    )


def test_a_destination_down_for_a_while_fills_retries_not_dead_letters(
    kafka_bootstrap: str,
) -> None:
    from hub.dataplane.retries import RetrySchedule, RetryWorker

    app = LaporJsonApp()
    for n in range(4):
        app.citizen_files(isi=f"Laporan {n}")
    with serve(app.app) as url:
        connector = renamed(LaporJson, "lapor-down")({"agency": "kemenpan-rb", "base_url": url})

        async def scenario() -> None:
            async with httpx.AsyncClient() as client:
                reports = await pull_and_translate(kafka_bootstrap, connector, client, 4)
                app.state.fail_next(40, status=503)  # down: every attempt for a while fails
                topic = topics.outbound(connector.instance)
                records = [
                    (
                        topic,
                        r["hub_id"].encode(),
                        SERIALIZER.serialize(topic, routed(r, "kemenpan-rb")),
                        {},
                    )
                    for r in reports
                ]
                await DurableProducer(kafka_bootstrap).send(records)
                ledger = Ledger(kafka_bootstrap, connector.instance)
                worker = DeliveryWorker(
                    kafka_bootstrap,
                    connector,
                    SERIALIZER,
                    RetryPolicy(attempts=2, max_seconds=2, initial_wait=0.05, max_wait=0.1),
                    group=unique("deliver"),
                    ledger=ledger,
                    schedule=RetrySchedule(first_seconds=0.5, max_seconds=2),
                )
                retrier = RetryWorker(kafka_bootstrap, "deliver", unique("retry"))
                mover = FailureMover(kafka_bootstrap, connector.instance)
                deadline = time.monotonic() + 90
                while len(worker.delivered) < 4 and time.monotonic() < deadline:
                    await worker.run_once(client, timeout=0.3)
                    await asyncio.to_thread(mover.run_once, 0.2)
                    await asyncio.to_thread(retrier.run_once, 0.3)
                worker.close()
                retrier.close()
                mover.close()
                assert len(worker.delivered) == 4 and not worker.failed
                assert worker.retried >= 4, "the failures went to lapor.retry.deliver"
                assert len(app.state.delivered) == 4, "each delivered once when the app came back"

        asyncio.run(scenario())
        letters = read_topic(kafka_bootstrap, topics.dead_letter("deliver"), 10_000, timeout=5)
        ours = [
            m
            for m in letters
            if dict(m.headers())["__connect.errors.connector.name"] == connector.instance.encode()
        ]
        assert ours == [], "a destination down for a while is not a dead letter"


def test_a_reports_statuses_reach_its_origin_in_the_order_the_tracker_wrote_them(
    kafka_bootstrap: str,
) -> None:
    """Statuses of one report read in one batch are sent one after another: sent at once,
    a slow answer to the first let the app take it last, as the report's current status."""
    app = LaporJsonApp()
    tracking_id = app.citizen_files(isi="Lampu jalan mati", lokasi={"kode_wilayah": "35.78"})[
        "tracking_id"
    ]
    with serve(app.app) as url:
        connector = renamed(LaporJson, "lapor-origin")({"agency": "kemenpan-rb", "base_url": url})
        ensure_connector_topics(kafka_bootstrap, connector.instance)
        pairs = statuses_for_origin(
            connector,
            tracking_id,
            ["RECEIVED", "VERIFIED", "IN_PROGRESS", "RESOLVED"],
            datetime.now(UTC),
        )
        updates, records = [u for u, _ in pairs], [r for _, r in pairs]
        app.state.fail_next(1, status=200, delay=0.5)  # the first answer comes late
        worker = FeedbackWorker(
            kafka_bootstrap, connector, SERIALIZER, group=unique("feedback"), policy=FAST
        )

        async def scenario() -> None:
            await DurableProducer(kafka_bootstrap).send(records)
            async with httpx.AsyncClient() as client:
                deadline = time.monotonic() + 30
                while worker.sent < len(updates) and time.monotonic() < deadline:
                    await worker.run_once(client, timeout=0.5)

        try:
            asyncio.run(scenario())
        finally:
            worker.close()
    assert worker.sent == len(updates)
    assert list(app.state.feedback) == [u["update_id"] for u in updates]


@pytest.mark.parametrize("refusals", [1, 3])
def test_a_status_waiting_for_a_retry_is_not_overtaken_by_the_reports_later_ones(
    kafka_bootstrap: str, refusals: int, tmp_path: Path
) -> None:
    """The origin app refuses a report's first status for a while: it goes to the retry
    topic, and the report's later statuses wait behind it there (every other report's go
    on). Sent as they came, the app would take the first status last, as the current one.
    With 3 refusals the first status is refused again when it comes back from retries
    (or the other report's is), with the later ones waiting behind it."""
    from hub.dataplane.retries import RetrySchedule, RetryWorker
    from hub.ops.retries import Pending, pending_retries
    from hub.topics import retry_group

    app = LaporJsonApp()
    waiting, other = (
        app.citizen_files(isi=isi, lokasi={"kode_wilayah": "35.78"})["tracking_id"]
        for isi in ("Jalan berlubang", "Sampah menumpuk")
    )
    with serve(app.app) as url:
        connector = renamed(LaporJson, "lapor-wait")({"agency": "kemenpan-rb", "base_url": url})
        ensure_connector_topics(kafka_bootstrap, connector.instance)
        started = datetime.now(UTC)

        def statuses(tracking_id: str, names: list[str]) -> list[tuple[dict, tuple]]:
            return statuses_for_origin(connector, tracking_id, names, started)

        first = statuses(waiting, ["RECEIVED"])
        later = statuses(waiting, ["VERIFIED", "IN_PROGRESS", "RESOLVED"])
        others = statuses(other, ["RECEIVED"])
        worker = FeedbackWorker(
            kafka_bootstrap,
            connector,
            SERIALIZER,
            group=unique("feedback"),
            policy=RetryPolicy(attempts=1),  # the first refusal sends it to the retry topic
            schedule=RetrySchedule(first_seconds=1.0, max_seconds=2),
        )
        prefix = unique("p")
        retrier = RetryWorker(kafka_bootstrap, "feedback", retry_group(prefix, "feedback"))
        report = first[0][1][1]
        held: list[Pending] = []
        shown: list[str] = []

        def ours() -> list[Pending]:
            return [
                p
                for p in pending_retries(kafka_bootstrap, prefix, ["feedback"])
                if p.connector == connector.instance
            ]

        async def scenario() -> None:
            producer = DurableProducer(kafka_bootstrap)
            async with httpx.AsyncClient() as client:
                app.state.fail_next(refusals, status=503)  # the first status is refused
                await producer.send([record for _, record in first])
                deadline = time.monotonic() + 30
                while worker.failed < 1 and time.monotonic() < deadline:
                    await worker.run_once(client, timeout=0.5)
                await producer.send([record for _, record in later + others])
                deadline = time.monotonic() + 30
                while len(worker.waiting[report].ids) < 4 and time.monotonic() < deadline:
                    await worker.run_once(client, timeout=0.3)
                await asyncio.to_thread(mover.drain)  # the hub's part: on to the retry topic
                if refusals == 1:  # what an operator sees, before the retry worker runs
                    held.extend(await asyncio.to_thread(ours))
                    shown.append(
                        await asyncio.to_thread(retries_list, kafka_bootstrap, prefix, tmp_path)
                    )
                deadline = time.monotonic() + 60
                while len(app.state.feedback) < 5 and time.monotonic() < deadline:
                    await worker.run_once(client, timeout=0.3)
                    await asyncio.to_thread(mover.run_once, 0.2)
                    await asyncio.to_thread(retrier.run_once, 0.3)

        mover = FailureMover(kafka_bootstrap, connector.instance)
        try:
            asyncio.run(scenario())
        finally:
            worker.close()
            retrier.close()
            mover.close()
    told = list(app.state.feedback)
    assert sorted(told) == sorted(u["update_id"] for u, _ in first + later + others)
    assert [t for t in told if t != others[0][0]["update_id"]] == [
        u["update_id"] for u, _ in first + later
    ], "the report's statuses reached the app in the order they happened"
    if refusals == 1:
        assert told[0] == others[0][0]["update_id"], "the other report's status did not wait"
        # what an operator sees in `lapor-hub retries list` meanwhile, and afterwards
        first_id = first[0][0]["update_id"]
        assert [(p.attempts, p.waits_for) for p in held] == [(1, "")] + [(0, first_id)] * 3
        assert ours() == [], "every retry was sent back"
        row = next(line for line in shown[0].splitlines() if connector.instance in line)
        assert [cell.strip() for cell in row.split("│")][1:6] == [
            "feedback",
            connector.instance,
            "4",
            "3",
            "1",
        ], shown[0]


def test_a_delivery_worker_tells_the_broker_whose_it_is(kafka_bootstrap: str) -> None:
    """Its client.id names the stage and the connector, so the broker's request log, its
    per-client metrics and a client quota can single out one connector's deliveries."""
    from hub.kafka import make_admin

    connector = renamed(LaporJson, "lapor-named")(
        {"agency": "kemenpan-rb", "base_url": "http://127.0.0.1:9"}
    )
    ensure_connector_topics(kafka_bootstrap, connector.instance)
    group = unique("deliver")
    worker = DeliveryWorker(kafka_bootstrap, connector, SERIALIZER, FAST, group=group)
    admin = make_admin(kafka_bootstrap)

    async def members() -> list[str]:
        async with httpx.AsyncClient() as client:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                await worker.run_once(client, timeout=0.2)
                described = admin.describe_consumer_groups([group])[group].result(timeout=10)
                if described.members:
                    return [member.client_id for member in described.members]
            return []

    try:
        assert asyncio.run(members()) == [f"lapor-hub.deliver.{connector.instance}"]
    finally:
        worker.close()
