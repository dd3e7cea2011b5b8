"""CSV exports, for an app that can do nothing else: the file is imported row by row.

Columns (Indonesian, as such apps export them): no_laporan, tanggal, jenis, judul, isi,
kategori, kode_wilayah, alamat, nama_pelapor, telepon, email, anonim, rahasia. Other
columns are kept in the report's ``extra``. A bad row is refused with its line number; the
other rows go on.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
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
    read_text,
    require,
)
from hub.sdk.inputs import LEGACY_CHARSETS

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
# One row's bytes at most: room for a 64 KiB complaint and its other columns, and under the
# csv module's 131,072-character field limit, so no field of a row can pass it.
MAX_ROW_BYTES = 128 * 1024
TERMINATORS = re.compile(r"\r\n|\r|\n")


def records(text: str, delimiter: str) -> Iterator[tuple[int, str]]:
    """Each record of a CSV text and the line it ends on, split where the csv module would
    split it (a quoted field may hold line breaks and doubled quotes; a quote inside an
    unquoted field is text), in one pass without backtracking, so that a bad record is
    known by its own bytes and the next record is still found after it."""
    d = re.escape(delimiter)
    field = rf'(?:"(?:[^"]++|"")*+"?+[^{d}\r\n]*+|[^{d}\r\n]*+)'
    record = re.compile(rf"{field}(?:{d}{field})*+(\r\n|\r|\n|\Z)")
    position, line = 0, 0
    while position < len(text):
        found = record.match(text, position)
        assert found is not None and found.end() > position  # every record ends somewhere
        position, whole = found.end(), found.group()
        # every line break is a line, a quoted field's too, and so is a last line without one
        line += len(TERMINATORS.findall(whole)) + (not whole.endswith(("\n", "\r")))
        yield line, text[found.start() : found.start(1)]  # without the break ending it


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
        """Each row a message, or a BadInput with its line number and its own bytes: a row
        that is too long or cannot be read is refused alone, the rest of the file goes on."""
        text = decode_text(data.removeprefix(b"\xef\xbb\xbf"), self.config.charset)
        codec = self._codec()
        rows = records(text, self.config.delimiter)
        header: list[str] | None = None
        for line, content in rows:
            kept = content.encode(codec, "replace")
            if len(kept) > MAX_ROW_BYTES:
                yield BadInput(
                    f"line {line}: the row is {len(kept):,} bytes, over the "
                    f"{MAX_ROW_BYTES:,}-byte limit for a row",
                    body=kept,
                )
                if header is None:
                    return  # no header, no columns to read the rest by
                continue
            try:
                row = next(csv.reader([content], delimiter=self.config.delimiter), [])
            except csv.Error as exc:
                yield BadInput(f"line {line}: the row cannot be read as CSV: {exc}", body=kept)
                continue
            if not row:
                continue  # a blank line, as csv.DictReader skips it
            if header is None:
                header = row
                missing = [c for c in ("no_laporan", "tanggal", "isi") if c not in header]
                if missing:
                    # the first line is not quoted: in a file without a header it is a
                    # report, reporter included (the file is kept whole, sealed)
                    known = [c for c in header if c.strip().isidentifier() and len(c) <= 40]
                    yield BadInput(
                        f"the file has no column {', '.join(missing)}: its first line has "
                        f"{len(header)} cells, {len(known)} of them shaped like column names "
                        "(a file without a header line?)",
                        body=kept,
                    )
                    return
                continue
            if len(row) != len(header):
                yield BadInput(
                    f"line {line}: expected {len(header)} columns, the row has {len(row)}",
                    body=kept,
                )
                continue
            values = {k.strip(): v.strip() for k, v in zip(header, row, strict=True)}
            if not values.get("no_laporan"):
                yield BadInput(f"line {line}: no_laporan is empty", body=kept)
                continue
            yield RawMessage(
                values["no_laporan"],
                json.dumps(values, ensure_ascii=False).encode(),
                headers={"line": str(line)},
            )
        if header is None:
            yield BadInput("the file has no header row (no_laporan, tanggal, isi, ...)", body=data)

    def _codec(self) -> str:
        """The codec decode_text read the file with, to give a row back its own bytes."""
        declared = self.config.charset.strip().lower()
        return declared if declared in LEGACY_CHARSETS else "utf-8"

    def to_report(self, raw: RawMessage) -> dict[str, Any]:
        row = parse_json(raw.body)
        if not isinstance(row, dict):
            raise BadInput("a CSV row must be a JSON object of its columns")
        require(row, "no_laporan", "tanggal", "isi")
        return new_report(
            connector=self.instance,
            agency=self.config.agency,
            source_id=row["no_laporan"],
            channel="OTHER",
            kind=KINDS.get((read_text(row, "jenis") or "").lower(), "UNKNOWN"),
            title=row.get("judul"),
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
                "anonymous": (read_text(row, "anonim") or "").lower() in TRUE,
                "confidential": (read_text(row, "rahasia") or "").lower() in TRUE,
            },
            extra=extra_fields(row, set(COLUMNS)),
        )
