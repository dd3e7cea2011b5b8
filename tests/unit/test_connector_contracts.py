"""Every built-in connector passes the same contract kit a third-party connector runs."""

from __future__ import annotations

import json

from connectors.csv_export import CsvExport
from connectors.declarative import Declarative
from connectors.lapor_json import LaporJson
from connectors.open311 import Open311
from connectors.sms1708 import Sms1708
from connectors.soap_ministry import SoapMinistry
from hub.sdk import RawMessage
from hub.sdk.testing import ConnectorContract


def js(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


LAPOR = {
    "tracking_id": "LPR-2026-000007",
    "jenis": "pengaduan",
    "judul": "Jalan berlubang",
    "isi": "Jalan berlubang di depan SDN Gubeng 1, sudah tiga bulan.",
    "sumber": "android",
    "dibuat_pada": "2026-11-20T08:15:00+07:00",
    "kategori": {"kode": "infrastruktur.jalan", "nama": "Jalan Rusak"},
    "lokasi": {"kode_wilayah": "35.78", "alamat": "Kel. Gubeng"},
    "pelapor": {"nama": "Siti", "telepon": "0812", "anonim": False},
    "lampiran": [{"url": "https://x/1.jpg", "tipe": "image/jpeg", "ukuran": 2048}],
}


class TestLaporJson(ConnectorContract):
    connector_class = LaporJson
    config = {"agency": "kemenpan-rb", "base_url": "http://127.0.0.1:9"}
    samples = [
        RawMessage("LPR-2026-000007", js(LAPOR)),
        RawMessage(
            "LPR-2026-000008",
            js(
                {
                    **LAPOR,
                    "tracking_id": "LPR-2026-000008",
                    "jenis": "aspirasi",
                    "isi": "Mohon taman 🌳",
                }
            ),
        ),
    ]
    bad_samples = [
        (RawMessage("x", b'{"tracking_id": "x", "isi": '), "malformed JSON"),
        (
            RawMessage("x", js({"tracking_id": "x", "isi": "a"})),
            "missing required field dibuat_pada",
        ),
        (RawMessage("x", '{"isi": "caf\xe9"}'.encode("latin-1")), "not valid UTF-8"),
        (RawMessage("x", js([1, 2])), "must be a JSON object"),
    ]
    unknown_field = (RawMessage("LPR-9", js({**LAPOR, "rt_rw": "03/05"})), "rt_rw")


OPEN311 = {
    "service_request_id": "1001",
    "status": "open",
    "service_code": "sampah",
    "service_name": "Sampah",
    "description": "Sampah menumpuk di TPS Jl. Darmo.",
    "requested_datetime": "2026-11-21T07:00:00+07:00",
    "address": "Jl. Darmo, Surabaya",
    "lat": "-7.28",
    "long": "112.73",
    "email": "warga@contoh.id",
}


class TestOpen311Json(ConnectorContract):
    connector_class = Open311
    config = {"agency": "pemkot-surabaya", "base_url": "http://127.0.0.1:9"}
    samples = [RawMessage("1001", js(OPEN311))]
    bad_samples = [(RawMessage("1", js({"service_request_id": "1"})), "missing required field")]
    unknown_field = (
        RawMessage("1002", js({**OPEN311, "agency_sensitive": "ya"})),
        "agency_sensitive",
    )


class TestOpen311Xml(ConnectorContract):
    connector_class = Open311
    config = {"agency": "pemkot-surabaya", "base_url": "http://127.0.0.1:9", "format": "xml"}
    samples = [
        RawMessage(
            "1001",
            b"<request><service_request_id>1001</service_request_id>"
            b"<description>Got mampet &amp; banjir</description>"
            b"<requested_datetime>2026-11-21T07:00:00Z</requested_datetime>"
            b"<lat>-7.28</lat><long>112.73</long></request>",
            "application/xml",
        )
    ]
    bad_samples = [
        (
            RawMessage(
                "x",
                b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b '
                b'"&a;&a;&a;&a;">]><request>&b;</request>',
                "application/xml",
            ),
            "DTD",
        ),
        (
            RawMessage(
                "x",
                b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM '
                b'"file:///etc/passwd">]><request>&x;</request>',
                "application/xml",
            ),
            "refused",
        ),
        (RawMessage("x", b"<request><description>tanpa tutup", "application/xml"), "malformed XML"),
    ]
    unknown_field = (
        RawMessage(
            "1003",
            b"<request><service_request_id>1003</service_request_id>"
            b"<description>x</description><requested_datetime>2026-11-21T07:00:00Z"
            b"</requested_datetime><rt>04</rt></request>",
            "application/xml",
        ),
        "rt",
    )


class TestSms1708(ConnectorContract):
    connector_class = Sms1708
    config = {"agency": "admin-nasional"}
    samples = [
        RawMessage(
            "SMS-1",
            js(
                {
                    "id": "SMS-1",
                    "dari": "+6281234567890",
                    "pesan": "LAPOR# jalan rusak di Kel. Gubeng, Surabaya",
                    "diterima_pada": "2026-11-22T09:00:00+07:00",
                }
            ),
        )
    ]
    bad_samples = [
        (RawMessage("x", js({"id": "x", "dari": "+62"})), "missing required field pesan"),
        (RawMessage("x", b"[]"), "one per SMS"),
    ]
    unknown_field = (
        RawMessage(
            "SMS-2", js({"id": "SMS-2", "dari": "+62812", "pesan": "x", "operator": "Telkomsel"})
        ),
        "operator",
    )


class TestCsvExport(ConnectorContract):
    connector_class = CsvExport
    config = {"agency": "pemkab-kutai-timur"}
    samples = [
        RawMessage(
            "K-1",
            js(
                {
                    "no_laporan": "K-1",
                    "tanggal": "2026-11-01 10:00",
                    "jenis": "pengaduan",
                    "judul": "Sampah",
                    "isi": "Sampah pasar tidak diangkut",
                    "kode_wilayah": "64.08",
                    "nama_pelapor": "Budi",
                    "anonim": "tidak",
                }
            ),
        )
    ]
    bad_samples = [
        (RawMessage("x", js({"no_laporan": "x", "isi": "y"})), "missing required field tanggal")
    ]
    unknown_field = (
        RawMessage("K-2", js({**json.loads(samples[0].body), "no_laporan": "K-2", "rt": "3"})),
        "rt",
    )


SOAP = (
    b'<Pengaduan xmlns="urn:kementerian:pengaduan:v1"><Urutan>1</Urutan>'
    b"<NomorAgenda>AG/00001/XI/2026</NomorAgenda><Jenis>PENGADUAN</Jenis>"
    b"<Perihal>Bansos</Perihal><Uraian>PKH belum cair tiga bulan</Uraian>"
    b"<TanggalSurat>2026-11-19T10:00:00+07:00</TanggalSurat><KodeWilayah>73.06</KodeWilayah>"
    b"<Lampiran>surat.pdf</Lampiran></Pengaduan>"
)


class TestSoapMinistry(ConnectorContract):
    connector_class = SoapMinistry
    config = {"agency": "kemensos", "base_url": "http://127.0.0.1:9"}
    samples = [RawMessage("AG/00001/XI/2026", SOAP, "application/xml")]
    bad_samples = [
        (RawMessage("x", b"<Pengaduan><Uraian>x</Uraian></Pengaduan>"), "without"),
        (RawMessage("x", b"\xff\xfe<x/>"), "malformed XML"),
    ]
    unknown_field = (RawMessage("AG/00001/XI/2026", SOAP, "application/xml"), "Lampiran")


DINAS = {
    "id": "D-1",
    "type": "usulan",
    "subject": "Taman",
    "message": "Lampu taman mati",
    "created_at": "2026-11-23T19:00:00+07:00",
    "where": {"text": "Taman Lansia", "kemendagri": "32.73"},
}


class TestDeclarative(ConnectorContract):
    connector_class = Declarative
    config = {
        "agency": "pemkot-bandung",
        "base_url": "http://127.0.0.1:9",
        "mapping": "connectors/declarative/examples/dinas-json.yaml",
    }
    samples = [RawMessage("D-1", js(DINAS))]
    bad_samples = [
        (RawMessage("D-2", js({"id": "D-2", "subject": "x"})), "missing required field message")
    ]
    unknown_field = (RawMessage("D-3", js({**DINAS, "prioritas": "tinggi"})), "prioritas")
