"""The console's parts that need no broker: the reports view's summaries, indexes and
tallies (fed with states the tracker's own lifecycle made), who may see what, the accounts
file, the words of both languages, where a login may send the browser."""

from __future__ import annotations

import base64
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from hub.config import OidcSettings
from hub.console.accounts import add_user, check_password, load_accounts, remove_user
from hub.console.app import _local
from hub.console.auth import user_of_claims
from hub.console.i18n import WORDS
from hub.console.view import ReportsView
from hub.errors import HubError
from hub.tracker import lifecycle

TEMPLATES = Path(__file__).resolve().parents[2] / "hub/console/templates"


def tracked(hub_id: str, agency: str, days_ago: int, statuses=(), copy: str | None = None):
    received = datetime.now(UTC) - timedelta(days=days_ago)
    report = {
        "hub_id": hub_id,
        "source": {"connector": "warga-app", "source_id": f"W-{hub_id}"},
        "location": {"region_code": "35.78"},
        "received_at": received,
    }
    destinations = [{"agency": agency, "role": "HANDLER"}]
    if copy:
        destinations.append({"agency": copy, "role": "COPY"})
    decision = {
        "destinations": destinations,
        "rules_version": "t",
        "decided_at": received,
        "reason": "t",
    }
    state = lifecycle.empty_state(hub_id)
    lifecycle.apply_decision(state, report, "", decision, lifecycle.SlaDefaults())
    for status in statuses:
        update = lifecycle.hub_status(state, agency, status, received + timedelta(hours=1), "t")
        lifecycle.apply_status(state, update, lifecycle.SlaDefaults())
    lifecycle.apply_tick(state, datetime.now(UTC))
    return state


def message(state, offset: int = 0):
    import json

    value = json.dumps(state, default=str).encode() if state else None
    return SimpleNamespace(
        key=lambda: state["hub_id"].encode() if state else b"gone",
        value=lambda: value,
        partition=lambda: 0,
        offset=lambda: offset,
    )


@pytest.fixture
def view() -> ReportsView:
    return ReportsView("127.0.0.1:1", "t", decode=lambda _b: {"title": "", "kind": ""})


def test_tallies_follow_each_state_as_it_changes(view: ReportsView) -> None:
    view.take(message(tracked("a", "pemkot-surabaya", 1), 0))
    view.take(message(tracked("b", "pemkot-surabaya", 60, copy="ombudsman"), 1))
    rows = view.sla_rows()
    assert rows["pemkot-surabaya"]["open"] == 2
    assert rows["pemkot-surabaya"]["overdue:completion"] == 1  # 60 days > 30 working days
    assert "open" not in rows.get("ombudsman", {})  # a copy handles nothing
    # the same report again, now closed: its counts leave with its old state
    view.take(message(tracked("b", "pemkot-surabaya", 60, statuses=("CLOSED",)), 2))
    rows = view.sla_rows()
    assert rows["pemkot-surabaya"]["open"] == 1
    assert rows["pemkot-surabaya"]["overdue:completion"] == 0
    assert view.search("ombudsman") == []
    assert [s.hub_id for s in view.search("pemkot-surabaya")] == ["a", "b"]  # newest first
    assert view.get("b").offset == 2


def test_deadlines_ahead_and_overdue_clocks_are_listed_in_order(view: ReportsView) -> None:
    for number, days in enumerate((1, 60, 12, 90)):
        view.take(message(tracked(f"r{number}", "kemensos", days), number))
    ahead = view.nearest_deadlines()
    assert [d.hub_id for d in ahead] == ["r2", "r0"]  # the older report's deadline is nearer
    late = view.overdue_reports()
    assert [(s.hub_id, clock) for s, _a, clock in late] == [
        ("r3", "completion"),
        ("r1", "completion"),
    ]
    assert view.overdue_reports(keep=lambda agency: agency != "kemensos") == []


def test_a_removed_state_leaves_every_index(view: ReportsView) -> None:
    view.take(message(tracked("x", "kemensos", 60), 0))
    gone = message(None)
    gone.key = lambda: b"x"
    view.take(gone)
    assert len(view) == 0
    assert view.sla_rows() == {}
    assert not view.deadlines and not view.late and not view.by_source


def test_a_report_tracked_from_a_status_first_gets_its_title_with_its_decision() -> None:
    """Statuses and decisions come on different topics: a report's first state can be a
    status's, without the report; the title comes with the state that holds it."""
    view = ReportsView("127.0.0.1:1", "t", decode=lambda _b: {"title": "Jalan berlubang"})
    view.take(message(lifecycle.empty_state("x"), 0))
    assert view.get("x").title == ""
    decided = tracked("x", "kemensos", 1)
    decided["report"] = base64.b64encode(b"the report").decode()
    view.take(message(decided, 1))
    assert view.get("x").title == "Jalan berlubang"
    view.take(message(tracked("x", "kemensos", 1, statuses=("CLOSED",)), 2))
    assert view.get("x").title == "Jalan berlubang"  # kept once known


def test_an_agency_sees_the_reports_sent_to_it_or_filed_through_its_app(view) -> None:
    view.take(message(tracked("x", "kemensos", 1, copy="ombudsman"), 0))
    summary = view.get("x")
    assert summary.concerns("kemensos", None)
    assert summary.concerns("ombudsman", None)  # its copy
    assert summary.concerns("pemprov-jawa-timur", "pemprov-jawa-timur")  # filed through it
    assert not summary.concerns("pemkot-surabaya", "pemprov-jawa-timur")


def test_accounts_keep_hashes_only_in_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "accounts.yaml"
    add_user(path, "ani", "a-long-passphrase", "agency", "pemkot-surabaya")
    assert "a-long-passphrase" not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    accounts = load_accounts(path)
    user = check_password(accounts, "ani", "a-long-passphrase")
    assert (user.name, user.role, user.agency) == ("ani", "agency", "pemkot-surabaya")
    assert check_password(accounts, "ani", "wrong") is None
    assert check_password(accounts, "nobody", "a-long-passphrase") is None
    with pytest.raises(HubError):
        add_user(path, "budi", "short", "viewer", None)
    with pytest.raises(ValueError):
        add_user(path, "budi", "a-long-passphrase", "agency", None)  # which agency?
    assert remove_user(path, "ani") and not remove_user(path, "ani")


def test_every_word_a_template_asks_for_is_in_both_languages() -> None:
    asked = set()
    for template in TEMPLATES.glob("*.html"):
        asked |= set(re.findall(r"""\bt\(["']([a-z_ ]+)["']""", template.read_text()))
    assert asked, "no t() call found: the pattern is wrong"
    assert sorted(asked - set(WORDS)) == []
    assert all(len(pair) == 2 and all(pair) for pair in WORDS.values())


@pytest.mark.parametrize(
    ("asked", "goes"),
    [
        ("/sla", "/sla"),
        ("/reports?q=x", "/reports?q=x"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        (None, "/"),
    ],
)
def test_a_login_only_sends_the_browser_to_the_console(asked, goes) -> None:
    assert _local(asked) == goes


def test_the_identity_providers_claims_give_the_role_or_a_refusal() -> None:
    settings = OidcSettings(
        metadata_url="https://sso.example/.well-known/openid-configuration",
        client_id="c",
        client_secret_env="S",
    )
    user = user_of_claims(
        {"preferred_username": "ani", "lapor_role": "agency", "lapor_agency": "kemensos"},
        settings,
    )
    assert (user.name, user.role, user.agency) == ("ani", "agency", "kemensos")
    assert isinstance(user_of_claims({"sub": "x"}, settings), str)  # no role: refused
    assert isinstance(user_of_claims({"sub": "x", "lapor_role": "admin"}, settings), str)
    assert isinstance(user_of_claims({"sub": "x", "lapor_role": "agency"}, settings), str)
    viewer = settings.model_copy(update={"default_role": "viewer"})
    assert user_of_claims({"sub": "x"}, viewer).role == "viewer"


def test_contacts_in_an_apps_answer_are_masked_and_the_rest_kept() -> None:
    from hub.privacy import HIDDEN, mask_contacts

    said = (
        "LAPOR! API answered HTTP 422: telepon 0812-3456-7890 tidak valid, NIK "
        "3578011234567890, email ani.s@mail.go.id, +62 812 3456 7890; id LPR-2026-000001"
    )
    masked = mask_contacts(said)
    for secret in ("0812", "3578011234567890", "ani.s@", "812 3456"):
        assert secret not in masked
    assert masked.count(HIDDEN) == 4
    assert "HTTP 422" in masked and "LPR-2026-000001" in masked


def test_an_agency_claim_must_be_one_agency_of_the_directory() -> None:
    settings = OidcSettings(
        metadata_url="https://sso.example/.well-known/openid-configuration",
        client_id="c",
        client_secret_env="S",
    )
    claims = {"sub": "x", "lapor_role": "agency", "lapor_agency": ["kemensos", "kemenkes"]}
    assert isinstance(user_of_claims(claims, settings), str)
    known = {"kemensos"}
    claims["lapor_agency"] = "kemenag-palsu"
    assert isinstance(user_of_claims(claims, settings, known), str)
    claims["lapor_agency"] = "kemensos"
    assert user_of_claims(claims, settings, known).agency == "kemensos"
