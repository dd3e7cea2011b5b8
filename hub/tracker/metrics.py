"""The tracker's Prometheus metrics: per-agency open and overdue reports, clocks run out,
escalations, reports awaiting designation, designations and suggested agencies, events
applied, and what its recovery checks mended."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge

OPEN_REPORTS = Gauge(
    "lapor_agency_open_reports", "Reports an agency handles and has not finished.", ["agency"]
)
OVERDUE_REPORTS = Gauge(
    "lapor_agency_overdue_reports", "Open reports with an SLA clock past its deadline.", ["agency"]
)
OVERDUE = PromCounter(
    "lapor_overdue_clocks", "SLA clocks that ran out, by agency and clock.", ["agency", "clock"]
)
ESCALATIONS = PromCounter(
    "lapor_escalations", "Reports passed to a parent agency after a clock ran out.", ["agency"]
)
EVENTS = PromCounter("lapor_tracker_events", "Events the tracker applied, by kind.", ["kind"])
REWOUND = PromCounter(
    "lapor_tracker_recovery_rewinds",
    "Changelog partitions sought back because faust dropped their records in a recovery.",
)
RECOVERY_MISSES = PromCounter(
    "lapor_tracker_recovery_misses",
    "Reports whose last changelog record faust's table recovery had missed (set at its end).",
)
WAITING_FOR_CALENDAR = Gauge(
    "lapor_tracker_clocks_waiting_for_calendar",
    "Running SLA clocks whose deadline cannot be counted: the holiday data has no year it "
    "reaches (upgrade the holidays package). Their reports stay tracked.",
)
REFUSED = PromCounter(
    "lapor_tracker_refused_records",
    "Input records the tracker could not apply (a dead letter of stage tracker each), by topic.",
    ["topic"],
)
AWAITING_DESIGNATION = Gauge(
    "lapor_reports_awaiting_designation",
    "Open reports the fallback (the national administrator) refused or tried to close with no "
    "other agency handling them: each waits for `lapor-hub reports assign`.",
)
DESIGNATIONS = PromCounter(
    "lapor_tracker_designations",
    "Designations of a handler by the national administrator, by outcome (assigned, ignored).",
    ["outcome"],
)
SUGGESTIONS = PromCounter(
    "lapor_tracker_suggestions",
    'Agencies named by a "not our authority" answer, by outcome (followed, ignored).',
    ["outcome"],
)
PASSED_OVER = PromCounter(
    "lapor_tracker_passed_over",
    "Records the tracker's agent passed over (lost inside faust) and applied at a tick.",
)


def publish_agency_gauges(parts: Iterable[tuple[Counter, Counter]]) -> None:
    """Per agency, open and overdue reports summed over the partitions this process owns
    (each part: (open, overdue) counts by agency)."""
    opened, overdue = Counter(), Counter()
    for part_open, part_overdue in parts:
        opened.update(part_open)
        overdue.update(part_overdue)
    for agency in set(opened) | set(overdue):
        OPEN_REPORTS.labels(agency).set(opened[agency])
        OVERDUE_REPORTS.labels(agency).set(overdue[agency])
