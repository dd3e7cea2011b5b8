"""One report's history as a timeline: what ``lapor-hub reports show`` prints, in time
order, from the tracker's state of the report and the dead letters of its key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.records import Letter
from hub.tracker.lifecycle import clock_condition


@dataclass(frozen=True)
class Event:
    at: int | float | str | datetime | None  # epoch ms, or as stored
    kind: str  # received, routed, status, assignment, suggestion, awaiting, dead_letter
    text: str
    agency: str | None = None


def _order(event: Event) -> float:
    moment = event.at
    if isinstance(moment, int | float):
        return float(moment)
    if isinstance(moment, datetime):
        return moment.timestamp() * 1000
    if isinstance(moment, str):
        try:
            return datetime.fromisoformat(moment).timestamp() * 1000
        except ValueError:
            return 0.0
    return 0.0


def timeline(state: dict[str, Any], letters: list[Letter]) -> list[Event]:
    events = [Event(state.get("received_at"), "received", f"via {state.get('origin') or '?'}")]
    for decision in state.get("decisions", []):
        flags = [f for f in ("escalated", "fallback") if decision.get(f)]
        events.append(
            Event(
                decision["at"],
                "routed",
                f"{', '.join(decision['destinations'])}: {decision['reason']} "
                f"[rules {decision['rules_version']}{'; ' + ', '.join(flags) if flags else ''}]",
            )
        )
    for change in state.get("history", []):
        said = f" ({change['source_status']})" if change.get("source_status") else ""
        by = f" by {change['actor']}" if change.get("actor") else ""
        message = f": {change['message']}" if change.get("message") else ""
        events.append(
            Event(
                change["at"],
                "status",
                f"{change['status']}{said}{by}{message}",
                change["agency"],
            )
        )
    for note in state.get("assignments", []):
        relieved = f"; relieved {', '.join(note['relieved'])}" if note.get("relieved") else ""
        events.append(
            Event(
                note["at"],
                "assignment",
                f"{note['agency']} by {note['by']}: {note['reason']} "
                f"({note.get('outcome', '')}{relieved})",
                note["agency"],
            )
        )
    for note in state.get("suggestions", []):
        events.append(
            Event(note["at"], "suggestion", f"{note['named']} by {note['by']} ({note['outcome']})")
        )
    waiting = state.get("awaiting_designation")
    if waiting and state.get("state") == "open":
        events.append(Event(waiting.get("since"), "awaiting", waiting.get("why", "")))
    for letter in letters:
        events.append(Event(letter.timestamp, "dead_letter", f"{letter.stage}: {letter.reason}"))
    return sorted(events, key=_order)


def clocks(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Each agency's role, status and SLA clocks, as rows."""
    rows = []
    for agency, entry in state.get("agencies", {}).items():
        for name, clock in (entry.get("clocks") or {"-": None}).items():
            condition = "" if clock is None else clock_condition(clock)
            rows.append(
                {
                    "agency": agency,
                    "role": entry.get("role", ""),
                    "status": entry.get("status") or "",
                    "clock": name,
                    "started": clock.get("started") if clock else None,
                    "due": clock.get("due") if clock else None,
                    "condition": condition,
                }
            )
    return rows
