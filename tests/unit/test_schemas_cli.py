"""`lapor-hub schemas list | show | check | register` as an integrator runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from hub.serialization.store import default_schema_dir


def run_hub(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "SCHEMA_REGISTRY_URL"}
    environment.update(COLUMNS="200", **env)
    return subprocess.run(
        [sys.executable, "-m", "hub", "schemas", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_list_and_show() -> None:
    listed = run_hub("list")
    assert listed.returncode == 0, listed.stderr
    for name in ("Report", "RoutedReport", "RoutingDecision", "StatusUpdate"):
        assert name in listed.stdout
    assert "lapor.out.*" in listed.stdout

    shown = run_hub("show", "StatusUpdate")
    assert shown.returncode == 0
    body = shown.stdout.split("\n", 1)[1]
    assert json.loads(body)["name"] == "StatusUpdate"

    missing = run_hub("show", "Laporan")
    assert missing.returncode == 2
    assert "no schema named 'Laporan'" in missing.stderr


def test_check_passes_on_the_shipped_schemas_and_fails_on_a_broken_version(
    tmp_path: Path,
) -> None:
    ok = run_hub("check")
    assert ok.returncode == 0, ok.stderr
    assert "4 schemas, 7 versions" in ok.stdout

    broken = Path(shutil.copytree(default_schema_dir(), tmp_path / "schemas"))
    schema = json.loads((broken / "StatusUpdate" / "v1.avsc").read_text())
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "agency"]
    (broken / "StatusUpdate" / "v2.avsc").write_text(json.dumps(schema))
    failed = run_hub("check", LAPOR_HUB_SCHEMAS=str(broken))
    assert failed.returncode == 1
    assert "StatusUpdate v2 breaks forward compatibility with v1" in failed.stderr
    assert "agency removed" in failed.stderr


def test_register_needs_a_registry_and_registers_into_one() -> None:
    refused = run_hub("register")
    assert refused.returncode == 2 and "set SCHEMA_REGISTRY_URL" in " ".join(refused.stderr.split())

    registered = run_hub("register", SCHEMA_REGISTRY_URL="mock://cli")
    assert registered.returncode == 0, registered.stderr
    assert "lapor.hub.RoutedReport" in registered.stdout
