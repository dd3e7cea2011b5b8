"""The tracker through a real broker, with the whole hub and simulated apps around it.

Reports filed in an origin app are pulled, routed, delivered; officers at the destination
apps answer; the tracker sends every handler's status back to the origin app (counted
there, once each). "Not our authority" re-routes the report to another agency. The tracker
is SIGKILLed and restarted: its table comes back from the changelog, so a status for a report
it saw before the crash still reaches the origin. An overdue report escalates to the
agency's parent, and the origin hears of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from connectors.declarative.simulator import DinasJsonApp
from connectors.lapor_json.simulator import LaporJsonApp
from connectors.open311.simulator import Open311App
from connectors.simulator import serve
from connectors.soap_ministry.simulator import SoapMinistryApp
from hub import topics
from hub.config import load_config
from hub.kafka import make_producer, partition_of, read_to_end
from hub.runtime import HubRuntime, start_tracker, wait_until
from hub.samples import sample_report
from hub.sdk.reports import hub_id
from hub.serialization import SchemaStore, SingleObjectCodec, TopicSerializer
from hub.serialization.store import default_schema_dir
from tests.helpers import routed

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
SERIALIZER = TopicSerializer(SingleObjectCodec(SchemaStore(default_schema_dir())))
ORIGIN = "warga-jatim"
FAUST_DROPS = ("DROPPED MESSAGE", "Skipping message", "Cancelling getmany", "flow not active")
MAPPING = Path(__file__).resolve().parents[2] / "connectors/declarative/examples/dinas-json.yaml"


def delivered_hub_ids(apps: dict) -> dict[str, list[str]]:
    """hub id -> the apps it was delivered to (one entry per delivery)."""
    found: dict[str, list[str]] = {}
    for document in apps["lapor"].state.delivered.values():
        found.setdefault(document["referensi_hub"], []).append("lapor")
    for form in apps["open311"].state.delivered.values():
        found.setdefault(form["attribute[hub_id]"], []).append("open311")
    for data in apps["soap"].state.delivered.values():
        found.setdefault(data["ReferensiHub"], []).append("soap")
    for document in apps["dinas"].state.delivered.values():
        found.setdefault(document["ref"], []).append("dinas")
    return found


def told(origin: LaporJsonApp, source_id: str) -> list[str]:
    """The statuses the origin app heard about one of its reports, in order."""
    with origin.state.lock:
        return [f["status"] for f in origin.state.feedback.values() if f["source_id"] == source_id]


def log_tail(path: Path, lines: int = 40) -> str:
    """The tracker's last log lines (JSON, at INFO), shortened for an assertion message."""
    out = []
    for line in path.read_text().splitlines()[-lines:]:
        try:
            entry = json.loads(line)
        except ValueError:
            out.append(line[:200])
            continue
        out.append(
            f"{entry['time'][11:23]} {entry['level']} {entry['logger']}: {entry['message'][:160]}"
        )
    return "\n".join(out)


def trail(bootstrap: str, hub: str, tracker: subprocess.Popen, log_path: Path) -> str:
    """Where a report's statuses got to, hop by hop, for a failure to say which hop stalled."""
    from hub.kafka import read_to_end

    def statuses(topic: str) -> list[str]:
        return [
            f"{u['agency']}:{u['status']}"
            for m in read_to_end(bootstrap, topic, key=hub.encode())
            if m.key() == hub.encode()
            for u in [SERIALIZER.deserialize(topic, m.value())]
        ]

    pulled = statuses(topics.status("lapor-nasional"))
    sent_back = statuses(topics.feedback(ORIGIN))
    alive = "running" if tracker.poll() is None else f"exited {tracker.returncode}"
    # faust drops or skips records in a few places, logged only with DEVLOG: show those
    dropped = [
        line[:300]
        for line in log_path.read_text().splitlines()
        if any(word in line for word in FAUST_DROPS)
    ]
    return (
        f"\n{hub} pulled from the national app: {pulled}\nsent back to the origin: {sent_back}"
        f"\nrecords faust dropped or skipped: {dropped[-20:]}"
        f"\ntracker {alive}; its log:\n{log_tail(log_path)}"
    )


def test_statuses_reach_the_origin_and_the_tracker_survives_a_kill(
    fresh_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the trackers log at INFO, faust's record-level lines included (mode's DEVLOG), so a
    # status that is lost on the way can be traced (it happened once in ~40 runs)
    monkeypatch.setenv("LAPOR_HUB_LOG_JSON", "1")
    monkeypatch.setenv("DEVLOG", "1")
    origin = LaporJsonApp()
    apps = {
        "lapor": LaporJsonApp(),
        "open311": Open311App(),
        "soap": SoapMinistryApp(),
        "dinas": DinasJsonApp(),
    }
    with contextlib.ExitStack() as stack:
        url = {name: stack.enter_context(serve(app.app)) for name, app in apps.items()}
        origin_url = stack.enter_context(serve(origin.app))
        fast = {"poll_interval_s": 0.3}
        config = {
            "group_prefix": "trk",
            "connectors": {
                ORIGIN: {
                    "type": "lapor-json",
                    "agency": "pemprov-jawa-timur",
                    "base_url": origin_url,
                    **fast,
                },
                "lapor-nasional": {
                    "type": "lapor-json",
                    "agency": "admin-nasional",
                    "base_url": url["lapor"],
                    **fast,
                },
                "open311-surabaya": {
                    "type": "open311",
                    "agency": "pemkot-surabaya",
                    "base_url": url["open311"],
                    **fast,
                },
                "kemensos-soap": {
                    "type": "soap-ministry",
                    "agency": "kemensos",
                    "base_url": url["soap"],
                    **fast,
                },
                "dinas-bandung": {
                    "type": "declarative",
                    "agency": "pemkot-bandung",
                    "base_url": url["dinas"],
                    "mapping": str(MAPPING),
                },
            },
        }
        config_path = tmp_path / "hub.yaml"
        config_path.write_text(yaml.safe_dump(config))
        log_path = tmp_path / "tracker.log"
        hub = HubRuntime(config_path, fresh_bootstrap, name="1", primary=True)
        stop = threading.Event()
        thread = threading.Thread(target=hub.run, args=(stop,), daemon=True)
        thread.start()
        stack.callback(thread.join, 60)
        stack.callback(stop.set)
        tracker = start_tracker(config_path, fresh_bootstrap, "t1", 1.0, log_path)
        stack.callback(lambda: tracker.poll() is None and tracker.kill())
        assert wait_until(hub.started.is_set, 90), "the hub did not start"

        rng = random.Random(9)
        sources = []
        for _ in range(8):
            report = sample_report(rng)
            filed = origin.citizen_files(
                judul=report["title"],
                isi=report["body"],
                lokasi={"kode_wilayah": report["location"]["region_code"]},
            )
            sources.append(filed["tracking_id"])
        ids = {hub_id(ORIGIN, s): s for s in sources}
        assert wait_until(lambda: set(delivered_hub_ids(apps)) >= set(ids), 60), (
            "every report was delivered"
        )
        # the destination apps' RECEIVED comes back to the origin for every report
        assert wait_until(lambda: all("baru" in told(origin, s) for s in sources), 60), (
            {s: told(origin, s) for s in sources},
            log_tail(log_path),
        )

        # officers answer where they can be read back (the dinas app has no status feed)
        answered: dict[str, str] = {}
        for key in list(apps["lapor"].state.idempotency):  # one per (report, agency)
            report_id, agency = key.split(":")[:2]
            apps["lapor"].officer_updates(report_id, "diproses", "Dicek", agency=agency)
            answered[report_id] = "ditindaklanjuti"
        for remote, form in list(apps["open311"].state.delivered.items()):
            apps["open311"].city_updates(remote, "closed", "Sudah ditambal", "fixed")
            answered[form["attribute[hub_id]"]] = "selesai"
        for data in list(apps["soap"].state.delivered.values()):
            apps["soap"].official_updates(data["ReferensiHub"], "DIPROSES", "Diverifikasi")
            answered[data["ReferensiHub"]] = "ditindaklanjuti"
        assert answered
        assert wait_until(
            lambda: all(word in told(origin, ids[h]) for h, word in answered.items() if h in ids),
            60,
        ), {s: told(origin, s) for s in sources}

        # not our authority: one report delivered through the national app is re-routed
        document = next(
            d for d in apps["lapor"].state.delivered.values() if d["referensi_hub"] in ids
        )
        refused, handler = document["referensi_hub"], document["instansi_tujuan"][0]
        apps["lapor"].officer_updates(refused, "bukan_wewenang", "Bukan kewenangan", handler)

        def new_handlers() -> set[str]:
            keys = {k for worker in hub.delivery.values() for k in worker.delivered}
            return {
                k.split(":")[1]
                for k in keys
                if k.startswith(f"{refused}:") and not k.endswith(":copy")
            } - {handler}

        # delivered as handler to another agency (an app that had it as a copy answers
        # with its id for it: the SOAP system knows a report by the hub's reference)
        assert wait_until(lambda: bool(new_handlers()), 60), "re-routed and delivered"
        assert wait_until(lambda: "dilimpahkan" in told(origin, ids[refused]), 30)

        # the tracker dies mid-stream and comes back: its table is rebuilt from the changelog
        tracker.send_signal(signal.SIGKILL)
        tracker.wait(10)
        document = next(
            d
            for d in apps["lapor"].state.delivered.values()
            if d["referensi_hub"] in ids and d["referensi_hub"] != refused
        )
        late = document["referensi_hub"]
        apps["lapor"].officer_updates(late, "selesai", "Diperbaiki", document["instansi_tujuan"][0])
        tracker = start_tracker(config_path, fresh_bootstrap, "t1", 1.0, log_path)
        stack.callback(lambda: tracker.poll() is None and tracker.kill())
        assert wait_until(lambda: "selesai" in told(origin, ids[late]), 90), (
            "a status for a report seen before the crash did not reach the origin: "
            + trail(fresh_bootstrap, late, tracker, log_path)
        )

        # an overdue report escalates to the agency's parent; the origin hears of it
        old = sample_report(rng)
        old_source = sources[0]
        old.update(
            hub_id=hub_id(ORIGIN, "LAMA-1"),
            received_at=datetime.now(UTC) - timedelta(days=70),
            source={**old["source"], "connector": ORIGIN, "source_id": old_source},
        )
        old["location"]["region_code"] = "35.78"
        producer = make_producer(fresh_bootstrap)
        value = SERIALIZER.serialize(
            topics.ROUTED, routed(old, "pemkot-surabaya", "test: a report filed 70 days ago")
        )
        producer.produce(topics.ROUTED, key=old["hub_id"].encode(), value=value)
        assert producer.flush(30) == 0
        assert wait_until(lambda: "dieskalasi" in told(origin, old_source), 60), told(
            origin, old_source
        )

        def escalated() -> list[dict]:
            documents = list(apps["lapor"].state.delivered.values())
            return [d for d in documents if d["referensi_hub"] == old["hub_id"]]

        assert wait_until(lambda: bool(escalated()), 30), "the parent received the report"
        assert [d["instansi_tujuan"] for d in escalated()] == [["pemprov-jawa-timur"]]
        assert "escalated" in escalated()[0]["alasan_rute"]

        # each status was taken once by the origin app, whatever was sent twice
        with origin.state.lock:
            keys = list(origin.state.feedback)
        assert len(keys) == len(set(keys))

    # every state is on its report's own changelog partition, where a tracker given that
    # partition recovers it (the agent takes events of several partitions at once)
    partitions = load_config(config_path).topics.partitions
    changelog = list(read_to_end(fresh_bootstrap, topics.tracker_changelog("trk")))
    assert len({m.partition() for m in changelog}) > 1, "reports on several partitions"
    misplaced = [m.key() for m in changelog if m.partition() != partition_of(m.key(), partitions)]
    assert misplaced == []

    state = read_state(fresh_bootstrap, "trk", refused)
    assert state["chain"] == [handler]
    assert state["agencies"][handler]["status"] == "NOT_AUTHORITY"
    assert len(state["decisions"]) >= 2

    # `reports show` tells the whole story, the tracker's clocks included
    shown = subprocess.run(
        [sys.executable, "-m", "hub", "reports", "show", refused, "--config", str(config_path)],
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": fresh_bootstrap, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert f"re-routing chain: {handler}" in shown.stdout
    assert "NOT_AUTHORITY" in shown.stdout and "completion" in shown.stdout
    assert shown.stdout.count("routed") >= 2, "the first decision and the re-routed one"


def read_state(bootstrap: str, prefix: str, hub: str) -> dict:
    found = None
    for message in read_to_end(bootstrap, topics.tracker_changelog(prefix)):
        if message.key() == hub.encode() and message.value():
            found = json.loads(message.value())
    assert found is not None, f"no tracker state for {hub}"
    return found
