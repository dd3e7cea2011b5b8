"""What a changed rule set would do to past reports: each re-decided with the new rules and
compared with the decision it got, grouped by where its handlers would move.

The reports come from whoever reads them (``lapor-hub rules dry-run`` reads lapor.reports
and, for the decision each got when it was routed, lapor.routed: routing has no Kafka
code). A report whose original decision is not at hand (the topic's retention, a report
routed before the window read) is compared with a decision re-made by the baseline rules
(the published ones, or those the operator names); with ``stored=False`` every report is.
Only handlers move a report; changed copies are counted beside.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.errors import BadInput
from hub.routing.decision import Decision
from hub.routing.engine import Router
from hub.sdk.reports import parse_time

_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def since_time(text: str, now: datetime | None = None) -> datetime:
    """``--since``: a duration back from now (90s, 30m, 24h, 7d, 2w) or an ISO 8601 time
    (without a zone, WIB). ValueError says which it is not."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match:
        amount, unit = int(match.group(1)), _UNITS[match.group(2)]
        try:
            return (now or datetime.now(UTC)) - timedelta(**{unit: amount})
        except OverflowError as exc:
            raise ValueError(f"{text!r} reaches before the year 1") from exc
    try:
        return parse_time(text, "--since")
    except BadInput as exc:
        raise ValueError(
            f"{text!r} is neither a duration (7d, 24h, 30m) nor an ISO 8601 time"
        ) from exc


@dataclass(frozen=True)
class Routed:
    """Handlers and copies of one decision, whoever made it."""

    handlers: tuple[str, ...]
    copies: tuple[str, ...]
    rules_version: str

    @classmethod
    def of(cls, decision: Decision) -> Routed:
        return cls(tuple(decision.handlers), tuple(decision.copies), decision.rules_version)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Routed:
        """From a RoutingDecision record (what lapor.routed carries)."""
        roles: dict[str, list[str]] = {"HANDLER": [], "COPY": []}
        for destination in record["destinations"]:
            roles.setdefault(destination["role"], []).append(destination["agency"])
        return cls(tuple(roles["HANDLER"]), tuple(roles["COPY"]), record["rules_version"])


def original(record: dict[str, Any]) -> bool:
    """Whether a RoutingDecision record is a report's first routing (not the tracker's
    re-routing after "not our authority", nor an escalation)."""
    return not record.get("excluded_agencies") and not record.get("escalated")


@dataclass
class Move:
    old: tuple[str, ...]
    new: tuple[str, ...]
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "from": list(self.old),
            "to": list(self.new),
            "count": self.count,
            "examples": self.examples,
        }


@dataclass
class DryRun:
    rules_version: str
    examples: int = 3
    re_decided: int = 0
    moved: int = 0
    copies_changed: int = 0
    against_stored: int = 0  # compared with the decision the report got when routed
    against_rules: int = 0  # compared with a decision the baseline rules re-made
    baseline_version: str | None = None
    moves: dict[tuple[tuple[str, ...], tuple[str, ...]], Move] = field(default_factory=dict)

    @property
    def unchanged(self) -> int:
        return self.re_decided - self.moved

    def add(self, hub_id: str, old: Routed, new: Routed) -> None:
        self.re_decided += 1
        if set(old.copies) != set(new.copies):
            self.copies_changed += 1
        if set(old.handlers) == set(new.handlers):
            return
        self.moved += 1
        key = (old.handlers, new.handlers)
        move = self.moves.get(key)
        if move is None:
            move = self.moves[key] = Move(*key)
        move.count += 1
        if len(move.examples) < self.examples:
            move.examples.append(hub_id)

    def by_count(self) -> list[Move]:
        return sorted(self.moves.values(), key=lambda m: (-m.count, m.old, m.new))

    def to_json(self) -> dict[str, Any]:
        return {
            "rules_version": self.rules_version,
            "baseline_version": self.baseline_version,
            "re_decided": self.re_decided,
            "moved": self.moved,
            "unchanged": self.unchanged,
            "copies_changed": self.copies_changed,
            "compared_with": {"stored": self.against_stored, "re_decided": self.against_rules},
            "moves": [m.to_json() for m in self.by_count()],
        }


def dry_run(
    reports: Iterable[tuple[dict[str, Any], dict[str, Any] | None]],
    router: Router,
    baseline: Callable[[], Router],
    stored: bool = True,
    examples: int = 3,
) -> DryRun:
    """Re-decide each (report, its original RoutingDecision record or None) with
    ``router``; compare with the stored decision when ``stored`` and there is one, else
    with ``baseline()``'s (built on first need)."""
    result = DryRun(router.version, examples)
    made: list[Router] = []
    for report, decision in reports:
        new = Routed.of(router.decide(report))
        if stored and decision is not None:
            old = Routed.from_record(decision)
            result.against_stored += 1
        else:
            if not made:
                made.append(baseline())
                result.baseline_version = made[0].version
            old = Routed.of(made[0].decide(report))
            result.against_rules += 1
        result.add(report.get("hub_id", ""), old, new)
    return result
