"""`lapor-hub connectors list | show | test | new` as an integrator uses them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BUILT_IN = ["csv-export", "declarative", "lapor-json", "open311", "sms-1708", "soap-ministry"]


def hub(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", "connectors", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_list_and_show() -> None:
    listed = hub("list")
    assert listed.returncode == 0
    for name in BUILT_IN:
        assert name in listed.stdout
    shown = json.loads(hub("show", "open311").stdout)
    assert shown["capabilities"] == ["deliver", "feedback", "pull", "status"]
    assert "format" in shown["config_schema"]["properties"]
    unknown = hub("show", "open-311")
    assert unknown.returncode == 2 and "installed: csv-export" in " ".join(unknown.stderr.split())


def test_test_prints_the_report_without_identity_and_the_app_format(tmp_path: Path) -> None:
    sample = tmp_path / "laporan.json"
    sample.write_text(
        json.dumps(
            {
                "tracking_id": "LPR-1",
                "isi": "Jalan rusak di Gubeng",
                "dibuat_pada": "2026-11-20T08:00:00+07:00",
                "pelapor": {"nama": "Siti Kanari", "telepon": "0812999"},
            }
        )
    )
    result = hub("test", "lapor-json", "--sample", str(sample))
    assert result.returncode == 0, result.stderr
    assert '"body": "Jalan rusak di Gubeng"' in result.stdout
    assert "Siti Kanari" not in result.stdout.split("what the app receives")[0]
    assert "what the app receives" in result.stdout and "1 translated, 0 refused" in result.stdout


def test_test_names_the_reason_a_sample_is_refused(tmp_path: Path) -> None:
    sample = tmp_path / "ekspor.csv"
    sample.write_text("no_laporan,tanggal,isi\nK-1,2026-11-01,Sampah\n,2026-11-01,tanpa nomor\n")
    result = hub("test", "csv-export", "--sample", str(sample))
    assert result.returncode == 1
    assert "refused: line 3: no_laporan is empty" in result.stderr
    assert "1 translated, 1 refused" in result.stdout


@pytest.mark.slow
def test_a_scaffolded_connector_is_discovered_and_passes_the_contract_kit(tmp_path: Path) -> None:
    made = hub("new", "pemkot-contoh", "--dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    package = tmp_path / "lapor-connector-pemkot-contoh"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(package)]
    subprocess.run(pip, check=True, timeout=300)
    try:
        tests = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                str(package / "tests"),
            ],
            cwd=package,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert tests.returncode == 0, tests.stdout + tests.stderr
        assert "6 passed" in tests.stdout
        assert "pemkot-contoh" in hub("list").stdout
        sampled = hub("test", "pemkot-contoh", "--sample", str(package / "samples/report.json"))
        assert sampled.returncode == 0, sampled.stderr
    finally:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "uninstall",
                "--quiet",
                "-y",
                "lapor-connector-pemkot-contoh",
            ],
            check=False,
            timeout=120,
        )


def test_a_plugin_that_does_not_load_leaves_the_others_working(tmp_path: Path) -> None:
    """A package registered under the entry-point group whose module is gone (uninstalled
    half-way, a broken release) is left out with its error; the built-in ones still load."""
    dist = tmp_path / "broken_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[lapor_hub.connectors]\nbroken-plugin = no_such_module_anywhere:Connector\n"
    )
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
        "from hub.sdk.registry import available, get_connector\n"
        "from hub.errors import ConnectorNotFound\n"
        "assert 'lapor-json' in available()\n"
        "try:\n    get_connector('broken-plugin')\nexcept ConnectorNotFound as e:\n"
        "    print(e)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "does not load" in result.stdout and "no_such_module_anywhere" in result.stdout
    assert "left out" in result.stderr
