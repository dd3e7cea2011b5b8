"""The hub played against as an attacker and a broken agency app would: a corpus of hostile
payloads through every connector and every stage of the real hub, on a real broker, with
valid reports in between. Every bad one ends as a refused request (4xx with the reason) or
a dead letter with its reason; every valid one is delivered; no process exits; `lapor-hub
dlq list --reasons` counts them."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.csv_export import COLUMNS
from connectors.declarative.simulator import DinasJsonApp
from connectors.lapor_json.simulator import LaporJsonApp
from connectors.open311.simulator import Open311App
from connectors.simulator import free_port, serve
from connectors.soap_ministry import envelope as soap_envelope
from connectors.soap_ministry.simulator import SoapMinistryApp
from connectors.soap_ministry.simulator import _xml as soap_xml
from hub import records, topics
from hub.dataplane.inbound import Inbound, import_file
from hub.eventloop import run as run_async
from hub.health import HEALTH
from hub.kafka import make_producer, read_to_end
from hub.ops.deadletters import Filter, read_letters
from hub.runtime import wait_until
from hub.sdk.reports import hub_id
from hub.sdk.webhook import SIGNATURE_HEADER, sign
from tests.conftest import hub_cli, run_hub

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
SECRET = "rahasia-uji-serangan"
DINAS_MAPPING = (
    Path(__file__).resolve().parents[2] / "connectors/declarative/examples/dinas-json.yaml"
)
VALID_TEXT = "Jalan berlubang besar di Jalan Darmo Surabaya, mohon segera diperbaiki"

Answer = Callable[[dict], tuple[int, bytes, str]]


class Hostile:
    """An agency app gone wrong: planned raw answers (a maintenance page, a page with items
    no app should send, a 200 without the id) in front of a simulated app, each used once,
    by method and path."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.planned: list[tuple[str, str, Answer, tuple[bytes, bytes] | None]] = []
        self.served = 0
        self.lock = threading.Lock()

    def plan(
        self,
        method: str,
        path: str,
        answer: Answer | bytes,
        times: int = 1,
        header: tuple[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests to ``path`` (with ``header``, if given) so."""
        if isinstance(answer, bytes):
            body = answer
            answer = lambda scope: (200, body, "application/json")  # noqa: E731
        wanted = (header[0].lower().encode(), header[1].encode()) if header else None
        with self.lock:
            self.planned += [(method, path, answer, wanted)] * times

    def _take(self, scope: dict) -> Answer | None:
        headers = set(scope.get("headers") or [])
        with self.lock:
            for index, (method, path, answer, wanted) in enumerate(self.planned):
                if method != scope.get("method") or path != scope.get("path"):
                    continue
                if wanted is not None and wanted not in headers:
                    continue
                del self.planned[index]
                self.served += 1
                return answer
        return None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        answer = self._take(scope) if scope["type"] == "http" else None
        if answer is None:
            await self.app(scope, receive, send)
            return
        status, body, content_type = answer(scope)
        headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def query(scope: dict, name: str, default: str = "0") -> str:
    for part in scope.get("query_string", b"").decode().split("&"):
        key, _, value = part.partition("=")
        if key == name:
            return value
    return default


def lapor_page(*items: str, cursor_param: str = "setelah") -> Answer:
    """A LAPOR! page of raw JSON items (texts, so that they may be what json.dumps never
    writes), its cursor left where it was asked, so nothing of the app's own is skipped."""

    def answer(scope: dict) -> tuple[int, bytes, str]:
        cursor = query(scope, cursor_param)
        body = '{"data": [' + ",".join(items) + '], "kursor_berikut": "' + cursor + '"}'
        return 200, body.encode(), "application/json"

    return answer


def lapor_item(tracking_id: str, **fields: Any) -> str:
    item = {
        "tracking_id": tracking_id,
        "jenis": "pengaduan",
        "judul": "Laporan warga",
        "isi": VALID_TEXT,
        "sumber": "web",
        "dibuat_pada": "2026-12-01T09:00:00+07:00",
        "lokasi": {"kode_wilayah": "35.78"},
        **fields,
    }
    return json.dumps(item, ensure_ascii=False)


def raw_declared_too_long(port: int) -> int:
    """POST with a Content-Length of 50 MB and a few bytes sent: the answer's status, which
    must come before the hub reads what was declared."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
            b"Content-Length: 52428800\r\n\r\n{}"
        )
        answer = sock.recv(4096).decode("latin-1")
    return int(answer.split(" ", 2)[1])


def test_no_hostile_input_stops_forges_or_is_lost(own_bootstrap: str, tmp_path: Path) -> None:
    bootstrap = own_bootstrap
    warga, nasional = LaporJsonApp(), LaporJsonApp()
    surabaya, soap, dinas = Open311App(), SoapMinistryApp(), DinasJsonApp()
    hostile = {
        name: Hostile(app.app)
        for name, app in {
            "warga": warga,
            "nasional": nasional,
            "surabaya": surabaya,
            "soap": soap,
            "dinas": dinas,
        }.items()
    }
    sms_port = free_port()
    os.environ["LAPOR_TEST_SMS_SECRETS"] = SECRET
    expected: list[tuple[str, str, str]] = []  # (stage, connector, what its reason says)
    valid: set[str] = set()  # hub ids of the valid reports, each to be delivered

    with contextlib.ExitStack() as stack:
        urls = {name: stack.enter_context(serve(app)) for name, app in hostile.items()}
        config = {
            "group_prefix": "hostile",
            "connectors": {
                "lapor-warga": {
                    "type": "lapor-json",
                    "agency": "pemprov-jawa-timur",
                    "base_url": urls["warga"],
                    "poll_interval_s": 0.3,
                },
                "lapor-nasional": {
                    "type": "lapor-json",
                    "agency": "admin-nasional",
                    "base_url": urls["nasional"],
                    "poll_interval_s": 0.3,
                },
                "open311-surabaya": {
                    "type": "open311",
                    "agency": "pemkot-surabaya",
                    "base_url": urls["surabaya"],
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
                    "mapping": str(DINAS_MAPPING),
                    "poll_interval_s": 0.3,
                },
                "sms-1708": {
                    "type": "sms-1708",
                    "agency": "admin-nasional",
                    "webhook": {"port": sms_port, "secrets_env": "LAPOR_TEST_SMS_SECRETS"},
                },
                "csv-kutim": {"type": "csv-export", "agency": "pemkab-kutai-timur"},
            },
        }
        running = run_hub(stack, config, bootstrap, tmp_path)
        hub, thread, stop, tracker = running.hub, running.thread, running.stop, running.tracker

        # -- pulled pages: a maintenance page, then items no app should send -----------------
        hostile["warga"].plan(
            "GET",
            "/api/v1/laporan",
            lambda s: (200, b"<html><h1>Sedang pemeliharaan</h1></html>", "text/html"),
            times=3,
        )
        deep = "[" * 5000 + "]" * 5000
        bad_items = {
            "1": "the number 1, not an object",
            '{"judul": "tanpa id"}': "missing its id",
            '{"tracking_id": {"a": 1}, "isi": "x"}': "tracking_id must be",
            '{"tracking_id": "", "isi": "id kosong"}': "id",
        }
        hostile["warga"].plan(
            "GET", "/api/v1/laporan", lapor_page(*bad_items, lapor_item("W-OK-1"))
        )
        expected += [("ingest", "lapor-warga", reason) for reason in bad_items.values()]
        valid.add(hub_id("lapor-warga", "W-OK-1"))
        translate_items = {
            lapor_item("W-NAN", isi=None).replace("null", "NaN"): "NaN",
            lapor_item("W-DUP")[:-1] + ', "isi": "dua kali"}': "duplicate",
            lapor_item("W-LIST", judul=["a"]): "judul",
            lapor_item("W-DATE", dibuat_pada="kemarin sore"): "dibuat_pada",
            lapor_item("W-DEEP", extra=json.loads("[" * 60 + "]" * 60)).replace("[]", deep): "deep",
            lapor_item("W-CTRL", isi="jalan\x00rusak\x1b[31m"): "control",
        }
        hostile["warga"].plan(
            "GET", "/api/v1/laporan", lapor_page(*translate_items, lapor_item("W-OK-2"))
        )
        valid.add(hub_id("lapor-warga", "W-OK-2"))
        big = lapor_item("W-BIG", isi="x" * 1_500_000)
        hostile["warga"].plan(
            "GET",
            "/api/v1/laporan",
            lapor_page(big, lapor_item("W-OK-3", pelapor={"nama": "lapor-enc:1:x:A"})),
        )
        expected.append(("ingest", "lapor-warga", "limit"))
        valid.add(hub_id("lapor-warga", "W-OK-3"))
        expected += [("translate", "lapor-warga", "")] * len(translate_items)

        # Open311: an item without an id, one whose coordinates are words
        filed = surabaya.citizen_files(description=VALID_TEXT, address_string="Jl. Darmo 1")
        target = hub_id("open311-surabaya", filed["service_request_id"])
        valid.add(target)
        hostile["surabaya"].plan(
            "GET",
            "/requests.json",
            lambda s: (
                200,
                b'[{"description": "tanpa id", "updated_datetime": "2026-12-01T00:00:00Z"}]',
                "application/json",
            ),
            times=2,  # its pull and its status poll share the endpoint: the pull sees one
        )
        expected.append(("ingest", "open311-surabaya", "id"))
        surabaya.citizen_files(description=VALID_TEXT, lat="utara", long="selatan")
        expected.append(("translate", "open311-surabaya", "lat"))

        # SOAP: a record whose sequence number is a word
        soap.citizen_files(
            Uraian="Bantuan sosial tidak sampai ke warga di Kelurahan Darmo, Surabaya"
        )
        valid.add(hub_id("kemensos-soap", "AG/00001/XI/2026"))
        word = soap_xml("Pengaduan", {"Urutan": "abc", "Jenis": "PENGADUAN", "Uraian": "x"})
        hostile["soap"].plan(
            "POST",
            "/soap",
            lambda s: (200, soap_envelope("AmbilPengaduanResponse", word), "text/xml"),
            header=("SOAPAction", "AmbilPengaduan"),
        )
        expected.append(("ingest", "kemensos-soap", "Urutan"))
        # declarative: an item without an id
        dinas.citizen_files(
            message="Lampu jalan mati di Jalan Braga, Bandung",
            created_at="2026-12-01T08:00:00+07:00",
        )
        valid.add(hub_id("dinas-bandung", "D-1"))
        hostile["dinas"].plan(
            "GET",
            "/api/aduan",
            lambda s: (
                200,
                json.dumps(
                    {
                        "data": [{"message": "tanpa id"}, {"id": True, "message": "id benar"}],
                        "meta": {"next": query(s, "since")},
                    }
                ).encode(),
                "application/json",
            ),
        )
        expected += [("ingest", "dinas-bandung", "id")] * 2

        # -- a webhook: refused at the door with the reason, or the bad item alone --------
        hook = f"http://127.0.0.1:{sms_port}/"

        def push(
            body: bytes, *, signed: bool = True, headers: dict | None = None
        ) -> httpx.Response:
            sent = {"Content-Type": "application/json", **(headers or {})}
            if signed:
                sent[SIGNATURE_HEADER] = sign(SECRET, body)
            return httpx.post(hook, content=body, headers=sent, timeout=30)

        def sms(sms_id: str, text: str, **extra: Any) -> dict:
            return {
                "id": sms_id,
                "dari": "+6281234567890",
                "pesan": text,
                "diterima_pada": int(time.time()),
                **extra,
            }

        refused_pushes = {
            "deep": (("[" * 5000 + "]" * 5000).encode(), {}),
            "nan": (b'{"id": "S-NAN", "dari": "+62812", "pesan": NaN}', {}),
            "duplicate": (b'{"id": "S-D", "dari": "+62812", "pesan": "a", "pesan": "b"}', {}),
            "not json": (b"<xml>bukan json</xml>", {}),
            "utf-8": (b'{"id": "S-U", "dari": "+62812", "pesan": "\xff\xfe"}', {}),
            "signature": (json.dumps(sms("S-SIG", VALID_TEXT)).encode(), {"signed": False}),
            "empty batch": (b"[]", {}),
        }
        for what, (body, options) in refused_pushes.items():
            answer = push(body, **options)
            assert 400 <= answer.status_code < 500, (what, answer.status_code, answer.text)
            assert answer.json()["error"], what
        assert raw_declared_too_long(sms_port) == 413, "a declared length over the limit"
        answer = push(b'{"id": "S-BIG", "pesan": "' + b"x" * (2 * 1024 * 1024) + b'"}')
        assert answer.status_code == 413, answer.text

        def chunks():
            for _ in range(64):
                yield b"x" * 65536

        answer = httpx.post(
            hook, content=chunks(), headers={SIGNATURE_HEADER: sign(SECRET, b"")}, timeout=30
        )
        assert answer.status_code == 413, "a chunked body is cut off at the limit"
        batch = [
            sms("S-OK-1", VALID_TEXT),
            1,
            sms("S-TIME", VALID_TEXT, diterima_pada=1e20),
            sms("S-CTRL", "jalan\x00rusak \x07 di Surabaya"),
            sms("S-LONG", "jalan rusak di kelurahan darmo " * 800),
        ]
        answer = push(json.dumps(batch).encode())
        assert answer.status_code == 202, answer.text
        valid.add(hub_id("sms-1708", "S-OK-1"))
        refused_in_batch = len(answer.json()["refused"])  # refused at the door: kept whole
        expected += [("ingest", "sms-1708", "")] * refused_in_batch
        expected += [("translate", "sms-1708", "")] * (4 - refused_in_batch)

        # -- a file export: a huge cell, missing fields; the rows after them go on -------
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        row = {column: "" for column in COLUMNS}
        writer.writerow(
            {
                **row,
                "no_laporan": "K-OK-1",
                "tanggal": "2026-12-01",
                "jenis": "pengaduan",
                "isi": "Jalan rusak di Sangatta, Kutai Timur",
            }
        )
        writer.writerow(
            {**row, "no_laporan": "K-HUGE", "tanggal": "2026-12-01", "isi": "x" * 200_000}
        )
        writer.writerow({**row, "no_laporan": "K-EMPTY"})
        writer.writerow(
            {
                **row,
                "no_laporan": "K-OK-2",
                "tanggal": "2026-12-01",
                "jenis": "pengaduan",
                "isi": "Puskesmas tutup di Sangatta, Kutai Timur",
            }
        )
        kutim = hub.connectors["csv-kutim"]
        imported = run_async(
            import_file(kutim, out.getvalue().encode(), Inbound(bootstrap, kutim), "ekspor.csv")
        )
        assert imported.accepted >= 2 and len(imported.refused) >= 1, imported
        valid |= {hub_id("csv-kutim", "K-OK-1"), hub_id("csv-kutim", "K-OK-2")}
        expected += [("ingest", "csv-kutim", "")] * len(imported.refused)
        utf16 = "no_laporan,tanggal,isi\nK-9,2026-12-01,jalan rusak\n".encode("utf-16")
        unreadable = run_async(import_file(kutim, utf16, Inbound(bootstrap, kutim), "ekspor-2.csv"))
        assert unreadable.accepted == 0 and unreadable.refused, unreadable
        expected.append(("ingest", "csv-kutim", "UTF-8"))

        # -- straight onto topics, as a connector principal with write access could -------
        producer = make_producer(bootstrap)
        producer.produce(
            topics.inbound("lapor-warga"), key=b"RAW-1", value=b"\x00\x01 bukan apa-apa"
        )
        producer.produce(
            topics.inbound("lapor-warga"),
            key=b"RAW-2",
            value=b"LENC1xxxx",
            headers={records.SEALED: b"no-such-key"},
        )
        expected += [("translate", "lapor-warga", "")] * 2
        producer.produce(
            topics.retry("deliver"),
            key=b"R-1",
            value=b"{}",
            headers={
                records.ERROR_TOPIC: topics.REPORTS.encode(),
                records.ERROR_CONNECTOR: b"lapor-nasional",
                records.NOT_BEFORE: b"0",
            },
        )
        producer.produce(
            topics.retry("deliver"),
            key=b"R-2",
            value=b"{}",
            headers={
                records.ERROR_TOPIC: topics.outbound("lapor-nasional").encode(),
                records.ERROR_CONNECTOR: b"lapor-nasional",
                records.NOT_BEFORE: b"besok",
            },
        )
        expected += [
            ("deliver", "lapor-nasional", "target not allowed"),
            ("deliver", "lapor-nasional", "not a time"),
        ]
        producer.produce(topics.status("lapor-nasional"), key=None, value=b"tanpa kunci")
        producer.produce(
            topics.status("lapor-nasional"), key=b"no-such-report", value=b"\x00garbage"
        )
        producer.produce(topics.ROUTED, key=b"x", value=b"bukan avro")
        expected += [
            ("tracker", "tracker", "key"),
            ("tracker", "tracker", ""),
            ("tracker", "tracker", ""),
        ]
        assert producer.flush(30) == 0

        # -- destinations that answer garbage once: retried, then delivered once -------
        hostile["nasional"].plan(
            "POST", "/api/v1/laporan", lambda s: (200, b'{"ok": true}', "application/json"), times=2
        )
        hostile["soap"].plan(
            "POST",
            "/soap",
            lambda s: (200, b"<html>Gateway</html", "text/html"),
            header=("SOAPAction", "KirimPengaduan"),
        )

        # -- everything valid is delivered; every bad one is a letter with its reason ------
        ledger = lambda: {  # noqa: E731
            (m.key() or b"").decode().split(":")[0]
            for name in config["connectors"]
            for m in read_to_end(bootstrap, topics.ledger(name))
        }
        if not wait_until(lambda: valid <= ledger(), 180):
            stuck = valid - ledger()
            why = [
                (x.stage, x.connector, x.reason)
                for x in read_letters(bootstrap, Filter())
                if (x.key or b"").decode() in stuck or x.stage in ("route", "deliver")
            ]
            routed = [m.key() for m in read_to_end(bootstrap, topics.ROUTED)]
            pytest.fail(
                f"not delivered: {stuck}; routed: {[k for k in routed if k.decode() in stuck]}; letters: {why}"
            )

        # statuses no app of that agency may send: a forged one, garbage ones
        hostile["nasional"].plan(
            "GET",
            "/api/v1/status",
            lapor_page(
                "1",
                '{"id": "S9"}',
                json.dumps(
                    {
                        "id": "S10",
                        "referensi_hub": target,
                        "instansi": "pemkot-surabaya",
                        "status": "selesai",
                        "waktu": "2026-12-02T10:00:00+07:00",
                    }
                ),
                json.dumps(
                    {
                        "id": "S11",
                        "referensi_hub": target,
                        "instansi": "admin-nasional",
                        "status": "proses",
                        "waktu": "kemarin",
                    }
                ),
            ),
        )
        expected += [("status", "lapor-nasional", "")] * 3
        expected.append(("tracker", "tracker", "does not deliver"))

        def letters() -> list:
            return read_letters(bootstrap, Filter())

        def missing() -> list:
            found = letters()
            left = list(found)
            absent = []
            # the most particular expectation first: "" matches any letter of its stage
            for stage, connector, says in sorted(expected, key=lambda e: -len(e[2])):
                match = next(
                    (
                        x
                        for x in left
                        if x.stage == stage
                        and x.connector == connector
                        and says.lower() in x.reason.lower()
                    ),
                    None,
                )
                if match is None:
                    absent.append((stage, connector, says))
                else:
                    left.remove(match)
            return absent

        if not wait_until(lambda: not missing(), 180):
            absent = missing()
            seen = [
                (x.stage, x.connector, x.reason[:120])
                for x in letters()
                if (x.stage, x.connector) in {(a[0], a[1]) for a in absent}
            ]
            pytest.fail(f"no dead letter for {absent}; letters there: {seen}")
        # the maintenance page made the pull back off, and it works again
        side = HEALTH.side("lapor-warga", "pull")
        assert side.state == "working" and side.last_success
        assert hostile["warga"].served >= 5 and hostile["nasional"].served >= 1
        # no process exited: the hub's thread runs, its tracker runs
        assert thread.is_alive() and not stop.is_set(), "the hub stopped"
        assert tracker.poll() is None, "the tracker exited"
        # the forged status changed nothing the origin app was told
        assert not any(s.get("status") == "selesai" for s in surabaya.state.feedback.values())

        listed = hub_cli(bootstrap, "dlq", "list", "--reasons")
        assert listed.returncode == 0, listed.stderr
        assert f"{len(letters())} dead letters" in listed.stdout
        for stage in ("ingest", "translate", "deliver", "status", "tracker"):
            assert stage in listed.stdout
        # letters + pushes refused at the door + the 413s + maintenance pages + bad answers
        corpus = len(expected) + len(refused_pushes) + 3 + 3 + 3
        assert corpus >= 40, f"the corpus holds {corpus} hostile payloads, at least 40"
