"""Closing the loop in the tracker's lifecycle: an agency that refuses may name the one it
believes responsible; the fallback never closes a report no other agency took; the national
administrator's designation gives a report its handler. And the connectors that carry the
named agency, and the checks `reports assign` makes before it sends anything."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from connectors.lapor_json import LaporJson
from connectors.open311 import Open311
from connectors.soap_ministry import SoapMinistry
from hub.ops.assign import AssignRefused, check_assignment, designation
from hub.routing import default_rules_dir, load_directory
from hub.sdk import RawMessage
from hub.tracker import lifecycle
from hub.tracker.lifecycle import Assign, Feedback, Policy, Reroute, SlaDefaults
from tests.unit.test_tracker_lifecycle import decision as lifecycle_decision
from tests.unit.test_tracker_lifecycle import status, utc

SLA = SlaDefaults()
FALLBACK = "admin-nasional"
AGENCIES = {FALLBACK, "kemenkes", "kemendikdasmen", "kemenhub", "pemkot-malang"}
ALIASES = {"Kementerian Kesehatan": "kemenkes"}
POLICY = Policy(
    fallback=FALLBACK,
    max_transfers=3,
    resolve=lambda named: named if named in AGENCIES else ALIASES.get(named),
)


def report() -> dict:
    return {
        "hub_id": "h-1",
        "source": {"connector": "warga", "source_id": "W-1"},
        "location": {"region_code": "31.71"},
        "received_at": utc(2026, 11, 23, 2),
    }


def decision(*agencies: str, at: datetime, **extra) -> dict:
    """A routing decision with these agencies as handlers."""
    return lifecycle_decision(*((a, "HANDLER") for a in agencies), at=at, **extra)


def routed(*agencies: str, at: datetime | None = None, **extra) -> dict:
    state = lifecycle.empty_state("h-1")
    at = at or utc(2026, 11, 23, 3)
    lifecycle.apply_decision(state, report(), "b64", decision(*agencies, at=at, **extra), SLA)
    return state


def designate(agency: str, at: datetime, by: str = "Budi") -> dict:
    return status(
        FALLBACK, "FORWARDED", at, designated_agency=agency, actor=by, message="jalan nasional"
    )


# -- a refusal that names an agency --------------------------------------------------------


def test_a_refusal_naming_a_directory_agency_goes_there():
    state = routed("kemenkes")
    refusal = status("kemenkes", "NOT_AUTHORITY", utc(2026, 11, 23, 5), suggested_agency="kemenhub")
    effects = lifecycle.apply_status(state, refusal, SLA, POLICY)
    assert Reroute("kemenkes", "kemenhub") in effects
    assert state["chain"] == ["kemenkes"]
    assert state["suggestions"][-1]["outcome"] == "followed"
    assert state["history"][-1]["suggested"] == "kemenhub"


def test_an_agency_may_be_named_by_its_name_or_alias():
    state = routed("kemenhub")
    refusal = status(
        "kemenhub",
        "NOT_AUTHORITY",
        utc(2026, 11, 23, 5),
        suggested_agency="Kementerian Kesehatan",
    )
    assert Reroute("kemenhub", "kemenkes") in lifecycle.apply_status(state, refusal, SLA, POLICY)


@pytest.mark.parametrize(
    ("named", "why"),
    [
        ("kemenkes", "kemenkes named itself"),
        ("kementerian-fiktif", "'kementerian-fiktif' is no agency of the directory"),
        (FALLBACK, "is the fallback"),
    ],
)
def test_a_suggestion_the_directory_does_not_back_is_ignored_and_the_router_decides(
    named: str, why: str
):
    state = routed("kemenkes")
    refusal = status("kemenkes", "NOT_AUTHORITY", utc(2026, 11, 23, 5), suggested_agency=named)
    effects = lifecycle.apply_status(state, refusal, SLA, POLICY)
    assert Reroute("kemenkes") in effects, "the router decides, as without a suggestion"
    outcome = state["suggestions"][-1]["outcome"]
    assert outcome.startswith("ignored: ") and why in outcome


def test_a_suggestion_of_an_agency_that_refused_already_is_ignored():
    state = routed("kemenkes")
    lifecycle.apply_status(state, status("kemenkes", "NOT_AUTHORITY", utc(2026, 11, 23, 5)), SLA)
    lifecycle.apply_decision(
        state, report(), "b64", decision("kemenhub", at=utc(2026, 11, 23, 6)), SLA
    )
    back = status("kemenhub", "NOT_AUTHORITY", utc(2026, 11, 23, 7), suggested_agency="kemenkes")
    effects = lifecycle.apply_status(state, back, SLA, POLICY)
    assert Reroute("kemenhub") in effects
    assert state["suggestions"][-1]["outcome"] == "ignored: kemenkes already refused this report"
    assert state["chain"] == ["kemenkes", "kemenhub"]


def test_no_suggestion_is_followed_once_the_router_escalates():
    state = routed("kemenkes")
    state["chain"] = ["a", "b"]  # a third refusal: the router escalates (max_transfers 3)
    refusal = status("kemenkes", "NOT_AUTHORITY", utc(2026, 11, 23, 5), suggested_agency="kemenhub")
    effects = lifecycle.apply_status(state, refusal, SLA, POLICY)
    assert Reroute("kemenkes") in effects
    assert "passed on 3 times" in state["suggestions"][-1]["outcome"]


def test_without_a_policy_no_suggestion_is_followed():
    state = routed("kemenkes")
    refusal = status("kemenkes", "NOT_AUTHORITY", utc(2026, 11, 23, 5), suggested_agency="kemenhub")
    assert Reroute("kemenkes") in lifecycle.apply_status(state, refusal, SLA)


# -- the fallback never closes a report no other agency took --------------------------------


@pytest.mark.parametrize("answer", ["NOT_AUTHORITY", "RESOLVED", "CLOSED"])
def test_the_fallback_cannot_end_a_report_nobody_took(answer: str):
    state = routed(FALLBACK, fallback=True)
    effects = lifecycle.apply_status(
        state, status(FALLBACK, answer, utc(2026, 11, 23, 5)), SLA, POLICY
    )
    assert effects == [], "no re-route, and the origin is not told of an end that is not one"
    assert state["state"] == lifecycle.OPEN
    assert lifecycle.awaiting_designation(state)
    assert state["awaiting_designation"]["status"] == answer
    assert "auto_close" not in state["agencies"][FALLBACK]["clocks"]
    assert state["chain"] == []
    # time passing does not close it either
    assert lifecycle.apply_tick(state, utc(2027, 6, 1), SLA, POLICY) == []
    assert state["state"] == lifecycle.OPEN


def test_the_fallback_after_every_other_agency_refused_cannot_close_it():
    state = routed("kemenkes")
    lifecycle.apply_status(state, status("kemenkes", "NOT_AUTHORITY", utc(2026, 11, 23, 5)), SLA)
    lifecycle.apply_decision(
        state, report(), "b64", decision(FALLBACK, at=utc(2026, 11, 23, 6), fallback=True), SLA
    )
    lifecycle.apply_status(state, status(FALLBACK, "CLOSED", utc(2026, 11, 23, 7)), SLA, POLICY)
    assert state["state"] == lifecycle.OPEN and lifecycle.awaiting_designation(state)


def test_the_fallback_may_close_what_another_agency_handled():
    state = routed("kemenkes", FALLBACK)
    lifecycle.apply_status(state, status("kemenkes", "CLOSED", utc(2026, 11, 23, 5)), SLA)
    effects = lifecycle.apply_status(
        state, status(FALLBACK, "CLOSED", utc(2026, 11, 23, 6)), SLA, POLICY
    )
    assert [type(e) for e in effects] == [Feedback]
    assert state["state"] == lifecycle.DONE and not lifecycle.awaiting_designation(state)


def test_a_real_handler_still_closes_its_report():
    state = routed("kemenkes")
    lifecycle.apply_status(state, status("kemenkes", "CLOSED", utc(2026, 11, 23, 5)), SLA, POLICY)
    assert state["state"] == lifecycle.DONE and not lifecycle.awaiting_designation(state)


def test_the_fallback_naming_an_agency_sends_the_report_there():
    state = routed(FALLBACK, fallback=True)
    state["chain"] = ["a", "b", "c"]  # the administrator names one even after the limit
    refusal = status(FALLBACK, "NOT_AUTHORITY", utc(2026, 11, 23, 5), suggested_agency="kemenhub")
    effects = lifecycle.apply_status(state, refusal, SLA, POLICY)
    assert Reroute(FALLBACK, "kemenhub") in effects
    assert not lifecycle.awaiting_designation(state)


def test_a_report_sent_back_to_the_fallback_is_its_to_designate_again():
    state = routed(FALLBACK, fallback=True)
    lifecycle.apply_status(state, designate("kemenhub", utc(2026, 11, 23, 4)), SLA, POLICY)
    lifecycle.apply_status(state, status("kemenhub", "NOT_AUTHORITY", utc(2026, 11, 23, 5)), SLA)
    assert state["state"] == lifecycle.DONE  # for the moment: its re-route is on its way
    again = decision(FALLBACK, at=utc(2026, 11, 23, 6), escalated=True)
    lifecycle.apply_decision(state, report(), "b64", again, SLA, POLICY)
    assert state["agencies"][FALLBACK]["role"] == "HANDLER"
    assert state["agencies"][FALLBACK]["status"] is None
    assert state["state"] == lifecycle.OPEN
    lifecycle.apply_status(state, status(FALLBACK, "CLOSED", utc(2026, 11, 23, 7)), SLA, POLICY)
    assert state["state"] == lifecycle.OPEN and lifecycle.awaiting_designation(state)


# -- designation ---------------------------------------------------------------------------


def test_a_designation_gives_the_report_its_handler_and_relieves_the_one_before():
    state = routed("kemenkes")
    lifecycle.apply_status(state, status("kemenkes", "RECEIVED", utc(2026, 11, 23, 4)), SLA)
    at = utc(2026, 11, 24, 3)
    effects = lifecycle.apply_status(state, designate("kemenhub", at), SLA, POLICY)
    assert effects[-1] == Assign("kemenhub", "Budi", "jalan nasional", lifecycle.ms(at))
    told = [e.update for e in effects if isinstance(e, Feedback)]
    assert [(u["agency"], u["status"]) for u in told] == [
        (FALLBACK, "FORWARDED"),
        ("kemenkes", "NOT_AUTHORITY"),
    ]
    assert "dilimpahkan ke kemenhub" in told[1]["message"]
    relieved = state["agencies"]["kemenkes"]
    assert relieved["role"] == "RELIEVED"
    assert all(c["stopped"] is not None for c in relieved["clocks"].values())
    handler = state["agencies"]["kemenhub"]
    assert handler["role"] == "HANDLER" and "completion" in handler["clocks"]
    assert state["chain"] == [], "a designation is no refusal"
    assert state["assignments"][-1] | {"at": 0} == {
        "at": 0,
        "by": "Budi",
        "agency": "kemenhub",
        "reason": "jalan nasional",
        "relieved": ["kemenkes"],
        "outcome": "assigned",
    }
    assert lifecycle.open_agencies(state) == ["kemenhub"]
    # the decision it makes comes back: nothing changes but the decisions listed
    back = decision("kemenhub", at=at, reason="assigned by Budi: jalan nasional")
    assert lifecycle.apply_decision(state, report(), "b64", back, SLA, POLICY) == []
    assert state["agencies"]["kemenhub"]["role"] == "HANDLER"
    # applied twice: nothing more
    assert lifecycle.apply_status(state, designate("kemenhub", at), SLA, POLICY) == []
    # the relieved agency's later statuses hold nothing open, nor reach the origin
    late = status("kemenkes", "IN_PROGRESS", utc(2026, 11, 25, 3))
    assert lifecycle.apply_status(state, late, SLA, POLICY) == []
    lifecycle.apply_status(state, status("kemenhub", "CLOSED", utc(2026, 11, 30, 3)), SLA, POLICY)
    assert state["state"] == lifecycle.DONE


def test_a_designation_ends_the_wait_for_one():
    state = routed(FALLBACK, fallback=True)
    lifecycle.apply_status(state, status(FALLBACK, "CLOSED", utc(2026, 11, 23, 5)), SLA, POLICY)
    assert lifecycle.awaiting_designation(state)
    effects = lifecycle.apply_status(
        state, designate("kemenkes", utc(2026, 11, 24, 3)), SLA, POLICY
    )
    assert isinstance(effects[-1], Assign)
    assert not lifecycle.awaiting_designation(state)
    assert state["agencies"][FALLBACK]["role"] == "RELIEVED"
    assert state["state"] == lifecycle.OPEN and lifecycle.open_agencies(state) == ["kemenkes"]


def test_a_designation_overrules_a_refusal():
    state = routed("kemenkes")
    lifecycle.apply_status(state, status("kemenkes", "NOT_AUTHORITY", utc(2026, 11, 23, 5)), SLA)
    effects = lifecycle.apply_status(
        state, designate("kemenkes", utc(2026, 11, 24, 3)), SLA, POLICY
    )
    assert isinstance(effects[-1], Assign)
    assert state["chain"] == [] and state["agencies"]["kemenkes"]["status"] is None
    assert state["state"] == lifecycle.OPEN


@pytest.mark.parametrize(
    ("agency", "why"),
    [
        ("kemenkes", "kemenkes handles this report already"),
        (FALLBACK, "it designates, it is not designated"),
        ("kementerian-fiktif", "no agency of the directory"),
    ],
)
def test_a_designation_the_tracker_cannot_carry_out_is_recorded_and_changes_nothing(
    agency: str, why: str
):
    state = routed("kemenkes")
    before = json.dumps(state["agencies"], sort_keys=True)
    assert lifecycle.apply_status(state, designate(agency, utc(2026, 11, 24, 3)), SLA, POLICY) == []
    assert json.dumps(state["agencies"], sort_keys=True) == before
    assert why in state["assignments"][-1]["outcome"]


def test_a_designation_before_the_reports_decision_waits_for_it():
    state = lifecycle.empty_state("h-1")
    assert lifecycle.apply_status(state, designate("kemenhub", utc(2026, 11, 24, 3)), SLA) == []
    assert state["pending"]
    effects = lifecycle.apply_decision(
        state, report(), "b64", decision("kemenkes", at=utc(2026, 11, 23, 3)), SLA, POLICY
    )
    assert isinstance(effects[-1], Assign)


def test_a_state_written_before_these_fields_still_applies():
    state = routed("kemenkes")
    for key in ("awaiting_designation", "assignments", "suggestions"):
        del state[key]
    refusal = status("kemenkes", "NOT_AUTHORITY", utc(2026, 11, 23, 5), suggested_agency="kemenhub")
    assert Reroute("kemenkes", "kemenhub") in lifecycle.apply_status(state, refusal, SLA, POLICY)
    assert isinstance(
        lifecycle.apply_status(state, designate("kemenkes", utc(2026, 11, 24, 3)), SLA, POLICY)[-1],
        Assign,
    )


# -- what `reports assign` checks before it sends -------------------------------------------


@pytest.fixture(scope="module")
def directory():
    return load_directory(default_rules_dir() / "directory")


def test_assign_refuses_an_agency_the_directory_does_not_have(directory):
    state = routed("kemenkes")
    with pytest.raises(AssignRefused, match="no agency 'kemenkess' in the directory") as refused:
        check_assignment(directory, state, "h-1", "kemenkess")
    assert "kemenkes" in refused.value.fix
    with pytest.raises(AssignRefused) as refused:
        check_assignment(directory, state, "h-1", "Kementerian Kesehatan")
    assert "give its id" in refused.value.fix and "kemenkes" in refused.value.fix


def test_assign_refuses_unknown_reports_closed_ones_and_the_current_handler(directory):
    with pytest.raises(AssignRefused, match="no report h-9 is tracked"):
        check_assignment(directory, None, "h-9", "kemenhub")
    state = routed("kemenkes")
    with pytest.raises(AssignRefused, match="kemenkes handles report h-1 already"):
        check_assignment(directory, state, "h-1", "kemenkes")
    with pytest.raises(AssignRefused, match="national administrator"):
        check_assignment(directory, state, "h-1", directory.fallback)
    with pytest.raises(AssignRefused, match="which this hub does not configure"):
        check_assignment(directory, state, "h-1", "kemensos", connectors={"lapor-nasional"})
    assert check_assignment(directory, state, "h-1", "kemenhub") == ["kemenkes"]
    lifecycle.apply_status(state, status("kemenkes", "CLOSED", utc(2026, 11, 23, 5)), SLA)
    with pytest.raises(AssignRefused, match="is closed"):
        check_assignment(directory, state, "h-1", "kemenhub")


def test_a_designation_is_a_status_of_the_fallback_with_the_agency_named():
    update = designation("h-1", FALLBACK, "kemenhub", "jalan nasional", "Budi", utc(2026, 1, 5))
    assert update["agency"] == FALLBACK and update["designated_agency"] == "kemenhub"
    assert update["actor"] == "Budi" and update["message"] == "jalan nasional"
    assert update["suggested_agency"] is None


# -- the connectors carry the agency a refusal names ------------------------------------------


def test_the_lapor_app_names_it_in_instansi_tujuan():
    connector = LaporJson({"agency": "kemenpan-rb", "base_url": "http://127.0.0.1:9"})
    body = {
        "referensi_hub": "h-1",
        "status": "bukan_wewenang",
        "waktu": "2026-11-23T10:00:00+07:00",
        "instansi": "kemenkes",
        "instansi_tujuan": "kemenhub",
    }
    update = connector.to_status(RawMessage("TL-1", json.dumps(body).encode()))
    assert update["status"] == "NOT_AUTHORITY" and update["suggested_agency"] == "kemenhub"
    # on any other status the field means nothing and is not carried
    body.update(status="diproses")
    update = connector.to_status(RawMessage("TL-2", json.dumps(body).encode()))
    assert update["suggested_agency"] is None


def test_open311_names_it_in_agency_responsible():
    connector = Open311({"agency": "pemkot-surabaya", "base_url": "http://127.0.0.1:9"})
    body = {
        "service_request_id": "1001",
        "status": "closed",
        "updated_datetime": "2026-11-23T10:00:00+07:00",
        "attributes": {"hub_id": "h-1", "external_status_code": "not_responsible"},
        "agency_responsible": "Kementerian Pekerjaan Umum",
    }
    update = connector.to_status(RawMessage("1001", json.dumps(body).encode()))
    assert update["status"] == "NOT_AUTHORITY"
    assert update["suggested_agency"] == "Kementerian Pekerjaan Umum"


def test_the_ministry_system_names_it_in_instansi_tujuan():
    connector = SoapMinistry({"agency": "kemensos", "base_url": "http://127.0.0.1:9"})
    body = (
        b'<StatusPengaduan xmlns="urn:kementerian:pengaduan:v1"><ReferensiHub>h-1</ReferensiHub>'
        b"<Status>BUKAN_KEWENANGAN</Status><Waktu>2026-11-23T10:00:00+07:00</Waktu>"
        b"<InstansiTujuan>kemenkes</InstansiTujuan></StatusPengaduan>"
    )
    update = connector.to_status(RawMessage("7", body, "application/xml"))
    assert update["status"] == "NOT_AUTHORITY" and update["suggested_agency"] == "kemenkes"


# -- statuses written before their agency answers for the report -----------------------------


def logged(*when: int) -> int:
    return lifecycle.ms(utc(*when))


def test_a_designated_agency_answers_only_from_its_designation_on():
    """kemenhub writes "selesai" while kemenkes handles the report: held; the administrator
    then designates kemenhub, and that status, written before, is refused."""
    state = routed("kemenkes")
    ahead = status("kemenhub", "RESOLVED", utc(2026, 11, 23, 4), logged_at=logged(2026, 11, 23, 4))
    assert lifecycle.apply_status(state, ahead, SLA, POLICY) == []
    designated = {
        **designate("kemenhub", utc(2026, 11, 24, 2)),
        "logged_at": logged(2026, 11, 24, 2),
    }
    effects = lifecycle.apply_status(state, designated, SLA, POLICY)
    assert Assign("kemenhub", "Budi", "jalan nasional", logged(2026, 11, 24, 2)) in effects
    assert state["agencies"]["kemenhub"]["since"] == logged(2026, 11, 24, 2)
    # the decision the designation makes releases the held status: refused
    assigned = decision("kemenhub", at=utc(2026, 11, 24, 2), reason="assigned")
    released = lifecycle.apply_decision(
        state, report(), "b64", assigned, SLA, POLICY, logged(2026, 11, 24, 2, 0, 1)
    )
    assert [type(e) for e in released] == [lifecycle.Refuse]
    assert state["agencies"]["kemenhub"]["status"] is None


def test_a_copy_made_handler_answers_as_handler_only_from_then_on():
    """What an agency wrote while it was informed as a copy (or relieved) is no answer of
    its handler: read after the decision that makes it the handler, it is refused."""
    state = lifecycle.empty_state("h-1")
    first = lifecycle_decision(
        ("kemenkes", "HANDLER"), ("kemenhub", "COPY"), at=utc(2026, 11, 23, 3)
    )
    lifecycle.apply_decision(state, report(), "b64", first, SLA, POLICY, logged(2026, 11, 23, 3))
    rerouted = decision("kemenhub", at=utc(2026, 11, 24, 2))
    lifecycle.apply_decision(state, report(), "b64", rerouted, SLA, POLICY, logged(2026, 11, 24, 2))
    as_copy = status(
        "kemenhub", "RESOLVED", utc(2026, 11, 23, 5), logged_at=logged(2026, 11, 23, 5)
    )
    effects = lifecycle.apply_status(state, as_copy, SLA, POLICY)
    assert [type(e) for e in effects] == [lifecycle.Refuse]
    # read again after a restart: refused once; the same id written later by the app counts
    assert lifecycle.apply_status(state, dict(as_copy), SLA, POLICY) == []
    later = {**as_copy, "logged_at": logged(2026, 11, 24, 5)}
    assert [type(e) for e in lifecycle.apply_status(state, later, SLA, POLICY)] == [Feedback]


def test_a_state_kept_from_before_since_takes_the_first_decision_naming_the_agency():
    state = routed("kemenkes")
    del state["agencies"]["kemenkes"]["since"]
    early = status("kemenkes", "RECEIVED", utc(2026, 11, 23, 1), logged_at=logged(2026, 11, 23, 1))
    assert [type(e) for e in lifecycle.apply_status(state, early, SLA, POLICY)] == [
        lifecycle.Refuse
    ]
