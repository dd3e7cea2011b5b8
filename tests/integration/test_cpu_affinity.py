"""`lapor-hub up --cpus N`: the hub's own threads run on core N; its tracker, started from the
pinned process, takes back the cores the hub was started with, and runs nicer than the data
plane; a core the process may not use stops the start, naming the cores it may."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hub.affinity import listed, usable_cpus
from hub.cli.run import TRACKER_NICE
from tests.helpers import stop_process, unique

pytestmark = [pytest.mark.kafka]


def allowed(pid: int) -> dict[int, str]:
    """Each thread of ``pid``: the cores it may run on, as /proc lists them."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except OSError:  # a thread that ended meanwhile
            continue
        found[int(task.name)] = status.split("Cpus_allowed_list:")[1].split()[0]
    return found


def niceness(pid: int) -> set[int]:
    """The nice values of ``pid``'s threads, as /proc gives them."""
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # a thread that ended meanwhile
            continue
        found.add(int(fields[16]))  # stat's 19th field; the list starts at its 3rd
    return found


def children(pid: int) -> list[int]:
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


def config_file(folder: Path, bootstrap: str) -> Path:
    path = folder / "hub.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "group_prefix": unique("cpus"),
                "kafka": {"bootstrap": bootstrap},
                "connectors": {
                    "lapor-nasional": {"type": "lapor-json", "agency": "admin-nasional"}
                },
            }
        )
    )
    return path


def up(config: Path) -> list[str]:
    return [sys.executable, "-m", "hub", "up", "--config", str(config)]


def cores(listed: str) -> frozenset[int]:
    from hub.affinity import parse_cpus

    return frozenset(parse_cpus(listed))


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: nothing to tell apart")
def test_the_hub_runs_on_its_core_and_its_tracker_nicer_on_the_cores_it_was_given(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    given = os.sched_getaffinity(0)
    core = max(given)
    log_path = tmp_path / "up.log"
    with log_path.open("ab") as log:
        hub = subprocess.Popen(
            [*up(config_file(tmp_path, kafka_bootstrap)), "--cpus", str(core)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        # its Kafka clients' threads started (the route hop's, the deliveries') and its tracker
        while len(allowed(hub.pid)) < 20 or not children(hub.pid):
            assert hub.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.5)
        time.sleep(2)  # more threads, started after the pin
        threads = allowed(hub.pid)
        assert len(threads) > 10, threads  # librdkafka's, the loop's, the route hop's
        assert {cores(listed) for listed in threads.values()} == {frozenset({core})}, threads
        (tracker,) = children(hub.pid)
        assert {cores(listed) for listed in allowed(tracker).values()} == {frozenset(given)}
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert niceness(hub.pid) == {ours}
        assert niceness(tracker) == {min(ours + TRACKER_NICE, 19)}
    finally:
        stop_process(hub)
    assert hub.returncode == 0, log_path.read_text()[-3000:]


def test_a_core_the_hub_may_not_use_stops_it_naming_the_cores_it_may(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    beyond = (os.cpu_count() or 1) + 7
    done = subprocess.run(
        [*up(config_file(tmp_path, kafka_bootstrap)), "--cpus", str(beyond), "--no-tracker"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert done.returncode != 0
    said = done.stdout + done.stderr
    assert f"cannot run on cores {beyond}: it may use {listed(usable_cpus())}" in said, said
    assert "lapor-hub 1 up" not in said, "it said it was up before refusing"
