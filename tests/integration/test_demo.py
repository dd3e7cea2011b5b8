"""`make demo` end to end: every built-in connector, nothing lost, malformed input refused."""

from __future__ import annotations

import pytest
from rich.console import Console

from hub.demo import DEMO_CONNECTORS, run_demo
from hub.demo_summary import print_summary

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_the_demo_loses_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    summary = run_demo(Console(width=120))
    print_summary(Console(width=120), summary)
    assert summary.lost == 0
    assert set(summary.filed) == set(DEMO_CONNECTORS), "reports came in through each connector"
    assert summary.routed == sum(summary.filed.values()) - summary.malformed
    assert summary.unmatched == 2, "two reports no rule claims reach the national fallback"
    assert sum(summary.delivered.values()) == sum(summary.destinations.values()), (
        "every destination of every routed report was delivered, once (counted at the apps)"
    )
    assert sum(summary.dead_letters.values()) == summary.malformed
    assert {"RESOLVED", "POSTPONED", "IN_PROGRESS"} <= set(summary.statuses)
    # every origin app heard each status of its citizens' reports' handlers, once
    assert all(summary.told[origin] > 0 for origin in summary.filed), summary.told
    assert summary.told == summary.to_tell
    assert "lost=0" in capsys.readouterr().out
