"""`lapor-hub broker start | status | stop` as a user runs them, and a restart keeps data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.broker import free_base_port
from hub.settings import jar_cache, load_settings
from tests.helpers import consume_keys, produce_numbered, unique

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def run_hub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_start_status_stop_and_a_restart_keeps_the_data(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LAPOR_HUB_HOME": str(tmp_path / "home"),
        "LAPOR_HUB_CACHE": str(jar_cache(load_settings())),
        "COLUMNS": "200",
    }
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    port = free_base_port()
    bootstrap = f"127.0.0.1:{port}"
    try:
        started = run_hub(env, "broker", "start", "--port", str(port))
        assert started.returncode == 0, started.stderr
        assert f"export KAFKA_BOOTSTRAP_SERVERS={bootstrap}" in started.stdout

        status = run_hub(env, "broker", "status")
        assert status.returncode == 0, status.stderr
        assert f"listener {bootstrap}" in status.stdout
        assert "Apache Kafka 4.4.0" in status.stdout
        assert str(tmp_path / "home" / "broker" / "single" / "node-1" / "data") in status.stdout
        assert run_hub(env, "broker", "status", "--bootstrap").stdout.strip() == bootstrap
        assert "already running" in run_hub(env, "broker", "start").stdout

        topic = unique("lapor.test.cli")
        assert produce_numbered(bootstrap, topic, 200) == 200

        stopped = run_hub(env, "broker", "stop")
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        assert "killed" not in stopped.stdout
        after_stop = run_hub(env, "broker", "status")
        assert after_stop.returncode == 1 and "stopped" in after_stop.stdout

        # the port is remembered from the first start: no --port needed
        assert run_hub(env, "broker", "start").returncode == 0
        assert consume_keys(bootstrap, topic, 200) == {str(n) for n in range(200)}
    finally:
        run_hub(env, "broker", "stop")
