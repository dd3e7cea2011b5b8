"""`lapor-hub up` starts its tracker again when the tracker exits without being asked, and a
tracker that cannot go on says why and exits for that."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
import yaml

from hub import eventloop
from hub.runtime import tracker_process, wait_until
from hub.tracker.app import TrackerStopped
from tests.conftest import new_local_cluster
from tests.helpers import unique
from tests.integration.test_tracker_gaps import new_tracker

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


def test_a_tracker_whose_broker_is_gone_as_it_starts_stops_to_start_over(
    tmp_path: Path,
) -> None:
    """A broker lost between the tracker's topic checks and faust's start: faust's app cannot
    be started twice, so the tracker says why and stops (exit code 3 from `lapor-hub
    tracker`) for its supervisor to start a new one, rather than a traceback."""
    cluster = new_local_cluster(tmp_path / "kafka")
    cluster.start()
    try:
        tracker = new_tracker(cluster.bootstrap, tmp_path, unique("gone"))
    finally:
        cluster.stop()
    with pytest.raises(
        TrackerStopped, match=r"faust's app could not start: no broker of .* took its connection"
    ):
        eventloop.run(asyncio.wait_for(tracker.run(asyncio.Event()), 120))
