"""CSV exports, for an app that can do nothing else: the file is imported row by row.

Columns (Indonesian, as such apps export them): no_laporan, tanggal, jenis, judul, isi,
kategori, kode_wilayah, alamat, nama_pelapor, telepon, email, anonim, rahasia. Other
columns are kept in the report's ``extra``. A bad row is refused with its line number; the
other rows go on.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

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


STATUS_COLUMNS = ["id_pembaruan", "no_laporan", "status", "instansi", "pesan", "waktu"]


class CsvExportConfig(ConnectorConfig):
    delimiter: str = ","
    charset: str = "utf-8"
    # where the hub writes statuses of the app's reports for it to import (status.csv);
    # without it the app hears nothing back
    feedback_dir: Path | None = None


class CsvExport(Connector):
    name = "csv-export"
    title = "CSV export of a legacy complaint app"
    capabilities = frozenset({Capability.FILE, Capability.FEEDBACK})
    Config = CsvExportConfig
    config: CsvExportConfig
    content_type = "text/csv"

    def __init__(self, config: CsvExportConfig | dict[str, Any], instance: str | None = None):
        super().__init__(config, instance)
        if self.config.feedback_dir is None:
            self.capabilities = frozenset({Capability.FILE})
        self._written: set[str] | None = None  # update ids already in the status file
        self._lock = threading.Lock()

    @property
    def status_file(self) -> Path:
        assert self.config.feedback_dir is not None
        return self.config.feedback_dir / f"status-{self.instance}.csv"

    async def send_status(
        self,
        client: httpx.AsyncClient,
        update: dict[str, Any],
        source_id: str,
        idempotency_key: str,
    ) -> None:
        """One row appended to the status file the app imports (its only way in). A row is
        written once per update id, also across restarts: the file is read back first."""
        await asyncio.to_thread(self._append, update, source_id, idempotency_key)

    def _append(self, update: dict[str, Any], source_id: str, key: str) -> None:
        path = self.status_file
        with self._lock:
            if self._written is None:
                self._written = set()
                if path.exists():
                    with path.open(newline="", encoding="utf-8") as existing:
                        self._written = {r["id_pembaruan"] for r in csv.DictReader(existing)}
            if key in self._written:
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            new = not path.exists() or path.stat().st_size == 0
            with path.open("a", newline="", encoding="utf-8") as out:
                writer = csv.DictWriter(out, fieldnames=STATUS_COLUMNS, lineterminator="\n")
                if new:
                    writer.writeheader()
                writer.writerow(
                    {
                        "id_pembaruan": key,
                        "no_laporan": source_id,
                        "status": update["status"],
                        "instansi": update["agency"],
                        "pesan": update.get("message") or "",
                        "waktu": update["occurred_at"].isoformat(),
                    }
                )
                out.flush()
                os.fsync(out.fileno())
            self._written.add(key)

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
