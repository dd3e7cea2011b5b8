"""A report's life in the tracker: pure transitions on one JSON-able state per report.

The faust app (hub.tracker.app) feeds events in and carries out the effects that come out;
everything here is plain data, so the rules can be read and tested without Kafka. Every
event carries an id and is applied at most once (its id is kept), so the at-least-once
delivery of faust (events seen again after a crash) changes nothing.

SLA clocks, per handling agency, in working days (LAPOR!'s published rules):
  verification  from delivery (RECEIVED) to VERIFIED or FORWARDED        default 3
  follow_up     from VERIFIED/FORWARDED to the first follow-up (IN_PROGRESS) default 5
  completion    from the routing decision to RESOLVED                      default 30, or
                                                                           the rule's SLA
  auto_close    from RESOLVED: with no reply from the reporter, CLOSED     default 10
POSTPONED (tunda) pauses every running clock; the next other status resumes them, their
deadlines moved by the working days spent paused. An overdue verification, follow-up or
completion escalates the report to the agency's parent once; an expired auto_close closes it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.tracker.calendar import CalendarError, add_working_days, working_days_between

OPEN, DONE = "open", "done"
ESCALATING_CLOCKS = ("verification", "follow_up", "completion")
# status -> (clocks it stops, clocks it starts)
TRANSITIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "RECEIVED": ((), ("verification",)),
    "VERIFIED": (("verification",), ("follow_up",)),
    "FORWARDED": (("verification",), ("follow_up",)),
    "IN_PROGRESS": (("verification", "follow_up"), ()),
    "RESOLVED": (("verification", "follow_up", "completion"), ("auto_close",)),
    "CLOSED": (("verification", "follow_up", "completion", "auto_close"), ()),
    "NOT_AUTHORITY": (("verification", "follow_up", "completion", "auto_close"), ()),
}
FINISHED = {"CLOSED", "NOT_AUTHORITY"}
MAX_PENDING = 50  # statuses of agencies the report never went to are not kept forever
# a report's state is one changelog record, under Kafka's 1 MiB: its history keeps the last
# MAX_HISTORY changes, each message cut at MAX_HISTORY_MESSAGE characters
MAX_HISTORY = 200
MAX_HISTORY_MESSAGE = 1000
NAMESPACE = uuid.UUID("5b0e5a6e-4c1b-4f0b-9d55-6c61706f7268")  # hub-made status update ids


@dataclass(frozen=True)
class SlaDefaults:
    verification: int = 3
    follow_up: int = 5
    completion: int = 30
    auto_close: int = 10

    def days(self, clock: str, state: dict[str, Any]) -> int:
        if clock == "completion" and state.get("sla_days"):
            return int(state["sla_days"])
        return int(getattr(self, clock))


# -- effects: what the tracker must do outside its table --------------------------------


@dataclass(frozen=True)
class Feedback:
    """Send this StatusUpdate back to the app the report came from."""

    update: dict[str, Any]


@dataclass(frozen=True)
class Reroute:
    """Route the report again without the agencies in the chain."""

    refused_by: str


@dataclass(frozen=True)
class Escalate:
    """Pass the report to ``agency``'s parent: ``clock`` ran out."""

    agency: str
    clock: str


def ms(moment: datetime | int) -> int:
    """Epoch milliseconds: how times are kept in the (JSON) state."""
    return moment if isinstance(moment, int) else int(moment.timestamp() * 1000)


def when(moment: datetime | int) -> datetime:
    return at(moment) if isinstance(moment, int) else moment


def at(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


def empty_state(hub_id: str) -> dict[str, Any]:
    return {
        "hub_id": hub_id,
        "origin": None,  # connector instance the report came in through
        "source_id": None,  # the origin app's own id
        "report": None,  # the Report, single-object encoded, base64 (re-routing needs it)
        "region_code": None,
        "received_at": None,
        "sla_days": None,
        "decisions": [],
        "chain": [],  # agencies that answered "not our authority", in order
        "agencies": {},  # agency -> role, status, raw status, clocks
        "history": [],  # every status change applied, in order
        "applied": [],  # ids of events applied (decisions and status updates)
        "pending": [],  # status updates that came before the decision naming their agency
        "state": OPEN,
    }


def decision_id(decision: dict[str, Any]) -> str:
    agencies = ",".join(sorted(d["agency"] for d in decision["destinations"]))
    return f"decision:{decision['rules_version']}:{ms(decision['decided_at'])}:{agencies}"


def apply_decision(
    state: dict[str, Any],
    report: dict[str, Any],
    encoded_report: str,
    decision: dict[str, Any],
    sla: SlaDefaults,
) -> list[Any]:
    """A routing decision (first, re-routed or escalated): new agencies start their clocks."""
    event_id = decision_id(decision)
    if event_id in state["applied"]:
        return []
    state["applied"].append(event_id)
    if state["origin"] is None:
        state.update(
            origin=report["source"]["connector"],
            source_id=report["source"]["source_id"],
            report=encoded_report,
            region_code=report["location"]["region_code"],
            received_at=ms(report["received_at"]),
            sla_days=decision.get("sla_working_days"),
        )
    decided = ms(decision["decided_at"])
    state["decisions"].append(
        {
            "at": decided,
            "rules_version": decision["rules_version"],
            "destinations": [f"{d['agency']} ({d['role']})" for d in decision["destinations"]],
            "reason": decision["reason"],
            "escalated": decision.get("escalated", False),
            "fallback": decision.get("fallback", False),
        }
    )
    for destination in decision["destinations"]:
        agency = destination["agency"]
        known = state["agencies"].get(agency)
        if known is not None:
            if known["role"] == "COPY" and destination["role"] == "HANDLER":
                known["role"] = "HANDLER"  # informed first, its handler now (re-routing)
                _start(state, known, "completion", decided, sla)
            continue
        entry = {
            "role": destination["role"],
            "status": None,
            "source_status": None,
            "clocks": {},
            "escalated": False,
        }
        state["agencies"][agency] = entry
        if destination["role"] == "HANDLER":
            _start(state, entry, "completion", decided, sla)
    effects: list[Any] = []
    pending, state["pending"] = state["pending"], []
    for update in pending:
        effects += apply_status(state, update, sla)
    _settle(state)
    return effects


def apply_status(state: dict[str, Any], update: dict[str, Any], sla: SlaDefaults) -> list[Any]:
    """A status update from an agency's app (or made by the hub)."""
    if update["update_id"] in state["applied"]:
        return []
    update = {**update, "occurred_at": ms(update["occurred_at"])}  # JSON-able
    entry = state["agencies"].get(update["agency"])
    if entry is None:  # its decision is on another topic and has not been read yet
        known = any(p["update_id"] == update["update_id"] for p in state["pending"])
        if not known and len(state["pending"]) < MAX_PENDING:
            state["pending"].append(update)
        return []
    state["applied"].append(update["update_id"])
    moment = update["occurred_at"]
    status = update["status"]
    state["history"].append(
        {
            "id": update["update_id"],
            "agency": update["agency"],
            "status": status,
            "source_status": update.get("source_status"),
            "message": (update.get("message") or "")[:MAX_HISTORY_MESSAGE] or None,
            "actor": update.get("actor"),
            "at": moment,
        }
    )
    del state["history"][:-MAX_HISTORY]
    if status == "POSTPONED":
        for clock in _running(entry):
            clock.setdefault("paused_at", moment)
    elif status != "UNKNOWN":
        _resume(state, entry, moment)
    entry["status"], entry["source_status"] = status, update.get("source_status")
    stops, starts = TRANSITIONS.get(status, ((), ()))
    for name in stops:
        clock = entry["clocks"].get(name)
        if clock and clock.get("stopped") is None:
            clock["stopped"] = moment
    for name in starts:
        if entry["role"] == "HANDLER" and name not in entry["clocks"]:
            _start(state, entry, name, moment, sla)
    effects: list[Any] = []
    if entry["role"] == "HANDLER":
        effects.append(Feedback(update))
        if status == "NOT_AUTHORITY" and update["agency"] not in state["chain"]:
            state["chain"].append(update["agency"])
            effects.append(Reroute(update["agency"]))
    _settle(state)
    return effects


def _due(clock: dict[str, Any], moment: int) -> bool:
    return (
        clock.get("stopped") is None
        and clock.get("paused_at") is None
        and not clock.get("overdue")
        and clock["due"] is not None
        and clock["due"] < moment
    )


def has_due_clock(state: dict[str, Any], now: datetime) -> bool:
    """Whether a tick would change this report (most ticks change nothing)."""
    moment = ms(now)
    return any(
        _due(clock, moment)
        for entry in state["agencies"].values()
        for clock in entry["clocks"].values()
    )


def apply_tick(state: dict[str, Any], now: datetime, sla: SlaDefaults = SlaDefaults()) -> list[Any]:
    """What the passing of time does: an overdue clock escalates its agency's report (the
    tracker marks it ESCALATED once the parent has it); an expired auto-close closes it."""
    effects: list[Any] = []
    moment = ms(now)
    for agency, entry in list(state["agencies"].items()):
        for name, clock in list(entry["clocks"].items()):
            if not _due(clock, moment):
                continue
            clock["overdue"] = True
            if name == "auto_close":
                closed = hub_status(state, agency, "CLOSED", now, "auto_close")
                effects += apply_status(state, closed, sla)
            elif name in ESCALATING_CLOCKS and not entry["escalated"]:
                entry["escalated"] = True
                effects.append(Escalate(agency, name))
    return effects


def hub_status(
    state: dict[str, Any], agency: str, status: str, moment: datetime, why: str
) -> dict[str, Any]:
    """A StatusUpdate the hub makes itself (escalation, auto-close), with a stable id."""
    return {
        "update_id": str(uuid.uuid5(NAMESPACE, f"{state['hub_id']}:{agency}:{status}:{why}")),
        "hub_id": state["hub_id"],
        "agency": agency,
        "status": status,
        "source_status": why,
        "message": None,
        "actor": "lapor-hub",
        "occurred_at": moment,
    }


def overdue_agencies(state: dict[str, Any]) -> list[str]:
    return [
        agency
        for agency, entry in state["agencies"].items()
        if any(c.get("overdue") and c.get("stopped") is None for c in entry["clocks"].values())
    ]


def open_agencies(state: dict[str, Any]) -> list[str]:
    return [
        agency
        for agency, entry in state["agencies"].items()
        if entry["role"] == "HANDLER" and entry["status"] not in FINISHED
    ]


def _start(
    state: dict[str, Any], entry: dict[str, Any], name: str, started: int, sla: SlaDefaults
) -> None:
    days = sla.days(name, state)
    clock = {"started": started, "due": None, "days": days, "stopped": None, "overdue": False}
    entry["clocks"][name] = clock
    _set_due(clock, state["region_code"])


def _set_due(clock: dict[str, Any], region_code: str | None) -> bool:
    """Count a clock's deadline: its working days from its start, plus the working days it
    spent paused. A year the calendar has no holiday data for leaves it waiting (marked
    with the reason and the fix) instead of losing the report: it is counted at a later
    tick, once the data is there. True once it has its deadline."""
    try:
        for paused, resumed in clock.get("pauses", []):
            clock["paused_days"] = clock.get("paused_days", 0) + working_days_between(
                at(paused), at(resumed), region_code
            )
            clock["pauses"] = clock["pauses"][1:]
        days = clock["days"] + clock.get("paused_days", 0)
        clock["due"] = ms(add_working_days(at(clock["started"]), days, region_code))
    except CalendarError as missing:
        clock["due"] = None
        clock["waiting"] = f"{missing.message} Fix: {missing.fix}"
        return False
    clock.pop("pauses", None)
    clock.pop("waiting", None)
    return True


def _running(entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in entry["clocks"].values() if c.get("stopped") is None]


def _resume(state: dict[str, Any], entry: dict[str, Any], resumed: int) -> None:
    for clock in _running(entry):
        paused = clock.pop("paused_at", None)
        if paused is None:
            continue
        if clock["due"] is not None:
            try:
                moved = working_days_between(at(paused), at(resumed), state["region_code"])
                clock["due"] = ms(add_working_days(at(clock["due"]), moved, state["region_code"]))
                clock["paused_days"] = clock.get("paused_days", 0) + moved
                continue
            except CalendarError:
                if clock.get("days") is None:
                    continue  # started before deadlines could wait: it keeps its deadline
        clock["pauses"] = [*clock.get("pauses", []), [paused, resumed]]
        _set_due(clock, state["region_code"])


def waiting_clocks(state: dict[str, Any]) -> int:
    """Running clocks whose deadline waits for holiday data the calendar does not have."""
    return sum(
        1
        for entry in state["agencies"].values()
        for clock in _running(entry)
        if clock.get("waiting")
    )


def count_waiting(state: dict[str, Any]) -> bool:
    """Try again to count the deadlines of clocks waiting for holiday data; True if one
    got its deadline (the state changed)."""
    counted = False
    for entry in state["agencies"].values():
        for clock in _running(entry):
            if clock.get("waiting") and clock.get("days") is not None:
                counted |= _set_due(clock, state["region_code"])
    return counted


def _settle(state: dict[str, Any]) -> None:
    handlers = [e for e in state["agencies"].values() if e["role"] == "HANDLER"]
    done = handlers and all(e["status"] in FINISHED for e in handlers)
    state["state"] = DONE if done and not state["pending"] else OPEN
