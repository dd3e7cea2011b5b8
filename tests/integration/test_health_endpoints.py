"""What an orchestrator and an operator ask a running hub: /healthz (the process lives),
/readyz (it does its work: the broker answers, its consumers hold partitions, the tracker's
tables are recovered) and /metrics, on the address the configuration gives; and the
configuration's kafka: section is where every command finds Kafka, whatever KAFKA_* the
shell has."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from hub import audit
from tests.helpers import stop_process, unique

pytestmark = [pytest.mark.kafka]


def free_port() -> int:
    """A port with a free neighbour (the tracker serves on port + 1)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with socket.socket() as neighbour:
            try:
                neighbour.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue


def answer(url: str) -> tuple[int, dict]:
    try:
        response = httpx.get(url, timeout=5)
    except httpx.TransportError:
        return 0, {}
    return response.status_code, response.json()


def wait_for(url: str, status: int, seconds: float) -> dict:
    deadline, last = time.monotonic() + seconds, (0, {})
    while time.monotonic() < deadline:
        last = answer(url)
        if last[0] == status:
            return last[1]
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer {status} in {seconds:.0f} s; last: {last}")


def config_file(folder: Path, bootstrap: str, port: int | None = None) -> Path:
    config = {
        "group_prefix": unique("health"),
        "kafka": {"bootstrap": bootstrap},
        "connectors": {"lapor-nasional": {"type": "lapor-json", "agency": "admin-nasional"}},
    }
    if port:
        config["metrics"] = {"host": "127.0.0.1", "port": port}
    path = folder / "hub.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def elsewhere() -> dict[str, str]:
    """The environment of a shell that points at another Kafka (the suite's shared one, or
    none): what the configuration says must win."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    return {**env, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "COLUMNS": "300"}


def test_ready_once_working_unready_when_the_broker_goes_alive_throughout(tmp_path: Path):
    from hub.broker import LocalCluster
    from tests.conftest import new_local_cluster

    cluster: LocalCluster = new_local_cluster(tmp_path / "kafka")
    cluster.start()
    port = free_port()
    config = config_file(tmp_path, cluster.bootstrap, port)
    log_path = tmp_path / "up.log"
    with log_path.open("ab") as log:
        hub = subprocess.Popen(
            [sys.executable, "-m", "hub", "up", "--config", str(config)],
            env=elsewhere(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base, tracker = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
    try:
        ready = wait_for(f"{base}/readyz", 200, 120)
        assert ready["checks"] == {"kafka": "ok", "partitions": "ok", "webhooks": "ok"}
        alive = wait_for(f"{base}/healthz", 200, 5)
        assert alive["status"] == "alive"
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        assert "lapor_stage_records" in metrics or "lapor_routing" in metrics, metrics[:500]
        tables = wait_for(f"{tracker}/readyz", 200, 120)
        assert tables["checks"] == {"kafka": "ok", "tables": "ok"}

        cluster.stop()
        unready = wait_for(f"{base}/readyz", 503, 30)
        assert cluster.bootstrap in unready["checks"]["kafka"], unready
        assert unready["checks"]["partitions"] == "ok"  # nothing else is blamed
        assert answer(f"{base}/healthz")[0] == 200, "a broker away is no reason to restart"
        assert hub.poll() is None, "the hub stopped when the broker went away"
    finally:
        stop_process(hub, 90)
        cluster.stop()
    assert answer(f"{base}/healthz")[0] == 0, "the endpoints went with the process"


def test_every_command_reaches_kafka_where_the_configuration_says(
    own_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("LAPOR_HUB_AUDIT_KEY", base64.b64encode(os.urandom(32)).decode())
    marker = unique("marker")
    audit.record(own_bootstrap, "rules.reload", {"marker": marker})
    config = config_file(tmp_path, own_bootstrap)

    def run(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "hub", *args],
            env={**elsewhere(), **env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    given = run("--config", str(config), "audit")
    assert given.returncode == 0, given.stderr
    assert marker in given.stdout
    by_variable = run("audit", LAPOR_HUB_CONFIG=str(config))
    assert by_variable.returncode == 0, by_variable.stderr
    assert marker in by_variable.stdout
    own = run("retries", "list", "--config", str(config))  # a command's own --config
    assert own.returncode == 0, own.stderr

    broken = tmp_path / "broken.yaml"
    broken.write_text(
        yaml.safe_dump({**yaml.safe_load(config.read_text()), "kafka": {"bootstrap": ""}})
    )
    refused = run("--config", str(broken), "audit")
    assert refused.returncode == 2
    assert "kafka.bootstrap" in refused.stderr, refused.stderr
    lone = yaml.safe_load(config.read_text())
    lone["kafka"] = {"bootstrap": own_bootstrap, "username": "hub"}
    broken.write_text(yaml.safe_dump(lone))
    refused = run("--config", str(broken), "audit")
    assert refused.returncode == 2 and "password_env" in refused.stderr, refused.stderr
