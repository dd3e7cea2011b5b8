"""Realistic canonical records for the demo, tests and benchmarks.

Indonesian report text in the shapes citizens send (a short SMS to a long web complaint),
real region codes, the privacy flags in their usual mix. Seeded: the same seed gives the
same records.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.sdk.reports import hub_id

_PLACES = [
    ("35.78", "Kota Surabaya", "Jl. Ahmad Yani, Kel. Gubeng, Kec. Gubeng"),
    ("32.73", "Kota Bandung", "Jl. Asia Afrika No. 8, Kec. Sumur Bandung"),
    ("34.71", "Kota Yogyakarta", "Jl. Malioboro, Kec. Gedong Tengen"),
    ("64.08", "Kab. Kutai Timur", "Desa Sangatta Utara, Kec. Sangatta Utara"),
    ("32.01", "Kab. Bogor", "Desa Sukamaju, Kec. Cibungbulang"),
    ("31.71", "Kota Adm. Jakarta Pusat", "Jl. Medan Merdeka Barat, Kec. Gambir"),
    ("73.71", "Kota Makassar", "Jl. Urip Sumoharjo, Kec. Panakkukang"),
    ("11.71", "Kota Banda Aceh", "Gampong Peuniti, Kec. Baiturrahman"),
]
_TOPICS = [
    ("infrastruktur.jalan", "Jalan rusak", "Jalan berlubang dan rusak parah"),
    ("sosial.bansos", "Bansos", "Bantuan sosial PKH belum diterima padahal terdaftar di DTKS"),
    ("pelayanan.adminduk", "Adminduk", "Pembuatan KTP-el dipungut biaya oleh oknum petugas"),
    ("kesehatan.bpjs", "BPJS Kesehatan", "Pasien peserta BPJS ditolak di IGD rumah sakit"),
    ("pendidikan.ppdb", "PPDB", "Sistem zonasi PPDB tidak sesuai jarak rumah ke sekolah"),
    ("lingkungan.sampah", "Sampah", "Sampah menumpuk di TPS tidak diangkut selama dua minggu"),
    ("listrik.pln", "Listrik", "Listrik padam berulang kali tanpa pemberitahuan"),
]
_SENTENCES = [
    "Kondisi ini sudah berlangsung lebih dari tiga bulan dan belum ada tindak lanjut.",
    "Warga sudah melapor ke kelurahan namun tidak ada tanggapan sama sekali.",
    "Mohon bapak/ibu pejabat terkait segera meninjau lokasi dan memperbaiki keadaan.",
    "Kami khawatir akan terjadi kecelakaan, terutama saat hujan dan malam hari.",
    "Anak-anak sekolah setiap hari melewati jalan ini dengan berjalan kaki.",
    "Saya sudah mengurus berkas lengkap sesuai persyaratan yang diumumkan.",
    "Petugas meminta uang tambahan di luar ketentuan tarif resmi yang berlaku.",
    "Terima kasih atas perhatian dan tindak lanjutnya. Semoga pelayanan publik makin baik.",
    "Lokasi tepatnya di depan masjid, sekitar 200 meter dari pasar tradisional.",
    "Mohon informasi sampai kapan perbaikan akan dilaksanakan oleh dinas terkait.",
]
_NAMES = ["Siti Rahmawati", "Budi Santoso", "Ni Luh Putu Ayu", "Andi Pratama", "Dewi Lestari"]
_CHANNELS = ["WEB", "MOBILE_APP", "SMS", "SOCIAL_MEDIA", "EMAIL", "WALK_IN", "API", "OPEN311"]
_KINDS = ["COMPLAINT"] * 6 + ["ASPIRATION"] * 2 + ["INFORMATION_REQUEST", "WHISTLEBLOWING"]


def sample_report(rng: random.Random, body_sentences: int | None = None) -> dict[str, Any]:
    """One canonical Report; ``body_sentences`` sets its size (0 -> ~350 B, 15 -> ~2 KB)."""
    code, city, street = rng.choice(_PLACES)
    category, source_category, title = rng.choice(_TOPICS)
    sentences = body_sentences if body_sentences is not None else rng.randint(0, 15)
    body = title + ". " + " ".join(rng.choice(_SENTENCES) for _ in range(sentences))
    connector = rng.choice(["lapor-nasional", "open311-surabaya", "sms-1708", "csv-kutim"])
    source_id = f"{connector[:3].upper()}-{rng.randint(1, 10**9):09d}"
    submitted = datetime(2026, 11, 2, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 30000))
    anonymous = rng.random() < 0.2
    return {
        "hub_id": hub_id(connector, source_id),
        "source": {
            "connector": connector,
            "agency": rng.choice(["kemenpanrb", "pemkot-surabaya", "kemensos", "pemkab-kutim"]),
            "source_id": source_id,
            "channel": rng.choice(_CHANNELS),
            "url": f"https://lapor.example.go.id/laporan/{source_id}"
            if rng.random() < 0.5
            else None,
        },
        "kind": rng.choice(_KINDS),
        "title": title,
        "body": body,
        "language": "id",
        "category": category,
        "source_category": source_category,
        "location": {
            "region_code": code,
            "region_confidence": 1.0,
            "address": f"{street}, {city}",
            "postal_code": f"{rng.randint(10000, 99999)}" if rng.random() < 0.4 else None,
            "latitude": rng.uniform(-11.0, 6.0) if rng.random() < 0.3 else None,
            "longitude": rng.uniform(95.0, 141.0) if rng.random() < 0.3 else None,
        },
        "submitted_at": submitted,
        "received_at": submitted + timedelta(seconds=rng.randint(1, 600)),
        "reporter": {
            "name": None if anonymous else rng.choice(_NAMES),
            "phone": f"+62812{rng.randint(10**7, 10**8 - 1)}",
            "email": None if rng.random() < 0.5 else "warga@example.id",
            "other_contacts": {},
            "anonymous": anonymous,
            "confidential": rng.random() < 0.1,
        },
        "attachments": [
            {
                "url": f"https://lapor.example.go.id/lampiran/{source_id}/{n}.jpg",
                "media_type": "image/jpeg",
                "size_bytes": rng.randint(20_000, 3_000_000),
                "sha256": f"{rng.getrandbits(256):064x}",
                "name": f"foto-{n}.jpg",
            }
            for n in range(rng.choice([0, 0, 1, 2]))
        ],
        "extra": {"source.rt_rw": '"RT 03/RW 05"'} if rng.random() < 0.3 else {},
    }


def lapor_app_message(report: dict[str, Any], tracking_id: str) -> bytes:
    """A sample report as the LAPOR!-style app sends it (what the lapor-json connector reads)."""
    import json

    return json.dumps(
        {
            "tracking_id": tracking_id,
            "jenis": "pengaduan",
            "judul": report["title"],
            "isi": report["body"],
            "dibuat_pada": report["submitted_at"].isoformat(),
            "lokasi": {"kode_wilayah": report["location"]["region_code"]},
        },
        ensure_ascii=False,
    ).encode()


def destination_connectors() -> dict[str, dict[str, Any]]:
    """Configuration of the connectors the agency directory delivers through (no app URLs:
    for workers that route, not deliver)."""
    from pathlib import Path

    mapping = (
        Path(__file__).resolve().parents[1] / "connectors/declarative/examples/dinas-json.yaml"
    )
    return {
        "lapor-nasional": {"type": "lapor-json", "agency": "admin-nasional"},
        "open311-surabaya": {"type": "open311", "agency": "pemkot-surabaya"},
        "kemensos-soap": {"type": "soap-ministry", "agency": "kemensos"},
        "dinas-bandung": {
            "type": "declarative",
            "agency": "pemkot-bandung",
            "mapping": str(mapping),
        },
    }
