"""`lapor-hub import` puts an agency's export file through its connector, as an operator
runs it: good rows into lapor.in.<connector>, a bad row refused with its line and reason
(and kept in the ingest dead letters), the same file twice files nothing twice."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hub import topics
from hub.kafka import read_to_end
from hub.records import FAILED_TO
from tests.helpers import unique

pytestmark = [pytest.mark.kafka]
COLUMNS = ["no_laporan", "tanggal", "jenis", "isi", "kode_wilayah"]


def export(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def test_an_export_file_is_imported_from_the_command_line(kafka_bootstrap: str, tmp_path: Path):
    instance = unique("csv-kutim")
    config = tmp_path / "hub.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "connectors": {
                    instance: {"type": "csv-export", "agency": "pemkab-kutai-timur"},
                    "lapor-nasional": {"type": "lapor-json", "agency": "admin-nasional"},
                }
            }
        )
    )
    rows = [
        {
            "no_laporan": f"K-{n}",
            "tanggal": "2026-11-01 10:00",
            "jenis": "pengaduan",
            "isi": f"Sampah menumpuk di pasar Sangatta {n}",
            "kode_wilayah": "64.08",
        }
        for n in range(12)
    ]
    rows.insert(5, {"no_laporan": "", "tanggal": "2026-11-01", "isi": "tanpa nomor"})
    file = tmp_path / "laporan-november.csv"
    file.write_bytes(export(rows))
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "COLUMNS": "200"}

    def run(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "hub", "import", *args, "--config", str(config)]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)

    done = run(str(file), "--connector", instance)
    assert done.returncode == 1, done.stderr  # a row was refused
    assert "12 rows in, 1 refused" in done.stdout
    assert "line 7: no_laporan is empty" in done.stdout
    again = run(str(file), "--connector", instance)
    assert "12 rows in, 1 refused" in again.stdout
    keys = [m.key() for m in read_to_end(kafka_bootstrap, topics.inbound(instance))]
    assert len(keys) == 24 and len(set(keys)) == 12, "twice the rows, each source id once"
    # refused rows wait on the connector's own failed topic for the hub to move them to the
    # ingest dead letters (hub.dataplane.failures)
    refused = [
        m
        for m in read_to_end(kafka_bootstrap, topics.failed(instance))
        if dict(m.headers() or [])[FAILED_TO] == topics.dead_letter("ingest").encode()
    ]
    assert len(refused) == 2 and all(m.value() for m in refused), "kept whole, not empty"

    wrong = run(str(file), "--connector", "lapor-nasional")
    assert wrong.returncode == 2 and instance in " ".join(wrong.stderr.split())
