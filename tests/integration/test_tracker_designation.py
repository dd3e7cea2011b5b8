"""The loop closes for every report, through a real broker and a running tracker.

The national administrator designates a handler with `lapor-hub reports assign` (refused for
an agency the directory does not have, or a report nobody tracks; recorded in the audit
trail, which `lapor-hub audit verify` accepts); the tracker routes the report there and
relieves the handler before it. An agency answering "not our authority" may name the agency
it believes responsible: the report goes there when the directory agrees, and the router
decides when it names itself, an agency that does not exist or one that refused already.
The fallback cannot close a report no other agency took: it waits for a designation, shown
by `reports show` and a gauge, until `reports assign` gives it a handler.
"""

from __future__ import annotations

import base64
import os
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub import audit, records, topics
from hub.kafka import make_producer, read_to_end
from hub.runtime import wait_until
from hub.samples import sample_report
from hub.sdk.reports import hub_id, new_status
from hub.serialization import SchemaStore, SingleObjectCodec, TopicSerializer
from hub.serialization.store import default_schema_dir
from hub.tracker import app as tracker_app
from hub.tracker import metrics as tracker_metrics
from tests.conftest import hub_cli
from tests.helpers import routed, tracker_running

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
SERIALIZER = TopicSerializer(SingleObjectCodec(SchemaStore(default_schema_dir())))
ORIGIN, NATIONAL, FALLBACK = "warga", "lapor-nasional", "admin-nasional"
PREFIX = "designate"
STATUS_TOPIC = topics.status(NATIONAL)
MAPPING = Path(__file__).resolve().parents[2] / "connectors/declarative/examples/dinas-json.yaml"


class Hub:
    """A running tracker on the module's own broker, and what the tests ask of it."""

    def __init__(self, bootstrap: str, config: Path, tracker: tracker_app.Tracker) -> None:
        self.bootstrap, self.config, self.tracker = bootstrap, config, tracker
        self.rng = random.Random(77)
        self.producer = make_producer(bootstrap)

    def report(self, handler: str, **decision: Any) -> str:
        """A report of the origin app, routed to ``handler``; its hub id once tracked."""
        source_id = f"W-{self.rng.randrange(10**9)}"
        sample = sample_report(self.rng)
        report = {
            **sample,
            "source": {**sample["source"], "connector": ORIGIN, "source_id": source_id},
            "hub_id": hub_id(ORIGIN, source_id),
            "received_at": datetime.now(UTC) - timedelta(minutes=5),
        }
        value = routed(report, handler)
        value["decision"].update(decision)
        self._send(topics.ROUTED, report["hub_id"], SERIALIZER.serialize(topics.ROUTED, value))
        assert wait_until(lambda: self.state(report["hub_id"]) is not None, 60), "not tracked"
        return report["hub_id"]

    def answer(self, hub: str, agency: str, status: str, suggested: str | None = None) -> None:
        update = new_status(
            hub_id=hub,
            agency=agency,
            status=status,
            source_status=status.lower(),
            actor="petugas",
            occurred_at=datetime.now(UTC),
            suggested_agency=suggested,
        )
        self._send(STATUS_TOPIC, hub, SERIALIZER.serialize(STATUS_TOPIC, update))

    def _send(self, topic: str, key: str, value: bytes) -> None:
        self.producer.produce(topic, key=key.encode(), value=value)
        assert self.producer.flush(30) == 0

    def state(self, hub: str) -> dict[str, Any] | None:
        return self.tracker.state(hub.encode())

    def decisions(self, hub: str) -> list[dict[str, Any]]:
        """Every routing decision of the report on lapor.routed, in order."""
        return [
            SERIALIZER.deserialize(topics.ROUTED, m.value())["decision"]
            for m in read_to_end(self.bootstrap, topics.ROUTED, key=hub.encode())
            if m.key() == hub.encode()
        ]

    def sent_to(self, hub: str) -> list[tuple[str, str]]:
        """(agency, role) of every record of the report on the national app's outbound topic."""
        found = []
        for m in read_to_end(self.bootstrap, topics.outbound(NATIONAL), key=hub.encode()):
            if m.key() == hub.encode():
                headers = records.headers_of(m)
                found.append(
                    (
                        records.text(headers, records.DESTINATION),
                        records.text(headers, records.ROLE),
                    )
                )
        return found

    def told(self, hub: str) -> list[tuple[str, str]]:
        """(agency, status) of what the origin app is told of the report, in order."""
        topic = topics.feedback(ORIGIN)
        return [
            (u["agency"], u["status"])
            for m in read_to_end(self.bootstrap, topic, key=hub.encode())
            if m.key() == hub.encode()
            for u in [SERIALIZER.deserialize(topic, m.value())]
        ]

    def cli(self, *args: str):
        return hub_cli(self.bootstrap, *args, "--config", str(self.config))

    def assign(self, hub: str, agency: str, reason: str = "urusan kesehatan", *more: str):
        return self.cli("reports", "assign", hub, agency, "--reason", reason, *more)


@pytest.fixture(scope="module")
def hub(fresh_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    folder = tmp_path_factory.mktemp("designate")
    patch = pytest.MonkeyPatch()
    # the trail on the module's broker is signed by the module's key (CLI runs inherit it)
    patch.setenv("LAPOR_HUB_AUDIT_KEY", base64.b64encode(os.urandom(32)).decode())
    config = {
        "group_prefix": PREFIX,
        "connectors": {
            ORIGIN: {"type": "lapor-json", "agency": "pemprov-jawa-timur"},
            NATIONAL: {"type": "lapor-json", "agency": FALLBACK},
            # every connector the directory names, so that whatever the router re-routes
            # to can be sent (no app is called: nothing delivers here)
            "open311-surabaya": {"type": "open311", "agency": "pemkot-surabaya"},
            "kemensos-soap": {"type": "soap-ministry", "agency": "kemensos"},
            "dinas-bandung": {
                "type": "declarative",
                "agency": "pemkot-bandung",
                "mapping": str(MAPPING),
            },
        },
    }
    config_path = folder / "hub.yaml"
    config_path.write_text(yaml.safe_dump(config))
    tracker = tracker_app.Tracker(
        config_path, fresh_bootstrap, "1", tick_seconds=1.0, datadir=folder
    )
    try:
        with tracker_running(tracker):
            yield Hub(fresh_bootstrap, config_path, tracker)
    finally:
        patch.undo()


def test_assign_routes_to_the_designated_agency_and_is_audited(hub: Hub) -> None:
    report = hub.report("kemenkes")
    hub.answer(report, "kemenkes", "RECEIVED")
    assert wait_until(lambda: hub.state(report)["agencies"]["kemenkes"]["status"], 30)

    done = hub.assign(report, "kemendikdasmen", "sekolah negeri, bukan rumah sakit", "--as", "Budi")
    assert done.returncode == 0, done.stderr
    assert "relieves kemenkes" in done.stdout
    assert "routed: kemendikdasmen (handler); assigned by Budi: sekolah negeri" in done.stdout

    decision = hub.decisions(report)[-1]
    assert decision["reason"] == "assigned by Budi: sekolah negeri, bukan rumah sakit"
    assert decision["destinations"] == [{"agency": "kemendikdasmen", "role": "HANDLER"}]
    assert decision["matched_rules"] == [] and decision["excluded_agencies"] == []
    assert ("kemendikdasmen", "HANDLER") in hub.sent_to(report)

    state = hub.state(report)
    assert state["agencies"]["kemendikdasmen"]["role"] == "HANDLER"
    assert state["agencies"]["kemenkes"]["role"] == "RELIEVED"
    assert state["assignments"][-1]["relieved"] == ["kemenkes"]
    # the origin is told of the designation, and of the transfer away from the old handler
    assert wait_until(lambda: (FALLBACK, "FORWARDED") in hub.told(report), 30), hub.told(report)
    assert ("kemenkes", "NOT_AUTHORITY") in hub.told(report)

    # the audit trail has it, chained and signed
    verified = hub_cli(hub.bootstrap, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "intact" in verified.stdout
    entries = [
        item.entry
        for item in audit.entries(hub.bootstrap, "report.assign")
        if item.entry and item.entry.what["hub_id"] == report
    ]
    assert len(entries) == 1 and entries[0].outcome == "ok"
    assert entries[0].what["agency"] == "kemendikdasmen"
    assert entries[0].what["operator"] == "Budi" and entries[0].login
    assert entries[0].what["previous"] == ["kemenkes"]

    # `reports show` tells it: the decision, the designation, the relieved handler
    shown = hub.cli("reports", "show", report)
    assert shown.returncode == 0, shown.stderr
    assert "assigned by Budi: sekolah negeri, bukan rumah sakit" in shown.stdout
    assert "designates kemendikdasmen" in shown.stdout
    assert "assignment" in shown.stdout and "relieved kemenkes" in shown.stdout
    assert "relieved" in shown.stdout.lower()

    # assigning it to the agency that has it now is refused
    again = hub.assign(report, "kemendikdasmen")
    assert again.returncode == 2
    assert "kemendikdasmen handles report" in again.stderr


def test_assign_refuses_what_it_cannot_carry_out(hub: Hub) -> None:
    report = hub.report("kemenkes")
    trail = len(audit.read_trail(hub.bootstrap))

    unknown = hub.assign(report, "kementerian-fiktif")
    assert unknown.returncode == 2
    assert "no agency 'kementerian-fiktif' in the directory" in unknown.stderr
    assert "not assigned" in unknown.stderr

    nobody = hub.assign(hub_id(ORIGIN, "TIDAK-ADA"), "kemenhub")
    assert nobody.returncode == 2
    assert "is tracked on this cluster" in nobody.stderr

    fallback = hub.assign(report, FALLBACK)
    assert fallback.returncode == 2 and "national administrator" in fallback.stderr

    assert len(audit.read_trail(hub.bootstrap)) == trail, "nothing refused is recorded"
    assert [d["reason"] for d in hub.decisions(report)] == ["test"]


def test_a_refusal_naming_a_valid_agency_is_routed_there(hub: Hub) -> None:
    report = hub.report("kemenkes")
    hub.answer(report, "kemenkes", "NOT_AUTHORITY", suggested="kemenhub")
    assert wait_until(lambda: len(hub.decisions(report)) == 2, 30)
    decision = hub.decisions(report)[-1]
    assert decision["reason"] == "suggested by kemenkes"
    assert decision["destinations"] == [{"agency": "kemenhub", "role": "HANDLER"}]
    assert decision["excluded_agencies"] == ["kemenkes"]
    assert ("kemenhub", "HANDLER") in hub.sent_to(report)
    assert wait_until(lambda: "kemenhub" in hub.state(report)["agencies"], 30)
    assert hub.state(report)["suggestions"][-1]["outcome"] == "followed"


@pytest.mark.parametrize(
    ("named", "why"),
    [
        ("kemenkes", "kemenkes named itself"),
        ("kementerian-fiktif", "is no agency of the directory"),
        ("refused", "already refused this report"),
    ],
)
def test_a_suggestion_the_directory_does_not_back_is_ignored_and_the_router_decides(
    hub: Hub, named: str, why: str
) -> None:
    if named == "refused":  # kemenhub refuses first; then kemenkes names it
        report = hub.report("kemenhub")
        hub.answer(report, "kemenhub", "NOT_AUTHORITY", suggested="kemenkes")
        assert wait_until(lambda: len(hub.decisions(report)) == 2, 30)
        named = "kemenhub"
    else:
        report = hub.report("kemenkes")
    before = len(hub.decisions(report))
    hub.answer(report, "kemenkes", "NOT_AUTHORITY", suggested=named)
    assert wait_until(lambda: len(hub.decisions(report)) == before + 1, 30)
    decision = hub.decisions(report)[-1]
    assert not decision["reason"].startswith("suggested by"), decision["reason"]
    assert "kemenkes" in decision["excluded_agencies"]
    assert named not in [d["agency"] for d in decision["destinations"]] or named == FALLBACK
    note = hub.state(report)["suggestions"][-1]
    assert note["by"] == "kemenkes" and note["named"] == named
    assert note["outcome"].startswith("ignored: ") and why in note["outcome"]


def test_the_fallback_cannot_close_an_unhandled_report_until_one_is_designated(hub: Hub) -> None:
    gauge = tracker_metrics.AWAITING_DESIGNATION
    closed = hub.report(FALLBACK, fallback=True, reason="unmatched", matched_rules=[])
    refused = hub.report(FALLBACK, fallback=True, reason="unmatched", matched_rules=[])
    hub.answer(closed, FALLBACK, "CLOSED")
    hub.answer(refused, FALLBACK, "NOT_AUTHORITY")

    def waiting(report: str) -> bool:
        state = hub.state(report)
        return bool(state.get("awaiting_designation")) and state["state"] == "open"

    assert wait_until(lambda: waiting(closed) and waiting(refused), 30)
    assert hub.state(closed)["agencies"][FALLBACK]["status"] == "CLOSED"
    assert hub.state(refused)["chain"] == [], "a refusal the tracker holds re-routes nothing"
    assert len(hub.decisions(refused)) == 1
    assert wait_until(lambda: gauge._value.get() == 2, 30), gauge._value.get()
    assert hub.told(closed) == [], "the origin is not told of a close that is not one"

    shown = hub.cli("reports", "show", closed)
    assert shown.returncode == 0, shown.stderr
    assert "AWAITING DESIGNATION" in shown.stdout and "awaiting designation" in shown.stdout

    done = hub.assign(closed, "kemenkes", "rumah sakit daerah", "--as", "Sari")
    assert done.returncode == 0, done.stderr
    assert "routed: kemenkes (handler); assigned by Sari: rumah sakit daerah" in done.stdout
    state = hub.state(closed)
    assert not state["awaiting_designation"] and state["state"] == "open"
    assert state["agencies"]["kemenkes"]["role"] == "HANDLER"
    assert state["agencies"][FALLBACK]["role"] == "RELIEVED"
    assert ("kemenkes", "HANDLER") in hub.sent_to(closed)
    assert wait_until(lambda: gauge._value.get() == 1, 30), gauge._value.get()

    # the new handler closes it: now it is closed
    hub.answer(closed, "kemenkes", "CLOSED")
    assert wait_until(lambda: hub.state(closed)["state"] == "done", 30)

    done = hub.assign(refused, "kemenhub", "perhubungan")
    assert done.returncode == 0, done.stderr
    assert wait_until(lambda: gauge._value.get() == 0, 30), gauge._value.get()
    verified = hub_cli(hub.bootstrap, "audit", "verify")
    assert verified.returncode == 0, verified.stderr


def test_a_status_written_before_its_agency_was_sent_the_report_is_refused(hub: Hub) -> None:
    """An agency's app answers "selesai" for a report another agency handles: held (the
    tracker may read a status before the decision that sends the report), and when the
    report is then re-routed to that agency, refused as written before it was sent there:
    a dead letter with the reason, and the origin is told nothing of it."""
    import time

    from hub.tracker.lifecycle import CLOCK_SKEW_MS

    report = hub.report("kemenkes")
    hub.answer(report, "kemenhub", "RESOLVED")
    assert wait_until(lambda: hub.state(report)["pending"], 30), "held"
    time.sleep(CLOCK_SKEW_MS / 1000 + 0.5)
    hub.answer(report, "kemenkes", "NOT_AUTHORITY", suggested="kemenhub")
    assert wait_until(lambda: "kemenhub" in hub.state(report)["agencies"], 30)

    def refused() -> list[str]:
        return [
            records.text(records.headers_of(m), records.ERROR_MESSAGE)
            for m in read_to_end(hub.bootstrap, topics.dead_letter("tracker"))
            if m.key() == report.encode()
        ]

    assert wait_until(refused, 30), "no dead letter for the status written ahead"
    assert "before the report was sent to it" in refused()[0]
    state = hub.state(report)
    assert state["agencies"]["kemenhub"]["status"] is None and not state["pending"]
    assert ("kemenhub", "RESOLVED") not in hub.told(report)
    # kemenhub's own answer, now that it has the report, counts
    hub.answer(report, "kemenhub", "RECEIVED")
    assert wait_until(lambda: ("kemenhub", "RECEIVED") in hub.told(report), 30)
