"""What a hub process holds in memory for its life: the collector tuning (hub.memory), each
case in a fresh interpreter (the tuning is process-wide and must not reach the test
session), and what a delivery worker keeps of its deliveries."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import gc, json
from hub import memory
made = [{"kept": [i]} for i in range(1000)]  # what a process holds once it has started
tuned = memory.tune_collector()
print(json.dumps({"tuned": tuned, "threshold": gc.get_threshold(),
                  "frozen": gc.get_freeze_count()}))
"""


def probe(**env: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout)


def test_a_started_process_freezes_what_it_holds_and_collects_its_youngest_less_often():
    found = probe(LAPOR_HUB_GC="")
    assert found["tuned"] is True
    assert found["threshold"] == [10_000, 20, 20]
    assert found["frozen"] >= 2000  # the 1,000 dicts and their lists, at least


@pytest.mark.parametrize("setting", ["default", "DEFAULT"])
def test_lapor_hub_gc_default_keeps_pythons_own_collector(setting: str):
    found = probe(LAPOR_HUB_GC=setting)
    assert found["tuned"] is False
    assert found["threshold"] == [700, 10, 10]
    assert found["frozen"] == 0


def test_a_delivery_worker_keeps_only_its_latest_deliveries():
    """A hub delivers for months: what a worker keeps of each delivery for a look (its key,
    its latency) is bounded, the ledger holds them all, and the count goes on."""
    from hub.dataplane.deliver import RECENT, Recent

    kept = Recent()
    for number in range(RECENT + 5):
        kept[f"hub-{number}:kemenkes"] = f"INS-{number}"
    assert len(kept) == RECENT
    assert "hub-0:kemenkes" not in kept and "hub-4:kemenkes" not in kept
    assert kept[f"hub-{RECENT + 4}:kemenkes"] == f"INS-{RECENT + 4}"
    assert next(iter(kept)) == "hub-5:kemenkes"  # the oldest left is the first after those
