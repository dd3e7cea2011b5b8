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

Closing the loop (what the tracker needs of the directory comes in a Policy):
- "Not our authority" re-routes without every agency that refused. The refusing agency may
  name the agency it believes responsible (StatusUpdate.suggested_agency); the report goes
  there when the directory agrees (follow_suggestion says when), else the router decides as
  it would have and the suggestion is recorded as ignored, with the reason.
- The fallback agency (the national administrator) never closes a report no other agency
  took: its NOT_AUTHORITY (naming no agency that can be followed), RESOLVED or CLOSED on a
  report every other handler refused is recorded, not applied as an end: the report stays
  open, "awaiting designation", until a designation gives it a handler.
- A designation (StatusUpdate.designated_agency, from the fallback agency: `lapor-hub reports
  assign`) makes the agency the report's handler whatever its past (a copy, or an agency that
  refused: the administrator overrules it), relieves the handlers before it (role RELIEVED,
  clocks stopped, the origin told) and ends the wait for a designation.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

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
# what the fallback may not answer on a report no other agency took: it would end it
ENDING = {"NOT_AUTHORITY", "RESOLVED", "CLOSED"}
HANDLER, RELIEVED = "HANDLER", "RELIEVED"  # RELIEVED: a handler a designation replaced
MAX_PENDING = 50  # statuses of agencies the report never went to are not kept forever
MAX_REFUSED = 50  # statuses refused, remembered so that one read again is not refused twice
# how far the broker's clock (a status's log time) may be behind the router's (a decision's
# time) and a status still count as written after the decision
CLOCK_SKEW_MS = 2000
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


def _nobody(_named: str) -> str | None:
    return None


@dataclass(frozen=True)
class Policy:
    """What the lifecycle needs to know of the directory and the router, as plain values:
    the tracker makes one from its own (hub.tracker.app), a test writes its own. The
    default knows no agency: suggestions are ignored and the fallback is nobody."""

    fallback: str | None = None  # the national administrator (directory.fallback)
    max_transfers: int | None = None  # refusals after which the router escalates
    # an agency as an app names it (id, name or alias) -> the id of a directory agency the
    # hub delivers to, or None
    resolve: Callable[[str], str | None] = _nobody


NO_POLICY = Policy()


# -- effects: what the tracker must do outside its table --------------------------------


@dataclass(frozen=True)
class Feedback:
    """Send this StatusUpdate back to the app the report came from."""

    update: dict[str, Any]


@dataclass(frozen=True)
class Reroute:
    """Route the report again without the agencies in the chain; to ``suggested`` alone
    when the refusing agency named it and the directory agrees."""

    refused_by: str
    suggested: str | None = None


@dataclass(frozen=True)
class Assign:
    """Route the report to ``agency`` as its handler: the national administrator designated
    it. ``at`` (epoch ms) is the designation's time, the decision's: applying the same
    designation twice makes one decision."""

    agency: str
    by: str
    reason: str
    at: int


@dataclass(frozen=True)
class Refuse:
    """A status the tracker will not apply: a dead letter of stage ``tracker`` with
    ``reason``, counted. It changed nothing."""

    update: dict[str, Any]
    reason: str


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


def _stamp(milliseconds: int) -> str:
    return at(milliseconds).isoformat(timespec="milliseconds")


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
        "refused": [],  # "<update id>@<log time>" of statuses refused (Refuse)
        "state": OPEN,
        # set while the fallback refused or closed a report no other agency took
        "awaiting_designation": None,  # {"since", "by", "status", "why"}
        "assignments": [],  # designations: who, to whom, why, when, the handlers relieved
        "suggestions": [],  # agencies named by refusing agencies: followed or ignored, why
    }


def encode_state(state: dict[str, Any]) -> bytes:
    """A state as the tracker's table and its changelog keep it: JSON bytes. Kept as bytes,
    a state is read (decode_state) as a fresh copy to work on, and the garbage collector
    has nothing of it to walk."""
    return orjson.dumps(state, option=orjson.OPT_NON_STR_KEYS)


def decode_state(raw: bytes | None) -> dict[str, Any] | None:
    """A state kept by encode_state (or an earlier tracker's JSON) as a new dict; None for
    a report the table does not hold."""
    return None if raw is None else orjson.loads(raw)


def copy_state(value: Any) -> Any:
    """A copy of a state (JSON: dicts, lists and immutable values) to work on, so that an
    event failing half-way changes nothing; a third of copy.deepcopy's time, which keeps a
    memo for shapes a state never has."""
    if type(value) is dict:
        return {key: copy_state(item) for key, item in value.items()}
    if type(value) is list:
        return [copy_state(item) for item in value]
    return value


def decision_id(decision: dict[str, Any]) -> str:
    agencies = ",".join(sorted(d["agency"] for d in decision["destinations"]))
    return f"decision:{decision['rules_version']}:{ms(decision['decided_at'])}:{agencies}"


def apply_decision(
    state: dict[str, Any],
    report: dict[str, Any],
    encoded_report: str,
    decision: dict[str, Any],
    sla: SlaDefaults,
    policy: Policy = NO_POLICY,
    logged: int | None = None,
) -> list[Any]:
    """A routing decision (first, re-routed, escalated, suggested or assigned): new agencies
    start their clocks. An agency the report comes back to as handler takes it again: one a
    designation relieved, or one that had finished with it when the router sends it back to
    the fallback or escalates (the national administrator must designate once more).
    ``logged``: when the broker logged the decision (epoch ms), if it dated it: from then
    on, an agency it makes a handler answers for the report (``since``)."""
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
    sent = logged or decided
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
            if destination["role"] == HANDLER and _takes_again(known, decision):
                _handle_anew(state, known, decided, sla, since=sent)
            elif known["role"] == "COPY" and destination["role"] == HANDLER:
                known["role"] = HANDLER  # informed first, its handler now (re-routing)
                known["since"] = sent  # what it wrote as a copy is no handler's answer
                _start(state, known, "completion", decided, sla)
            continue
        entry = {
            "role": destination["role"],
            "status": None,
            "source_status": None,
            "clocks": {},
            "escalated": False,
            "since": sent,  # sent the report: its statuses are written after this
        }
        state["agencies"][agency] = entry
        if destination["role"] == HANDLER:
            _start(state, entry, "completion", decided, sla)
    waiting = state.get("awaiting_designation")
    if waiting and any(
        d["role"] == HANDLER and d["agency"] != waiting["by"] for d in decision["destinations"]
    ):
        state["awaiting_designation"] = None  # another agency handles it now
    effects: list[Any] = []
    pending, state["pending"] = state["pending"], []
    for update in pending:
        effects += apply_status(state, update, sla, policy)
    _settle(state)
    return effects


def _since(state: dict[str, Any], agency: str, entry: dict[str, Any]) -> int | None:
    """From when an agency answers for the report: when it was last made its handler (or
    sent it as a copy). A status the broker logged before (a status held for an agency the
    report was later re-routed to, made up ahead, or written while it was a copy or
    relieved) is refused: the tracker may read a status before the decision that sends
    the report, never may the agency write one before. A state kept from before agencies
    had ``since`` takes the first decision naming the agency."""
    if entry.get("since") is not None:
        return entry["since"]
    prefix = f"{agency} ("
    return next(
        (
            d["at"]
            for d in state["decisions"]
            if any(x.startswith(prefix) for x in d["destinations"])
        ),
        None,
    )


def _takes_again(known: dict[str, Any], decision: dict[str, Any]) -> bool:
    if known["role"] == RELIEVED:
        return True
    return (
        known["role"] == HANDLER
        and known["status"] in FINISHED
        and bool(decision.get("fallback") or decision.get("escalated"))
    )


def _handle_anew(
    state: dict[str, Any],
    entry: dict[str, Any],
    moment: int,
    sla: SlaDefaults,
    since: int | None = None,
):
    """The agency handles the report (again): no status yet, a new completion clock, and
    only what it writes from ``since`` (default ``moment``) on counts."""
    entry.update(
        role=HANDLER,
        status=None,
        source_status=None,
        clocks={},
        escalated=False,
        since=since or moment,
    )
    _start(state, entry, "completion", moment, sla)


def apply_status(
    state: dict[str, Any],
    update: dict[str, Any],
    sla: SlaDefaults,
    policy: Policy = NO_POLICY,
) -> list[Any]:
    """A status update from an agency's app (or made by the hub, or a designation)."""
    if update["update_id"] in state["applied"]:
        return []
    update = {**update, "occurred_at": ms(update["occurred_at"])}  # JSON-able
    designation = bool(update.get("designated_agency"))
    entry = state["agencies"].get(update["agency"])
    if (state["origin"] is None) if designation else (entry is None):
        # its decision is on another topic and has not been read yet
        known = any(p["update_id"] == update["update_id"] for p in state["pending"])
        if not known and len(state["pending"]) < MAX_PENDING:
            state["pending"].append(update)
        return []
    logged = update.pop("logged_at", None)  # the broker's, not a field of the update
    since = None if designation else _since(state, update["agency"], entry)
    if since is not None and logged is not None and logged < since - CLOCK_SKEW_MS:
        # its id is not taken as applied: an app's own ids are its to choose, and a later
        # status may carry it; the same record read again is refused once
        mark = f"{update['update_id']}@{logged}"
        refused = state.setdefault("refused", [])
        if mark in refused:
            return []
        refused[:] = [*refused[-(MAX_REFUSED - 1) :], mark]
        return [
            Refuse(
                update,
                f"a status of {update['agency']} written at {_stamp(logged)} (broker time), "
                f"before the report was sent to it at {_stamp(since)}: an agency answers "
                "only for reports it was sent",
            )
        ]
    state["applied"].append(update["update_id"])
    if designation:
        return _designate(state, update, entry, sla, policy, logged)
    moment = update["occurred_at"]
    status = update["status"]
    agency = update["agency"]
    _record(state, update, suggested=update.get("suggested_agency"))
    suggested = None
    if status == "NOT_AUTHORITY" and entry["role"] == HANDLER and update.get("suggested_agency"):
        suggested = _weigh_suggestion(state, agency, update, policy)
    held = (
        status in ENDING
        and agency == policy.fallback
        and entry["role"] == HANDLER
        and suggested is None
        and _unhandled(state, agency)
    )
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
    for name in () if held else starts:  # a held RESOLVED starts no auto-close
        if entry["role"] == HANDLER and name not in entry["clocks"]:
            _start(state, entry, name, moment, sla)
    effects: list[Any] = []
    if held:
        # the origin is not told of an end that is not one: it hears of the designation
        since = (state.get("awaiting_designation") or {}).get("since", moment)
        state["awaiting_designation"] = {
            "since": since,
            "by": agency,
            "status": status,
            "why": f"{agency}, the fallback, answered {status} and no other agency took the "
            "report: it stays open until `lapor-hub reports assign` designates a handler",
        }
    elif entry["role"] == HANDLER:
        effects.append(Feedback(update))
        if status == "NOT_AUTHORITY" and agency not in state["chain"]:
            state["chain"].append(agency)
            effects.append(Reroute(agency, suggested))
    _settle(state)
    return effects


def _record(state: dict[str, Any], update: dict[str, Any], **more: Any) -> None:
    """A status change in the report's history (its last MAX_HISTORY)."""
    state["history"].append(
        {
            "id": update["update_id"],
            "agency": update["agency"],
            "status": update["status"],
            "source_status": update.get("source_status"),
            "message": (update.get("message") or "")[:MAX_HISTORY_MESSAGE] or None,
            "actor": update.get("actor"),
            "at": update["occurred_at"],
            **{k: v for k, v in more.items() if v is not None},
        }
    )
    del state["history"][:-MAX_HISTORY]


def follow_suggestion(
    state: dict[str, Any], refuser: str, named: str, policy: Policy
) -> tuple[str | None, str]:
    """Whether the report goes where a refusing agency says it belongs: (the agency, "") if
    so, else (None, why not). The rule, kept simple so that no agency can steer a report
    where the directory would not: the named agency must be one of the directory's that the
    hub delivers to (an app may name it by id, name or alias), not the refuser itself, not
    one that refused the report already, not the fallback (the router sends reports there
    itself when no rule finds a handler), not one handling it already; and the report must
    not have been passed on so often that the router escalates it (max_transfers), unless
    the fallback itself names the agency: designating is its role."""
    agency = policy.resolve(named)
    if agency is None:
        return None, f"{named!r} is no agency of the directory that this hub delivers to"
    if agency == refuser:
        return None, f"{refuser} named itself"
    if agency in state["chain"]:
        return None, f"{agency} already refused this report"
    if agency == policy.fallback:
        return None, f"{agency} is the fallback: the router sends reports there itself"
    entry = state["agencies"].get(agency)
    if entry is not None and entry["role"] == HANDLER and entry["status"] not in FINISHED:
        return None, f"{agency} handles this report already"
    transfers = len(state["chain"]) + 1
    limit = policy.max_transfers
    if refuser != policy.fallback and limit is not None and transfers >= limit:
        return None, (
            f"the report was passed on {transfers} times: the router escalates it to the "
            "national administrator, who designates the handler"
        )
    return agency, ""


def _weigh_suggestion(
    state: dict[str, Any], refuser: str, update: dict[str, Any], policy: Policy
) -> str | None:
    """Follow or ignore the agency a refusal names; either way it is recorded."""
    named = update["suggested_agency"]
    if refuser in state["chain"]:
        agency, why = None, f"{refuser} had refused this report already"
    else:
        agency, why = follow_suggestion(state, refuser, named, policy)
    state.setdefault("suggestions", []).append(
        {
            "at": update["occurred_at"],
            "by": refuser,
            "named": named,
            "agency": agency,
            "outcome": "followed" if agency else f"ignored: {why}",
        }
    )
    return agency


def _unhandled(state: dict[str, Any], fallback: str) -> bool:
    """No agency but the fallback took the report: every other handler refused it (or was
    relieved by a designation)."""
    return all(
        agency == fallback or entry["role"] != HANDLER or entry["status"] == "NOT_AUTHORITY"
        for agency, entry in state["agencies"].items()
    )


def _why_not_designate(state: dict[str, Any], agency: str, policy: Policy) -> str | None:
    if policy.resolve(agency) != agency:
        return f"{agency!r} is no agency of the directory that this hub delivers to"
    if agency == policy.fallback:
        return f"{agency} is the fallback: it designates, it is not designated"
    current = state["agencies"].get(agency)
    if current is not None and current["role"] == HANDLER and current["status"] not in FINISHED:
        return f"{agency} handles this report already"
    return None


def _designate(
    state: dict[str, Any],
    update: dict[str, Any],
    author: dict[str, Any] | None,
    sla: SlaDefaults,
    policy: Policy,
    logged: int | None = None,
) -> list[Any]:
    """The national administrator designates the report's handler (``lapor-hub reports
    assign``; the tracker checked that the update is the fallback agency's). The agency
    handles it from now, whatever its past; every other open handler is relieved (the
    origin told, as of any transfer); the wait for a designation ends. A designation of an
    agency the hub cannot deliver to, of the fallback, or of the agency handling the report
    already, changes nothing but is recorded."""
    agency, moment = update["designated_agency"], update["occurred_at"]
    by = update.get("actor") or update["agency"]
    reason = update.get("message") or ""
    _record(state, update, designated=agency)
    current = state["agencies"].get(agency)
    refused = _why_not_designate(state, agency, policy)
    note = {"at": moment, "by": by, "agency": agency, "reason": reason, "relieved": []}
    state.setdefault("assignments", []).append(note)
    if refused:
        note["outcome"] = f"ignored: {refused}"
        _settle(state)
        return []
    note["outcome"] = "assigned"
    effects: list[Any] = []
    if author is not None:  # the administrator's own part in it ends with its designation
        author["status"], author["source_status"] = update["status"], update.get("source_status")
    effects.append(Feedback(update))
    for other, entry in state["agencies"].items():
        if other == agency or entry["role"] != HANDLER or entry["status"] in FINISHED:
            continue
        for clock in _running(entry):
            clock["stopped"] = moment
            clock.pop("paused_at", None)
        entry["role"] = RELIEVED
        note["relieved"].append(other)
        if entry is author:
            continue
        why = f"relieved:{agency}:{moment}"
        relieved = hub_status(state, other, "NOT_AUTHORITY", at(moment), why)
        relieved.update(
            occurred_at=moment,
            source_status="relieved",
            message=f"dilimpahkan ke {agency} oleh administrator nasional ({by})",
        )
        state["applied"].append(relieved["update_id"])
        _record(state, relieved)
        entry["status"], entry["source_status"] = "NOT_AUTHORITY", "relieved"
        effects.append(Feedback(relieved))
    if current is None:
        current = state["agencies"][agency] = {
            "role": HANDLER,
            "status": None,
            "source_status": None,
            "clocks": {},
            "escalated": False,
        }
    _handle_anew(state, current, moment, sla, since=logged or moment)
    if agency in state["chain"]:
        state["chain"].remove(agency)  # the administrator overrules its refusal
    state["awaiting_designation"] = None
    effects.append(Assign(agency, by, reason, moment))
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


def apply_tick(
    state: dict[str, Any],
    now: datetime,
    sla: SlaDefaults = SlaDefaults(),
    policy: Policy = NO_POLICY,
) -> list[Any]:
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
                effects += apply_status(state, closed, sla, policy)
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


def clock_condition(clock: dict[str, Any]) -> str:
    """stopped, paused (tunda), overdue or running: what an operator is shown."""
    if clock.get("stopped") is not None:
        return "stopped"
    if clock.get("paused_at") is not None:
        return "paused"
    return "overdue" if clock.get("overdue") else "running"


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
    """Done once every handler finished, nothing waits for its decision, and no designation
    is awaited."""
    handlers = [e for e in state["agencies"].values() if e["role"] == HANDLER]
    done = handlers and all(e["status"] in FINISHED for e in handlers)
    waiting = state["pending"] or state.get("awaiting_designation")
    state["state"] = DONE if done and not waiting else OPEN


def awaiting_designation(state: dict[str, Any]) -> bool:
    """Whether the report waits for the national administrator to designate its handler."""
    return bool(state.get("awaiting_designation")) and state["state"] == OPEN
