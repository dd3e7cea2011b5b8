"""Translations per second per connector, on one core.

Each built-in connector translates realistic messages of its app (Indonesian report text,
300 to 2,000 bytes, from the sample generator) into canonical Reports (inbound), and
delivering connectors translate routed reports into their app's format (outbound). Rates
are medians of 5 rounds.

The last line is the summary, inbound translations per second per connector:
    connectors: lapor-json=N open311-json=N ... (in/s)
Usage: python bench/connectors.py [--messages N]
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script, this file's folder comes first on sys.path and its name would hide the
# connectors package: drop the folder
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from xml.sax.saxutils import escape  # noqa: E402

from connectors.csv_export import CsvExport  # noqa: E402
from connectors.declarative import Declarative  # noqa: E402
from connectors.lapor_json import LaporJson  # noqa: E402
from connectors.open311 import Open311  # noqa: E402
from connectors.sms1708 import Sms1708  # noqa: E402
from connectors.soap_ministry import SoapMinistry  # noqa: E402
from hub.samples import sample_report  # noqa: E402
from hub.sdk import Capability, RawMessage  # noqa: E402
from hub.sdk.testing import DECISION  # noqa: E402


def lapor(r: dict) -> bytes:
    return json.dumps(
        {
            "tracking_id": r["source"]["source_id"],
            "jenis": "pengaduan",
            "judul": r["title"],
            "isi": r["body"],
            "sumber": "web",
            "dibuat_pada": r["submitted_at"].isoformat(),
            "kategori": {"kode": r["category"], "nama": r["source_category"]},
            "lokasi": {
                "kode_wilayah": r["location"]["region_code"],
                "alamat": r["location"]["address"],
            },
            "pelapor": {"nama": r["reporter"]["name"], "telepon": r["reporter"]["phone"]},
        },
        ensure_ascii=False,
    ).encode()


def open311(r: dict) -> dict:
    return {
        "service_request_id": r["source"]["source_id"],
        "status": "open",
        "service_code": "jalan",
        "service_name": r["title"],
        "description": r["body"],
        "requested_datetime": r["submitted_at"].isoformat(),
        "address": r["location"]["address"],
        "email": r["reporter"]["email"],
    }


def open311_xml(r: dict) -> bytes:
    fields = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in open311(r).items() if v)
    return f"<request>{fields}</request>".encode()


def sms(r: dict) -> bytes:
    return json.dumps(
        {
            "id": r["source"]["source_id"],
            "dari": r["reporter"]["phone"],
            "pesan": f"LAPOR# {r['body'][:300]} di {r['location']['address']}",
        },
        ensure_ascii=False,
    ).encode()


def csv_row(r: dict) -> bytes:
    return json.dumps(
        {
            "no_laporan": r["source"]["source_id"],
            "tanggal": r["submitted_at"].isoformat(),
            "jenis": "pengaduan",
            "judul": r["title"],
            "isi": r["body"],
            "kode_wilayah": r["location"]["region_code"],
            "alamat": r["location"]["address"],
            "nama_pelapor": r["reporter"]["name"] or "",
        },
        ensure_ascii=False,
    ).encode()


def soap(r: dict) -> bytes:
    values = {
        "NomorAgenda": r["source"]["source_id"],
        "Jenis": "PENGADUAN",
        "Perihal": r["title"],
        "Uraian": r["body"],
        "TanggalSurat": r["submitted_at"].isoformat(),
        "KodeWilayah": r["location"]["region_code"],
    }
    inner = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in values.items())
    return f'<Pengaduan xmlns="urn:kementerian:pengaduan:v1">{inner}</Pengaduan>'.encode()


def dinas(r: dict) -> bytes:
    return json.dumps(
        {
            "id": r["source"]["source_id"],
            "type": "keluhan",
            "subject": r["title"],
            "message": r["body"],
            "created_at": r["submitted_at"].isoformat(),
            "where": {"text": r["location"]["address"], "kemendagri": r["location"]["region_code"]},
            "citizen": {"name": r["reporter"]["name"]},
        },
        ensure_ascii=False,
    ).encode()


CASES: list[tuple[str, object, Callable[[dict], bytes], str]] = [
    ("lapor-json", LaporJson({"agency": "kemenpan-rb"}), lapor, "application/json"),
    (
        "open311-json",
        Open311({"agency": "pemkot-surabaya"}),
        lambda r: json.dumps(open311(r), ensure_ascii=False).encode(),
        "application/json",
    ),
    (
        "open311-xml",
        Open311({"agency": "pemkot-surabaya", "format": "xml"}),
        open311_xml,
        "application/xml",
    ),
    ("sms-1708", Sms1708({"agency": "admin-nasional"}), sms, "application/json"),
    ("csv-export", CsvExport({"agency": "pemkab-kutai-timur"}), csv_row, "application/json"),
    ("soap-ministry", SoapMinistry({"agency": "kemensos"}), soap, "application/xml"),
    (
        "declarative",
        Declarative(
            {
                "agency": "pemkot-bandung",
                "mapping": "connectors/declarative/examples/dinas-json.yaml",
            }
        ),
        dinas,
        "application/json",
    ),
]


def rate(action: Callable[[object], object], items: list, rounds: int) -> float:
    runs = []
    for _ in range(rounds):
        started = time.perf_counter()
        for item in items:
            action(item)
        runs.append(len(items) / (time.perf_counter() - started))
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    rng = random.Random(311)
    reports = [sample_report(rng) for _ in range(args.messages)]
    inbound: dict[str, float] = {}
    for name, connector, render, content_type in CASES:
        raws = [RawMessage(r["source"]["source_id"], render(r), content_type) for r in reports]
        inbound[name] = rate(connector.to_report, raws, args.rounds)
        line = f"{name:<14} in: {inbound[name]:>8,.0f}/s"
        if Capability.DELIVER in connector.capabilities:
            routed = [{"report": connector.to_report(raw), "decision": DECISION} for raw in raws]
            line += f"   out: {rate(connector.from_routed, routed, args.rounds):>8,.0f}/s"
        sizes = [len(raw.body) for raw in raws]
        print(f"{line}   ({min(sizes)}-{max(sizes)} bytes)")
    summary = " ".join(f"{name}={value:.0f}" for name, value in inbound.items())
    print(f"connectors: {summary} (in/s)")


if __name__ == "__main__":
    main()
