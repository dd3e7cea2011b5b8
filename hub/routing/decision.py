"""What the router decides, as plain data: a Decision (handlers, copies, the reason, the
rules version, the location it used), an Explanation of every rule's verdict, and the
decision counts exported to Prometheus at scrape time."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from hub.routing.location import ResolvedLocation
from hub.routing.rules import PlacedRule, Priority

UNMATCHED = "unmatched"
OUTCOMES: Counter[str] = Counter()  # every Router of the process adds to it


class _DecisionsCollector(Collector):
    """Exports the decision counts at scrape time, so deciding pays no metric cost."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "lapor_routing_decisions",
            "Routing decisions by outcome (matched; unmatched: sent to the fallback; escalated).",
            labels=["outcome"],
        )
        for outcome in ("matched", UNMATCHED, "escalated"):
            family.add_metric([outcome], OUTCOMES[outcome])
        yield family


REGISTRY.register(_DecisionsCollector())


@dataclass(slots=True)
class Decision:
    hub_id: str
    handlers: list[str]
    copies: list[str]
    matched_rules: list[str]
    rules_version: str
    reason: str
    location: ResolvedLocation
    priority: Priority | None = None
    sla_working_days: int | None = None
    fallback: bool = False
    escalated: bool = False
    excluded: list[str] = field(default_factory=list)
    decided_at_ms: int = field(default_factory=lambda: time.time_ns() // 1_000_000)

    @property
    def decided_at(self) -> datetime:
        return datetime.fromtimestamp(self.decided_at_ms / 1000, UTC)

    @property
    def outcome(self) -> str:
        """matched, unmatched (sent to the fallback) or escalated."""
        return "escalated" if self.escalated else UNMATCHED if self.fallback else "matched"

    @property
    def destinations(self) -> list[str]:
        return [*self.handlers, *self.copies]

    def to_record(self) -> dict[str, Any]:
        """The RoutingDecision Avro record."""
        return {
            "hub_id": self.hub_id,
            "destinations": [{"agency": a, "role": "HANDLER"} for a in self.handlers]
            + [{"agency": a, "role": "COPY"} for a in self.copies],
            "matched_rules": list(self.matched_rules),
            "rules_version": self.rules_version,
            "reason": self.reason,
            "decided_at": self.decided_at,
            "priority": self.priority.value.upper() if self.priority else None,
            "sla_working_days": self.sla_working_days,
            "fallback": self.fallback,
            "escalated": self.escalated,
            "excluded_agencies": list(self.excluded),
            "location_note": self.location.note,
        }

    def located(self, report: dict[str, Any]) -> dict[str, Any]:
        """The report with the region found for it (when inferred) in its location."""
        if self.location.source not in ("address", "text"):
            return report
        location = {
            **report["location"],
            "region_code": self.location.region_code,
            "region_confidence": self.location.confidence,
        }
        return {**report, "location": location}


@dataclass
class RuleVerdict:
    rule: PlacedRule
    matched: bool
    reasons: list[str]
    targets: list[str] = field(default_factory=list)


@dataclass
class Explanation:
    decision: Decision
    verdicts: list[RuleVerdict]
