"""SLA clocks on the Indonesian calendar, and a report's lifecycle in the tracker."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from hub.tracker import lifecycle
from hub.tracker.calendar import (
    CalendarError,
    add_working_days,
    holidays_of,
    is_working_day,
    working_days_between,
    zone_of,
)
from hub.tracker.lifecycle import Escalate, Feedback, Refuse, Reroute, SlaDefaults

WIB = "31.71"  # DKI Jakarta (Jakarta Pusat)
SLA = SlaDefaults()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- calendar -----------------------------------------------------------------------------


def test_public_holidays_and_cuti_bersama_are_not_working_days():
    assert not is_working_day(date(2025, 8, 17))  # Hari Kemerdekaan (a Sunday anyway)
    assert not is_working_day(date(2025, 8, 18))  # cuti bersama after it (a Monday)
    assert not is_working_day(date(2025, 12, 25))  # Christmas
    assert not is_working_day(date(2025, 12, 26))  # cuti bersama
    assert not is_working_day(date(2025, 3, 31))  # Idul Fitri
    assert not is_working_day(date(2025, 4, 7))  # cuti bersama Idul Fitri
    assert is_working_day(date(2025, 4, 8))
    assert not is_working_day(date(2026, 11, 28))  # a Saturday


def test_deadlines_skip_weekends_and_holidays():
    # filed Thursday 2025-12-18: 3 working days = Fri 19, Mon 22, Tue 23
    assert add_working_days(utc(2025, 12, 18, 3), 3, WIB).astimezone(zone_of(WIB)).date() == date(
        2025, 12, 23
    )
    # filed Tuesday 2025-12-23: Wed 24, (25, 26 off, weekend), Mon 29, Tue 30
    due = add_working_days(utc(2025, 12, 23, 3), 3, WIB)
    assert due.astimezone(zone_of(WIB)).date() == date(2025, 12, 30)
    assert due.astimezone(zone_of(WIB)).hour == 23  # the end of the last day, local time


def test_days_are_counted_in_the_reports_own_time_zone():
    # 16:30 UTC on Thursday is Friday 01:30 in Jayapura (WIT) but still Thursday in Jakarta
    filed = utc(2026, 11, 26, 16, 30)
    assert add_working_days(filed, 1, "31.71").astimezone(zone_of("31.71")).date() == date(
        2026, 11, 27
    )
    assert add_working_days(filed, 1, "91.71").astimezone(zone_of("91.71")).date() == date(
        2026, 11, 30
    )


def test_a_year_without_holiday_data_is_refused_loudly():
    with pytest.raises(CalendarError, match="no holiday data for 2035") as refused:
        holidays_of(2035)
    assert "upgrade" in refused.value.fix
    with pytest.raises(CalendarError):
        add_working_days(utc(2035, 3, 1), 3, WIB)


def test_working_days_between_counts_the_days_after_the_first():
    assert working_days_between(utc(2026, 11, 23, 3), utc(2026, 11, 27, 3), WIB) == 4
    assert working_days_between(utc(2026, 11, 27, 3), utc(2026, 11, 30, 3), WIB) == 1
    assert working_days_between(utc(2026, 11, 27, 3), utc(2026, 11, 26, 3), WIB) == 0


# -- lifecycle ----------------------------------------------------------------------------


def report(hub_id: str = "h-1", region: str = WIB) -> dict:
    return {
        "hub_id": hub_id,
        "source": {"connector": "lapor-nasional", "source_id": "LPR-1"},
        "location": {"region_code": region},
        "received_at": utc(2026, 11, 23, 2),
    }


def decision(*agencies: tuple[str, str], at: datetime, **extra) -> dict:
    return {
        "destinations": [{"agency": a, "role": r} for a, r in agencies],
        "rules_version": "v-test",
        "decided_at": at,
        "reason": "test",
        "sla_working_days": None,
        **extra,
    }


def status(agency: str, value: str, at: datetime, update_id: str | None = None, **extra) -> dict:
    return {
        "update_id": update_id or f"{agency}-{value}-{at.isoformat()}",
        "hub_id": "h-1",
        "agency": agency,
        "status": value,
        "source_status": value.lower(),
        "message": None,
        "actor": "petugas",
        "occurred_at": at,
        **extra,
    }


def routed_state(*agencies: tuple[str, str], at: datetime | None = None) -> dict:
    state = lifecycle.empty_state("h-1")
    at = at or utc(2026, 11, 23, 3)  # Monday 10:00 WIB
    lifecycle.apply_decision(state, report(), "b64", decision(*agencies, at=at), SLA)
    return state


def test_a_state_is_kept_as_json_bytes_and_read_back_as_a_copy_of_its_own():
    state = routed_state(("pemprov-dki-jakarta", "HANDLER"), ("ombudsman", "COPY"))
    update = status("pemprov-dki-jakarta", "IN_PROGRESS", utc(2026, 11, 24, 4))
    lifecycle.apply_status(
        state,
        {**update, "message": "Sedang ditangani: petugas ke Kafé Pak Dédé"},
        SLA,
    )
    kept = lifecycle.encode_state(state)
    assert json.loads(kept) == state  # the changelog's readers read it as JSON
    first, second = lifecycle.decode_state(kept), lifecycle.decode_state(kept)
    assert first == state
    first["history"].append({"status": "RESOLVED"})  # working on one read changes no other
    assert second == state
    # what an earlier tracker wrote (faust's JSON, non-ASCII escaped) reads the same
    assert lifecycle.decode_state(json.dumps(state, separators=(",", ":")).encode()) == state
    assert lifecycle.decode_state(None) is None


def test_an_unreadable_stored_state_is_left_out_of_the_ticks_not_raised(caplog):
    from hub.tracker.app import readable_state

    kept = lifecycle.encode_state(routed_state(("ombudsman", "HANDLER")))
    assert readable_state(b"h-1", kept) == lifecycle.decode_state(kept)
    assert readable_state(b"h-2", kept[:-7]) is None  # cut short
    assert readable_state(b"h-3", b"\xff\xfe not json") is None
    assert readable_state(b"h-4", b'["a list", "not a state"]') is None
    assert "h-3" in caplog.text and "cannot be read" in caplog.text


def test_a_decision_starts_the_completion_clock_of_handlers_only():
    state = routed_state(("pemprov-dki-jakarta", "HANDLER"), ("ombudsman", "COPY"))
    handler = state["agencies"]["pemprov-dki-jakarta"]
    assert set(handler["clocks"]) == {"completion"}
    assert state["agencies"]["ombudsman"]["clocks"] == {}
    due = lifecycle.at(handler["clocks"]["completion"]["due"])
    # 30 working days later: past the Christmas holiday and cuti bersama (24-25 Dec),
    # New Year's Day and Isra' Mi'raj (5 Jan 2027)
    assert due.astimezone(zone_of(WIB)).date() == date(2027, 1, 8)


def test_a_rule_sla_overrides_the_default_completion_clock():
    state = lifecycle.empty_state("h-1")
    lifecycle.apply_decision(
        state,
        report(),
        "b64",
        decision(("kemenkes", "HANDLER"), at=utc(2026, 11, 23, 3), sla_working_days=5),
        SLA,
    )
    due = lifecycle.at(state["agencies"]["kemenkes"]["clocks"]["completion"]["due"])
    assert due.astimezone(zone_of(WIB)).date() == date(2026, 11, 30)


def test_statuses_move_the_clocks_and_flow_back_to_the_origin():
    state = routed_state(("kemenkes", "HANDLER"))
    received = status("kemenkes", "RECEIVED", utc(2026, 11, 23, 4))
    effects = lifecycle.apply_status(state, received, SLA)
    assert effects == [Feedback({**received, "occurred_at": lifecycle.ms(received["occurred_at"])})]
    clocks = state["agencies"]["kemenkes"]["clocks"]
    assert lifecycle.at(clocks["verification"]["due"]).astimezone(zone_of(WIB)).date() == date(
        2026, 11, 26
    )
    lifecycle.apply_status(state, status("kemenkes", "VERIFIED", utc(2026, 11, 24, 4)), SLA)
    assert clocks["verification"]["stopped"] is not None
    assert "follow_up" in clocks
    lifecycle.apply_status(state, status("kemenkes", "RESOLVED", utc(2026, 11, 25, 4)), SLA)
    assert clocks["completion"]["stopped"] is not None
    assert clocks["auto_close"]["stopped"] is None


def test_an_event_applied_twice_changes_nothing():
    state = routed_state(("kemenkes", "HANDLER"))
    update = status("kemenkes", "RECEIVED", utc(2026, 11, 23, 4))
    assert lifecycle.apply_status(state, update, SLA)
    before = repr(state)
    assert lifecycle.apply_status(state, update, SLA) == []
    same = decision(("kemenkes", "HANDLER"), at=utc(2026, 11, 23, 3))
    assert lifecycle.apply_decision(state, report(), "b64", same, SLA) == []
    assert repr(state) == before


def test_a_status_before_its_decision_waits_for_it():
    state = lifecycle.empty_state("h-1")
    early = status("kemenkes", "RECEIVED", utc(2026, 11, 23, 4))
    assert lifecycle.apply_status(state, early, SLA) == []
    assert state["pending"]
    effects = lifecycle.apply_decision(
        state, report(), "b64", decision(("kemenkes", "HANDLER"), at=utc(2026, 11, 23, 3)), SLA
    )
    assert [type(e) for e in effects] == [Feedback]
    assert state["agencies"]["kemenkes"]["status"] == "RECEIVED"
    assert not state["pending"]


def test_a_status_read_before_its_decision_but_written_after_it_applies():
    """The tracker may read a status before the decision that sends the report (another
    topic); the broker logged it after the decision, so it counts."""
    state = lifecycle.empty_state("h-1")
    logged = lifecycle.ms(utc(2026, 11, 23, 3, 0, 1))
    early = status("kemenkes", "RECEIVED", utc(2026, 11, 23, 4), logged_at=logged)
    assert lifecycle.apply_status(state, early, SLA) == []
    effects = lifecycle.apply_decision(
        state, report(), "b64", decision(("kemenkes", "HANDLER"), at=utc(2026, 11, 23, 3)), SLA
    )
    assert [type(e) for e in effects] == [Feedback]
    assert state["agencies"]["kemenkes"]["status"] == "RECEIVED"


def test_a_status_written_before_the_report_was_sent_to_its_agency_is_refused():
    """An agency's app answers "selesai" for a report another agency handles: held, never
    applied; when the report is later re-routed to that agency, the status was written
    before it was sent there, and is refused, not applied at once."""
    state = routed_state(("kemenkes", "HANDLER"))
    ahead = status(
        "bpom",
        "RESOLVED",
        utc(2026, 11, 23, 4),
        logged_at=lifecycle.ms(utc(2026, 11, 23, 4)),
    )
    assert lifecycle.apply_status(state, ahead, SLA) == []
    assert state["pending"]
    rerouted = decision(("bpom", "HANDLER"), at=utc(2026, 11, 24, 2))
    effects = lifecycle.apply_decision(state, report(), "b64", rerouted, SLA)
    assert [type(e) for e in effects] == [Refuse]
    assert "before the report was sent to it" in effects[0].reason
    assert state["agencies"]["bpom"]["status"] is None
    assert not state["pending"] and state["state"] == lifecycle.OPEN
    # read again (a restart), it is not refused twice
    assert lifecycle.apply_status(state, ahead, SLA) == []
    # its own answer, written after it was sent the report, counts
    later = status(
        "bpom", "RECEIVED", utc(2026, 11, 24, 3), logged_at=lifecycle.ms(utc(2026, 11, 24, 3))
    )
    assert [type(e) for e in lifecycle.apply_status(state, later, SLA)] == [Feedback]


def test_postponed_pauses_the_clocks_and_moves_their_deadlines():
    state = routed_state(("kemenkes", "HANDLER"))
    lifecycle.apply_status(state, status("kemenkes", "RECEIVED", utc(2026, 11, 23, 4)), SLA)
    clock = state["agencies"]["kemenkes"]["clocks"]["verification"]
    due_before = clock["due"]
    lifecycle.apply_status(state, status("kemenkes", "POSTPONED", utc(2026, 11, 24, 4)), SLA)
    # while paused, time passing does not make it overdue
    assert not lifecycle.has_due_clock(state, utc(2026, 12, 10))
    assert lifecycle.apply_tick(state, utc(2026, 12, 10)) == []
    assert not clock["overdue"]
    # resumed a week later (5 working days): the deadline moves by 5 working days
    lifecycle.apply_status(state, status("kemenkes", "IN_PROGRESS", utc(2026, 12, 1, 4)), SLA)
    assert clock["paused_days"] == 5
    moved = lifecycle.at(clock["due"]).astimezone(zone_of(WIB)).date()
    assert moved == lifecycle.at(due_before).astimezone(zone_of(WIB)).date() + timedelta(days=7)


def test_an_overdue_clock_escalates_once():
    state = routed_state(("pemkot-surabaya", "HANDLER"), at=utc(2026, 11, 2, 3))
    lifecycle.apply_status(state, status("pemkot-surabaya", "RECEIVED", utc(2026, 11, 2, 4)), SLA)
    assert not lifecycle.has_due_clock(state, utc(2026, 11, 3))
    assert lifecycle.has_due_clock(state, utc(2026, 11, 9))
    effects = lifecycle.apply_tick(state, utc(2026, 11, 9))
    assert effects == [Escalate("pemkot-surabaya", "verification")]
    assert lifecycle.overdue_agencies(state) == ["pemkot-surabaya"]
    assert not lifecycle.has_due_clock(state, utc(2026, 11, 10))
    assert lifecycle.apply_tick(state, utc(2026, 11, 10)) == []


def test_not_our_authority_reroutes_and_records_the_chain():
    state = routed_state(("kemenkes", "HANDLER"))
    refused = status("kemenkes", "NOT_AUTHORITY", utc(2026, 11, 23, 5))
    effects = lifecycle.apply_status(state, refused, SLA)
    assert Reroute("kemenkes") in effects
    assert state["chain"] == ["kemenkes"]
    assert all(c["stopped"] for c in state["agencies"]["kemenkes"]["clocks"].values())
    again = decision(("kemendikdasmen", "HANDLER"), at=utc(2026, 11, 23, 6))
    lifecycle.apply_decision(state, report(), "b64", again, SLA)
    assert lifecycle.open_agencies(state) == ["kemendikdasmen"]


def test_auto_close_after_a_follow_up_with_no_reply():
    state = routed_state(("kemenkes", "HANDLER"), at=utc(2026, 10, 1, 3))
    lifecycle.apply_status(state, status("kemenkes", "RESOLVED", utc(2026, 10, 2, 3)), SLA)
    effects = lifecycle.apply_tick(state, utc(2026, 11, 1))
    assert [e.update["status"] for e in effects if isinstance(e, Feedback)] == ["CLOSED"]
    assert state["agencies"]["kemenkes"]["status"] == "CLOSED"
    assert state["state"] == lifecycle.DONE


# -- a deadline in a year the calendar has no data for -----------------------------------


@pytest.fixture
def no_data_from_2027(monkeypatch: pytest.MonkeyPatch):
    """The holiday data ends with 2026, as it does for some year at any time."""
    from hub.tracker import calendar

    known = calendar.holidays_of

    def holidays_of(year: int):
        if year >= 2027:
            raise CalendarError(f"there is no holiday data for {year}", fix="upgrade holidays")
        return known(year)

    monkeypatch.setattr(calendar, "holidays_of", holidays_of)
    return lambda: monkeypatch.setattr(calendar, "holidays_of", known)


def test_a_deadline_past_the_calendar_waits_and_the_report_stays_tracked(no_data_from_2027):
    state = routed_state(("pemprov-dki-jakarta", "HANDLER"))  # 30 days: into 2027
    clock = state["agencies"]["pemprov-dki-jakarta"]["clocks"]["completion"]
    assert clock["due"] is None and "no holiday data for 2027" in clock["waiting"]
    assert "upgrade holidays" in clock["waiting"]
    assert lifecycle.waiting_clocks(state) == 1
    assert state["state"] == lifecycle.OPEN
    assert not lifecycle.has_due_clock(state, utc(2030, 1, 1)), "never overdue while waiting"
    assert lifecycle.apply_tick(state, utc(2030, 1, 1)) == []
    # statuses still apply while it waits, a pause and its resumption included
    effects = lifecycle.apply_status(
        state, status("pemprov-dki-jakarta", "POSTPONED", utc(2026, 11, 24, 3)), SLA
    )
    assert [type(e) for e in effects] == [Feedback]
    lifecycle.apply_status(
        state, status("pemprov-dki-jakarta", "IN_PROGRESS", utc(2026, 11, 26, 3)), SLA
    )
    assert not lifecycle.count_waiting(state), "still no data"

    no_data_from_2027()  # the package is upgraded
    assert lifecycle.count_waiting(state)
    assert lifecycle.waiting_clocks(state) == 0
    assert "waiting" not in clock and clock["paused_days"] == 2
    expected = add_working_days(utc(2026, 11, 23, 3), 32, WIB)  # 30 days + 2 paused
    assert lifecycle.at(clock["due"]) == expected
