"""The canary: reporters whose name, phone and email are unique strings go through every
stage of the hub, failures, retries, dead letters and a replay included. Then every topic's
raw bytes (changelogs included), every log line and the output of the operators' commands
are searched: the canaries appear in clear only in what an allowed destination received."""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from pathlib import Path

import pytest

from connectors.lapor_json.simulator import LaporJsonApp
from connectors.simulator import serve
from hub import records, topics
from hub.kafka import make_admin, read_to_end
from hub.privacy import FIELD_PREFIX, has_identity
from hub.runtime import wait_until
from hub.sdk.reports import hub_id
from hub.serialization import SchemaStore, SingleObjectCodec, TopicSerializer
from hub.serialization.store import default_schema_dir
from tests.conftest import hub_cli, run_hub

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
SERIALIZER = TopicSerializer(SingleObjectCodec(SchemaStore(default_schema_dir())))
ORIGIN = "warga-canary"


def canaries(tag: str) -> dict[str, str]:
    token = uuid.uuid4().hex[:8]
    return {
        "nama": f"Canary{tag}Nama{token}",
        "telepon": f"+62899{int(token, 16) % 10**8:08d}",
        "email": f"canary{tag.lower()}{token}@contoh.id",
    }


def filed(app: LaporJsonApp, person: dict, anonymous: bool, text: str, **extra) -> str:
    return app.citizen_files(
        judul="Jalan rusak",
        isi=text,
        lokasi={"kode_wilayah": "31.71"},
        pelapor={**person, "anonim": anonymous},
        **extra,
    )["tracking_id"]


def cli(bootstrap: str, *args: str) -> str:
    done = hub_cli(bootstrap, *args, timeout=120)
    return done.stdout + done.stderr


@pytest.fixture
def bootstrap(own_bootstrap: str) -> str:
    """A broker of its own, so that every topic on it can be searched."""
    return own_bootstrap


def test_no_identity_in_clear_outside_an_allowed_destination(
    bootstrap: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    named, anonymous, broken, refused = (canaries(t) for t in ("A", "B", "C", "D"))
    origin, destination = LaporJsonApp(), LaporJsonApp()
    destination.refuse_words.add("TOLAKSAYA")  # the app's validation refuses this one
    text = "Jalan berlubang besar di depan sekolah, mohon segera diperbaiki dinas terkait"
    with contextlib.ExitStack() as stack:
        origin_url = stack.enter_context(serve(origin.app))
        destination_url = stack.enter_context(serve(destination.app))
        config = {
            "group_prefix": "canary",
            "connectors": {
                ORIGIN: {
                    "type": "lapor-json",
                    "agency": "pemprov-jawa-timur",
                    "base_url": origin_url,
                    "poll_interval_s": 0.3,
                },
                "lapor-nasional": {
                    "type": "lapor-json",
                    "agency": "admin-nasional",
                    "base_url": destination_url,
                    "poll_interval_s": 0.3,
                },
            },
        }
        running = run_hub(stack, config, bootstrap, tmp_path)
        tracker_log, config_path = tmp_path / "tracker.log", tmp_path / "hub.yaml"

        destination.state.fail_next(3, status=503)  # retried, not lost
        ids = {
            "named": filed(origin, named, False, text),
            "anonymous": filed(origin, anonymous, True, text),
            "refused": filed(origin, refused, False, text + " TOLAKSAYA"),
        }
        filed(origin, broken, False, text, dibuat_pada="kemarin sore")  # a translate letter
        hubs = {k: hub_id(ORIGIN, v) for k, v in ids.items()}

        def received(key: str) -> bool:
            return any(
                d["referensi_hub"] == hubs[key] for d in destination.state.delivered.values()
            )

        assert wait_until(lambda: received("named") and received("anonymous"), 90)
        letters = cli(bootstrap, "dlq", "list")
        assert wait_until(lambda: "deliver" in cli(bootstrap, "dlq", "list"), 60), letters

        # the app is fixed; the refused report is replayed and delivered
        destination.refuse_words.clear()
        replayed = cli(bootstrap, "dlq", "replay", "--stage", "deliver")
        assert "replayed 1" in replayed, replayed
        assert wait_until(lambda: received("refused"), 60)
        # the officer answers; the status goes back to the origin
        destination.officer_updates(hubs["named"], "diproses", "Sedang dicek")
        assert wait_until(lambda: len(origin.state.feedback) >= 2, 60)

        # operators look: nothing they see by default holds an identity
        outputs = [letters, replayed, cli(bootstrap, "dlq", "list")]
        for letter in read_letter_ids(bootstrap):
            outputs.append(cli(bootstrap, "dlq", "show", letter))
        for key in hubs.values():
            outputs.append(cli(bootstrap, "reports", "show", key, "--config", str(config_path)))
        report_file = tmp_path / "report.json"
        report_file.write_text(
            json.dumps(
                {
                    "hub_id": "x",
                    "kind": "COMPLAINT",
                    "title": "Jalan rusak",
                    "body": text,
                    "location": {"region_code": "31.71"},
                    "reporter": {"name": named["nama"], "phone": named["telepon"]},
                }
            )
        )
        outputs.append(cli(bootstrap, "rules", "explain", str(report_file)))
        outputs.append(cli(bootstrap, "audit"))
        # an operator asks, with the key: the reveal is recorded
        revealed = cli(
            bootstrap,
            "reports",
            "show",
            hubs["named"],
            "--show-identity",
            "--config",
            str(config_path),
        )
        assert named["nama"] in revealed
        audit = cli(bootstrap, "audit", "--action", "identity")
        assert "identity.reveal" in audit and hubs["named"][:8] in audit
        assert "dlq.replay" in cli(bootstrap, "audit", "--action", "dlq")
        running.stop.set()
        running.thread.join(60)

    everything_secret = [*named.values(), *anonymous.values(), *broken.values(), *refused.values()]
    # 1. every topic, byte for byte: keys, values, headers
    for topic in sorted(make_admin(bootstrap).list_topics(timeout=10).topics):
        for message in read_to_end(bootstrap, topic):
            raw = b"".join(
                [message.key() or b"", message.value() or b""]
                + [k.encode() + (v or b"") for k, v in (message.headers() or [])]
            )
            for secret in everything_secret:
                assert secret.encode() not in raw, f"{secret} in clear on {topic}"
    # 2. every log line: this process's and the tracker's
    logs = "\n".join(r.getMessage() + " " + str(r.__dict__) for r in caplog.records)
    logs += tracker_log.read_text(errors="replace")
    # 3. what the operators' commands print by default
    printed = "\n".join(outputs)
    for secret in everything_secret:
        assert secret not in logs, f"{secret} in a log line"
        assert secret not in printed, f"{secret} in a command's output"
    # 4. the allowed destination has the named reporter; nobody has the anonymous one
    delivered = json.dumps(list(destination.state.delivered.values()), ensure_ascii=False)
    assert named["nama"] in delivered and named["telepon"] in delivered
    assert refused["nama"] in delivered, "delivered on replay, to its handler"
    for secret in anonymous.values():
        assert secret not in delivered, "an anonymous reporter reached a destination"
    assert all(secret not in json.dumps(origin.state.feedback) for secret in everything_secret)
    # 5. on the outbound topics: a copy or an anonymous report holds no identity, sealed or
    # not; a handler's is sealed with its own connector's key, which opens nothing else
    outbound = [
        t
        for t in make_admin(bootstrap).list_topics(timeout=10).topics
        if t.startswith(topics.OUTBOUND)
    ]
    seen = {"hidden": 0, "sealed": 0}
    for topic in outbound:
        connector = topic.removeprefix(topics.OUTBOUND)
        for message in read_to_end(bootstrap, topic):
            report = SERIALIZER.deserialize(topic, message.value())["report"]
            person, role = report["reporter"], dict(message.headers())[records.ROLE]
            if role == b"COPY" or person["anonymous"]:
                assert not has_identity(report), f"an identity on {topic} ({role})"
                seen["hidden"] += 1
            elif person["name"] is not None:
                assert person["name"].startswith(f"{FIELD_PREFIX}"), person["name"][:20]
                kid = person["name"][len(FIELD_PREFIX) :].split(":")[0]
                assert kid.endswith(f"@{connector}"), f"{kid} is not {connector}'s key"
                seen["sealed"] += 1
    assert seen["hidden"] >= 1 and seen["sealed"] >= 2, seen


def read_letter_ids(bootstrap: str) -> list[str]:
    from hub.ops.deadletters import Filter, read_letters

    return [letter.id for letter in read_letters(bootstrap, Filter())]
