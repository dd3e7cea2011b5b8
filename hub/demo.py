"""``make demo``: the whole hub on this machine, with simulated agency apps, in a minute.

It runs a Kafka broker of its own (``.lapor-hub/broker/demo``, port 9392, wiped at each
start, stopped at the end: hub ids are stable, so a second run on a used cluster would find
its reports delivered already); starts the simulated
apps of every built-in connector on loopback; starts the hub (``HubRuntime``: pull loops, the
SMS webhook, the transactional translate-and-route worker, delivery workers, status
pollers); lets citizens file a realistic mix of reports in every app (all three kinds,
Indonesian text, some with only an address, some malformed) and an officer answer them at
the destination apps; and prints what happened.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from hub import records, topics
from hub.dataplane.inbound import Inbound, import_file
from hub.demo_summary import DemoSummary
from hub.kafka import read_to_end
from hub.routing import default_rules_dir, load_directory
from hub.runtime import HubRuntime, tracker_process, wait_until
from hub.samples import sample_report
from hub.serialization import SchemaStore, SingleObjectCodec, TopicSerializer
from hub.serialization.store import default_schema_dir
from hub.tracker import lifecycle

DEMO_PORT = 9392
DEMO_CONNECTORS = (  # one instance of each built-in connector: where citizens file
    "lapor-nasional",
    "open311-surabaya",
    "kemensos-soap",
    "dinas-bandung",
    "sms-1708",
    "csv-kutim",
)
SMS_SECRET = "rahasia-demo-sms"
KINDS = {
    "COMPLAINT": "pengaduan",
    "ASPIRATION": "aspirasi",
    "INFORMATION_REQUEST": "permintaan_informasi",
    "WHISTLEBLOWING": "pengaduan",
}
DESTINATION_KINDS = {
    "ministry": "ministry",
    "institution": "institution",
    "province": "province",
    "regency": "kabupaten/kota",
    "city": "kabupaten/kota",
    "national": "fallback (national)",
}


def _citizen_reports(rng: random.Random, count: int) -> list[dict[str, Any]]:
    reports = []
    for _ in range(count):
        report = sample_report(rng)
        if rng.random() < 0.25:  # some reports give only an address, no region code
            report["location"]["region_code"] = None
        reports.append(report)
    return reports


def _file_everywhere(apps: dict[str, Any], rng: random.Random, sms_url: str) -> Counter:
    """Citizens and apps do their part: reports in each app, SMS to the gateway."""
    filed: Counter = Counter()
    for report in _citizen_reports(rng, 40):
        location = report["location"]
        apps["lapor"].citizen_files(
            jenis=KINDS[report["kind"]],
            judul=report["title"],
            isi=report["body"],
            lokasi={"kode_wilayah": location["region_code"], "alamat": location["address"]},
            pelapor={
                "nama": report["reporter"]["name"],
                "telepon": report["reporter"]["phone"],
                "anonim": report["reporter"]["anonymous"],
            },
            sumber=rng.choice(["web", "android", "ios"]),
        )
        filed["lapor-nasional"] += 1
    for report in _citizen_reports(rng, 12):
        apps["open311"].citizen_files(
            description=report["body"],
            # Surabaya's own app: a street of the sample's address, in Surabaya
            address=f"{report['location']['address'].split(',')[0]}, Kota Surabaya",
            email="warga@contoh.id",
        )
        filed["open311-surabaya"] += 1
    for report in _citizen_reports(rng, 8):
        apps["soap"].citizen_files(
            Perihal=report["title"],
            Uraian=report["body"],
            KodeWilayah=report["location"]["region_code"] or "",
            Alamat=report["location"]["address"],
        )
        filed["kemensos-soap"] += 1
    for report in _citizen_reports(rng, 8):
        apps["dinas"].citizen_files(
            subject=report["title"],
            message=report["body"],
            where={
                "text": report["location"]["address"],
                "kemendagri": report["location"]["region_code"],
            },
        )
        filed["dinas-bandung"] += 1
    texts = [
        "LAPOR# jalan rusak berlubang di Kel. Gubeng, Surabaya sudah 3 bulan",
        "sampah numpuk di pasar kec cibungbulang kab bogor tlg diangkut",
        "ASPIRASI: mohon tambah lampu jalan di desa kami kab. garut",
        "INFO jadwal pencairan PKH bulan ini?",
        "ktp sy blm jadi 2 bln di dukcapil kota bandung",
    ]
    for number in range(10):
        httpx.post(
            f"{sms_url}/kirim-sms-warga",
            timeout=10,
            json={
                "dari": f"+62812{rng.randint(10**6, 10**7 - 1)}",
                "pesan": texts[number % len(texts)],
            },
        )
        filed["sms-1708"] += 1
    for text in (
        "Saya ingin menyampaikan keluhan tapi bingung harus ke mana.",
        "Tetangga memelihara burung yang berisik setiap pagi.",
    ):
        apps["lapor"].citizen_files(isi=text)  # no rule claims these: the national fallback
        filed["lapor-nasional"] += 1
    # malformed reports: the hub must refuse them with a reason and lose nothing else
    apps["lapor"].citizen_files(isi="", judul="tanpa isi")
    apps["lapor"].citizen_files(dibuat_pada="kemarin sore", isi="Tanggal tidak valid")
    filed["lapor-nasional"] += 2
    return filed


def _csv_export(apps: dict[str, Any], rng: random.Random) -> bytes:
    rows = [
        {
            "no_laporan": f"KUTIM-{n:04d}",
            "tanggal": "2026-11-20 09:00",
            "jenis": "pengaduan",
            "judul": r["title"],
            "isi": r["body"],
            "kode_wilayah": "64.08",
            "alamat": "Sangatta Utara, Kutai Timur",
        }
        for n, r in enumerate(_citizen_reports(rng, 10))
    ]
    rows.insert(4, {"no_laporan": "", "tanggal": "2026-11-20", "isi": "baris tanpa nomor"})
    return apps["csv"].export("laporan-november.csv", rows)


def _answer_as_officers(apps: dict[str, Any], rng: random.Random) -> None:
    """Officers at the destination apps act on what was delivered to them."""
    for key in list(apps["lapor"].state.idempotency):  # one per (report, agency)
        if key.endswith(":copy"):
            continue  # an agency informed by a copy does not answer
        report, agency = key.split(":")[:2]
        status = rng.choice(["diproses", "selesai", "ditunda", "diproses"])
        apps["lapor"].officer_updates(report, status, "Ditindaklanjuti", agency)
    for remote_id in list(apps["open311"].state.delivered):
        apps["open311"].city_updates(remote_id, "closed", "Sudah ditangani", "fixed")
    for document in list(apps["soap"].state.delivered.values()):
        apps["soap"].official_updates(document["ReferensiHub"], "DIPROSES", "Sedang diverifikasi")


@contextlib.contextmanager
def _demo_broker(console: Console):
    from hub.broker import LocalCluster, cluster_root
    from hub.settings import jar_cache, load_settings

    settings = load_settings()
    if settings.kafka_bootstrap_servers:
        console.print(
            "the demo runs its own fresh broker (KAFKA_BOOTSTRAP_SERVERS is left alone: "
            "a second demo run on a used cluster would find its reports delivered)"
        )
    cluster = LocalCluster(
        cluster_root(settings.home, 1).parent / "demo",
        cache=jar_cache(settings),
        base_port=DEMO_PORT,
        kafka_version=settings.kafka_version,
    )
    cluster.reset()
    with console.status("starting the demo's Kafka broker (its own, wiped at each demo)"):
        cluster.start()
    console.print(f"Kafka {settings.kafka_version} on {cluster.bootstrap} (demo broker)")
    try:
        yield cluster.bootstrap
    finally:
        cluster.stop()


def run_demo(console: Console) -> DemoSummary:
    from connectors.csv_export.simulator import CsvExportApp
    from connectors.declarative.simulator import DinasJsonApp
    from connectors.lapor_json.simulator import LaporJsonApp
    from connectors.open311.simulator import Open311App
    from connectors.simulator import free_port, serve
    from connectors.sms1708.simulator import SmsGateway

    rng = random.Random(2026)
    summary = DemoSummary()
    webhook_port = free_port()
    apps = {
        "lapor": LaporJsonApp(),
        "open311": Open311App(),
        "soap": None,
        "dinas": DinasJsonApp(),
        "csv": CsvExportApp(),
        "sms": SmsGateway(f"http://127.0.0.1:{webhook_port}/", SMS_SECRET),
    }
    from connectors.soap_ministry.simulator import SoapMinistryApp

    apps["soap"] = SoapMinistryApp()
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        bootstrap = stack.enter_context(_demo_broker(console))
        urls = {name: stack.enter_context(serve(app.app)) for name, app in apps.items()}
        console.print("simulated apps: " + ", ".join(f"{k} {v}" for k, v in urls.items()))
        os.environ["LAPOR_DEMO_SMS_SECRETS"] = SMS_SECRET
        mapping = (
            Path(__file__).resolve().parents[1] / "connectors/declarative/examples/dinas-json.yaml"
        )
        config = {
            "group_prefix": f"demo-{uuid.uuid4().hex[:6]}",
            "connectors": {
                "lapor-nasional": {
                    "type": "lapor-json",
                    "agency": "admin-nasional",
                    "base_url": urls["lapor"],
                    "poll_interval_s": 0.3,
                },
                "open311-surabaya": {
                    "type": "open311",
                    "agency": "pemkot-surabaya",
                    "base_url": urls["open311"],
                    "poll_interval_s": 0.3,
                },
                "kemensos-soap": {
                    "type": "soap-ministry",
                    "agency": "kemensos",
                    "base_url": urls["soap"],
                    "poll_interval_s": 0.3,
                },
                "dinas-bandung": {
                    "type": "declarative",
                    "agency": "pemkot-bandung",
                    "base_url": urls["dinas"],
                    "mapping": str(mapping),
                    "poll_interval_s": 0.3,
                },
                "sms-1708": {
                    "type": "sms-1708",
                    "agency": "admin-nasional",
                    "base_url": urls["sms"],
                    "webhook": {"port": webhook_port, "secrets_env": "LAPOR_DEMO_SMS_SECRETS"},
                },
                "csv-kutim": {
                    "type": "csv-export",
                    "agency": "pemkab-kutai-timur",
                    "feedback_dir": str(Path(tmp) / "status-kutim"),
                },
            },
        }
        config_path = Path(tmp) / "hub.yaml"
        config_path.write_text(yaml.safe_dump(config, allow_unicode=True))
        hub = HubRuntime(config_path, bootstrap, name="demo", primary=True)
        stack.enter_context(
            tracker_process(config_path, bootstrap, "demo", 1.0, Path(tmp) / "tracker.log")
        )
        stop = threading.Event()
        thread = threading.Thread(target=hub.run, args=(stop,), daemon=True, name="hub")
        stack.callback(thread.join, 60)
        stack.callback(stop.set)
        with console.status("starting the hub: topics, connectors, workers"):
            thread.start()
            if not wait_until(hub.started.is_set, 90):
                raise RuntimeError("the hub did not start within 90 s")
        started = time.monotonic()
        summary.filed = _file_everywhere(apps, rng, urls["sms"])
        data = _csv_export(apps, rng)
        csv_connector = hub.connectors["csv-kutim"]
        imported = _run(
            import_file(
                csv_connector, data, Inbound(bootstrap, csv_connector), "laporan-november.csv"
            )
        )
        summary.filed["csv-kutim"] = imported.accepted + len(imported.refused)
        summary.malformed = 2 + len(imported.refused)
        expected = sum(summary.filed.values()) - summary.malformed

        def delivered_count() -> int:
            return sum(w.delivered_total for w in hub.delivery.values())

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            ingest = progress.add_task("ingested by the hub", total=expected)
            delivered = progress.add_task("delivered to agency apps", total=None)
            deadline = time.monotonic() + 90
            last, stable = -1, 0
            while time.monotonic() < deadline:
                counters = hub.counters
                got = (
                    sum(counters.pulled.values())
                    + sum(counters.pushed.values())
                    + imported.accepted
                )
                progress.update(ingest, completed=min(got, expected))
                progress.update(delivered, completed=delivered_count())
                now = delivered_count()
                stable = stable + 1 if now == last and got >= expected else 0
                last = now
                if stable >= 10:  # nothing new for 2 s after everything came in
                    break
                time.sleep(0.2)
        summary.seconds = time.monotonic() - started
        with console.status("officers answer at the destination apps; statuses flow back"):
            _answer_as_officers(apps, rng)
            status_file = Path(tmp) / "status-kutim" / "status-csv-kutim.csv"
            last, stable, deadline = -1, 0, time.monotonic() + 90
            while time.monotonic() < deadline:
                apps["csv"].import_statuses(status_file)  # what the CSV app does daily
                now = sum(len(app.state.feedback) for app in apps.values())
                stable = stable + 1 if now == last else 0
                last = now
                # nothing new for 3 s, and the origins heard what the topics say they should
                # (a slow machine can pause longer than that between the first answers);
                # the topics are read again after each further 2 s of quiet
                if stable >= 15 and stable % 10 == 5 and now >= _count_to_tell(bootstrap):
                    break
                time.sleep(0.2)
        stop.set()
        thread.join(timeout=60)
        _count(summary, bootstrap, hub, apps)
    return summary


def _run(coroutine):
    from hub import eventloop

    return eventloop.run(coroutine)


@functools.cache
def _serializer() -> TopicSerializer:
    return TopicSerializer(SingleObjectCodec(SchemaStore(default_schema_dir())))


def _count_to_tell(bootstrap: str) -> int:
    serializer = _serializer()
    expected, _ = _statuses_to_tell(bootstrap, serializer, _routed(bootstrap, serializer))
    return sum(len(ids) for ids in expected.values())


def _routed(bootstrap: str, serializer: TopicSerializer) -> list[dict[str, Any]]:
    """The routed reports that came in through the demo's connectors."""
    found = []
    for message in read_to_end(bootstrap, topics.ROUTED):
        routed = serializer.deserialize(topics.ROUTED, message.value())
        if routed["report"]["source"]["connector"] in DEMO_CONNECTORS:
            found.append(routed)
    return found


def _statuses_to_tell(
    bootstrap: str, serializer: TopicSerializer, routed: list[dict[str, Any]]
) -> tuple[dict[str, set[str]], Counter]:
    """Ids of the handling agencies' statuses each origin should hear, and every status
    published, by canonical status."""
    handlers = {  # hub id -> (origin, handling agencies, whether only the fallback took it)
        r["decision"]["hub_id"]: (
            r["report"]["source"]["connector"],
            {d["agency"] for d in r["decision"]["destinations"] if d["role"] == "HANDLER"},
            r["decision"]["fallback"],
        )
        for r in routed
    }
    expected: dict[str, set[str]] = {}
    published: Counter = Counter()
    for instance in DEMO_CONNECTORS:
        for message in read_to_end(bootstrap, topics.status(instance)):
            update = serializer.deserialize(topics.status(instance), message.value())
            published[update["status"]] += 1
            origin, agencies, fallback = handlers.get(update["hub_id"], ("", set(), False))
            if fallback and update["status"] in lifecycle.ENDING:
                continue  # the fallback cannot end a report nobody took: it awaits designation
            if update["agency"] in agencies:
                expected.setdefault(origin, set()).add(update["update_id"])
    return expected, published


def _count(summary: DemoSummary, bootstrap: str, hub: HubRuntime, apps: dict[str, Any]) -> None:
    serializer = _serializer()
    directory = load_directory(default_rules_dir() / "directory")
    routed_reports = _routed(bootstrap, serializer)
    for routed in routed_reports:
        summary.routed += 1
        decision = routed["decision"]
        summary.unmatched += decision["fallback"]
        for destination in decision["destinations"]:
            kind = directory.get(destination["agency"]).kind.value
            summary.destinations[DESTINATION_KINDS[kind]] += 1
    summary.delivered.update(
        {
            "lapor-nasional": len(apps["lapor"].state.delivered),
            "open311-surabaya": len(apps["open311"].state.delivered),
            "kemensos-soap": len(apps["soap"].state.delivered),
            "dinas-bandung": len(apps["dinas"].state.delivered),
        }
    )
    expected, published = _statuses_to_tell(bootstrap, serializer, routed_reports)
    summary.statuses.update(published)
    summary.to_tell = Counter({origin: len(ids) for origin, ids in expected.items()})
    for stage in topics.STAGES:
        for message in read_to_end(bootstrap, topics.dead_letter(stage)):
            reason = records.text(records.headers_of(message), records.ERROR_MESSAGE)
            summary.dead_letters[f"{stage}: {reason[:70]}"] += 1
    for worker in hub.delivery.values():
        summary.latencies_ms += worker.latencies_ms
    origins = {
        "lapor": "lapor-nasional",
        "open311": "open311-surabaya",
        "soap": "kemensos-soap",
        "dinas": "dinas-bandung",
        "sms": "sms-1708",
        "csv": "csv-kutim",
    }
    for name, app in apps.items():
        summary.told[origins[name]] = len(app.state.feedback)
