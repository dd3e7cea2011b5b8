"""`lapor-hub up` starts its tracker again when the tracker exits without being asked."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import yaml

from hub.runtime import tracker_process, wait_until
from tests.helpers import unique

pytestmark = [pytest.mark.kafka]


def test_a_tracker_that_dies_is_started_again(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAPOR_HUB_LOG_JSON", "1")  # its INFO lines too: "starting"
    config_path = tmp_path / "hub.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "group_prefix": unique("watch"),
                "connectors": {"warga": {"type": "lapor-json", "agency": "pemprov-jawa-timur"}},
            }
        )
    )
    log_path = tmp_path / "tracker.log"
    with tracker_process(config_path, kafka_bootstrap, "w1", 1.0, log_path) as tracker:
        first = tracker.child
        assert wait_until(lambda: "tracker w1 starting" in log_path.read_text(), 60), (
            log_path.read_text()[-2000:]
        )
        os.kill(first.pid, signal.SIGKILL)
        assert wait_until(lambda: tracker.restarts == 1, 30), "no new tracker was started"
        second = tracker.child
        assert second.pid != first.pid
        assert wait_until(lambda: log_path.read_text().count("tracker w1 starting") == 2, 60)
        assert second.poll() is None, "the new tracker is running"
    assert second.poll() is not None, "stopped with the hub"
    assert tracker.restarts == 1, "a tracker asked to stop is not started again"
