"""CSV exports, for an app that can do nothing else: the file is imported row by row.

Columns (Indonesian, as such apps export them): no_laporan, tanggal, jenis, judul, isi,
kategori, kode_wilayah, alamat, nama_pelapor, telepon, email, anonim, rahasia. Other
columns are kept in the report's ``extra``. A bad row is refused with its line number; the
other rows go on.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from hub.errors import BadInput
from hub.sdk import (
    Capability,
    Connector,
    ConnectorConfig,
    RawMessage,
    decode_text,
    extra_fields,
    new_report,
    parse_json,
    parse_time,
    require,
)

KINDS = {
    "pengaduan": "COMPLAINT",
    "aspirasi": "ASPIRATION",
    "permintaan informasi": "INFORMATION_REQUEST",
    "informasi": "INFORMATION_REQUEST",
}
COLUMNS = [
    "no_laporan",
    "tanggal",
    "jenis",
    "judul",
    "isi",
    "kategori",
    "kode_wilayah",
    "alamat",
    "nama_pelapor",
    "telepon",
    "email",
    "anonim",
    "rahasia",
]
TRUE = {"ya", "y", "true", "1", "yes"}


class CsvExportConfig(ConnectorConfig):
    delimiter: str = ","
    charset: str = "utf-8"


class CsvExport(Connector):
    name = "csv-export"
    title = "CSV export of a legacy complaint app"
    capabilities = frozenset({Capability.FILE})
    Config = CsvExportConfig
    config: CsvExportConfig
    content_type = "text/csv"

    def read_file(self, data: bytes) -> Iterator[RawMessage | BadInput]:
        text = decode_text(data.removeprefix(b"\xef\xbb\xbf"), self.config.charset)
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=self.config.delimiter)
        missing = [
            c for c in ("no_laporan", "tanggal", "isi") if c not in (reader.fieldnames or [])
        ]
        if missing:
            yield BadInput(
                f"the file has no column {', '.join(missing)} (header: "
                f"{', '.join(reader.fieldnames or [])})"
            )
            return
        for row in reader:
            line = reader.line_num
            if None in row or any(value is None for value in row.values()):
                count = sum(v is not None for k, v in row.items() if k is not None)
                count += len(row.get(None) or [])
                yield BadInput(
                    f"line {line}: expected {len(reader.fieldnames or [])} columns, "
                    f"the row has {count}"
                )
                continue
            row = {k.strip(): v.strip() for k, v in row.items()}
            if not row.get("no_laporan"):
                yield BadInput(f"line {line}: no_laporan is empty")
                continue
            yield RawMessage(
                row["no_laporan"],
                json.dumps(row, ensure_ascii=False).encode(),
                headers={"line": str(line)},
            )

    def to_report(self, raw: RawMessage) -> dict[str, Any]:
        row = parse_json(raw.body)
        require(row, "no_laporan", "tanggal", "isi")
        return new_report(
            connector=self.instance,
            agency=self.config.agency,
            source_id=row["no_laporan"],
            channel="OTHER",
            kind=KINDS.get(row.get("jenis", "").lower(), "UNKNOWN"),
            title=row.get("judul", ""),
            body=row["isi"],
            submitted_at=parse_time(row["tanggal"], "tanggal"),
            received_at=raw.received_at,
            source_category=row.get("kategori") or None,
            region_code=row.get("kode_wilayah") or None,
            address=row.get("alamat") or None,
            reporter={
                "name": row.get("nama_pelapor") or None,
                "phone": row.get("telepon") or None,
                "email": row.get("email") or None,
                "anonymous": row.get("anonim", "").lower() in TRUE,
                "confidential": row.get("rahasia", "").lower() in TRUE,
            },
            extra=extra_fields(row, set(COLUMNS)),
        )
