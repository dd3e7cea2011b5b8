"""Per-agency access to Kafka, on the broker's SASL_SSL listener (SCRAM over TLS, ACLs):
a connector's principal reaches its own topics only, and a client without credentials is
refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Consumer, KafkaError, Producer

from hub import topics
from hub.config import load_config
from hub.kafka import TopicSpec, ensure_topics, make_admin
from hub.keyshare import agree
from hub.ops.security import credentials_file, make_plan
from hub.privacy import hub_keyring, write_keyring
from hub.records import SEALED
from tests.helpers import unique

pytestmark = pytest.mark.kafka


def client_config(secure: tuple[str, str], credentials: Path | None) -> dict:
    bootstrap, ca = secure
    config = {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "ssl.ca.location": ca,
        "ssl.endpoint.identification.algorithm": "https",
    }
    if credentials is None:
        config.update({"sasl.username": "nobody", "sasl.password": "guessed"})
    else:
        saved = json.loads(credentials.read_text())
        config.update({"sasl.username": saved["username"], "sasl.password": saved["password"]})
    return config


def security_apply(bootstrap: str, config: Path, credentials: Path):
    """`lapor-hub security apply`, as an operator runs it."""
    return subprocess.run(
        [
            *(sys.executable, "-m", "hub", "security", "apply"),
            *("--config", str(config), "--credentials", str(credentials)),
        ],
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap},
        capture_output=True,
        text=True,
        timeout=120,
    )


def produce_error(config: dict, topic: str) -> KafkaError | None:
    outcome: list[KafkaError | None] = []
    producer = Producer({**config, "message.timeout.ms": 15000})
    producer.produce(topic, key=b"k", value=b"v", on_delivery=lambda e, _m: outcome.append(e))
    producer.flush(20)
    return outcome[0] if outcome else KafkaError(KafkaError._MSG_TIMED_OUT)


def consume_error(config: dict, topic: str, group: str) -> KafkaError | None:
    consumer = Consumer({**config, "group.id": group, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    try:
        for _ in range(20):
            message = consumer.poll(0.5)
            if message is not None and message.error():
                return message.error()
            if message is not None:
                return None
        return None
    finally:
        consumer.close()


def test_a_connector_reaches_its_own_topics_only(
    kafka_bootstrap: str, kafka_secure: tuple[str, str], tmp_path: Path
) -> None:
    prefix = unique("acl")
    mine, theirs = unique("kota-a"), unique("kota-b")
    config_path = tmp_path / "hub.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "group_prefix": prefix,
                "connectors": {
                    mine: {"type": "lapor-json", "agency": "pemkot-surabaya", "base_url": "x"},
                    theirs: {"type": "lapor-json", "agency": "pemkot-bandung", "base_url": "x"},
                },
            }
        )
    )
    ensure_topics(
        make_admin(kafka_bootstrap),
        [
            TopicSpec(name)
            for name in (topics.inbound(mine), topics.outbound(theirs), topics.REPORTS)
        ],
    )
    credentials = tmp_path / "credentials"
    applied = security_apply(kafka_bootstrap, config_path, credentials)
    assert applied.returncode == 0, applied.stderr + applied.stdout
    plan = make_plan(load_config(config_path))
    assert {f"connector-{mine}", f"connector-{theirs}", "hub-runtime"} <= set(plan.principals)
    key_file = credentials_file(credentials, f"connector-{mine}")
    assert key_file.stat().st_mode & 0o077 == 0, "passwords are readable by their owner only"
    connector = client_config(kafka_secure, key_file)

    assert produce_error(connector, topics.inbound(mine)) is None, "its own inbound topic"
    refused = produce_error(connector, topics.REPORTS)
    assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    read = consume_error(connector, topics.outbound(theirs), f"{prefix}-deliver-{mine}")
    assert read is not None and read.code() in (
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
    ), f"another agency's outbound topic is closed to it: {read}"
    stranger = client_config(kafka_secure, None)
    failed = produce_error(stranger, topics.inbound(mine))
    assert failed is not None, "a client without valid credentials is refused"
    assert failed.code() in (
        KafkaError._AUTHENTICATION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError._MSG_TIMED_OUT,
        KafkaError._TRANSPORT,
    ), failed

    # applying again changes nothing: the same passwords, no error
    again = security_apply(kafka_bootstrap, config_path, credentials)
    assert again.returncode == 0, again.stderr
    assert produce_error(client_config(kafka_secure, key_file), topics.inbound(mine)) is None


def test_a_connector_runs_at_its_agency_with_its_own_credentials(
    kafka_bootstrap: str, kafka_secure: tuple[str, str], tmp_path: Path
) -> None:
    """`lapor-hub connect NAME --config FILE`: the connector's sides in a process of their
    own, reaching Kafka over SASL_SSL as the connector's principal."""
    from connectors.lapor_json.simulator import LaporJsonApp
    from connectors.simulator import serve
    from hub.kafka import read_to_end
    from hub.runtime import wait_until

    name = unique("kota-c")
    central = tmp_path / "hub.yaml"
    central.write_text(
        yaml.safe_dump({"connectors": {name: {"type": "lapor-json", "agency": "pemkot-surabaya"}}})
    )
    ensure_topics(
        make_admin(kafka_bootstrap),
        [
            TopicSpec(topics.inbound(name)),
            TopicSpec(topics.cursors(name), 1, 1, {"cleanup.policy": "compact"}),
            TopicSpec(topics.failed(name)),
            TopicSpec(topics.LEASES, 1, 1),
        ],
    )
    # the hub, started before any agency's connector, made its identity key ring the
    # network's and published its connectors' key fingerprints; the connector's machine
    # was given its own ring only (`lapor-hub keys export`, hub.keyshare)
    agree(kafka_bootstrap, hub_keyring(), "the hub", [name])
    own_ring = tmp_path / "connector-keys.json"
    write_keyring(hub_keyring().for_connector(name), own_ring)
    credentials = tmp_path / "credentials"
    assert security_apply(kafka_bootstrap, central, credentials).returncode == 0
    saved = json.loads(credentials_file(credentials, f"connector-{name}").read_text())
    app = LaporJsonApp()
    for number in range(3):
        app.citizen_files(isi=f"Jalan berlubang nomor {number}", lokasi={"kode_wilayah": "35.78"})
    with serve(app.app) as url:
        agency = tmp_path / "agency.yaml"
        agency.write_text(
            yaml.safe_dump(
                {
                    "kafka": {
                        "bootstrap": kafka_secure[0],
                        "username": saved["username"],
                        "password_env": "KOTA_C_KAFKA_PASSWORD",
                        "ca": kafka_secure[1],
                    },
                    "connectors": {
                        name: {
                            "type": "lapor-json",
                            "agency": "pemkot-surabaya",
                            "base_url": url,
                            "poll_interval_s": 0.3,
                        }
                    },
                }
            )
        )
        env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
        env["KOTA_C_KAFKA_PASSWORD"] = saved["password"]
        env["LAPOR_HUB_IDENTITY_KEYS_FILE"] = str(own_ring)
        with (tmp_path / "connect.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "hub", "connect", name, "--config", str(agency)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            arrived = lambda: len(list(read_to_end(kafka_bootstrap, topics.inbound(name))))  # noqa: E731
            assert wait_until(lambda: arrived() == 3, 60), (tmp_path / "connect.log").read_text()
        finally:
            process.terminate()
            process.wait(30)
    assert "up as connector-" in (tmp_path / "connect.log").read_text()
    # what it took in is sealed with its own key, which the hub opens
    from hub.dataplane.inbound import raw_from_message

    for message in read_to_end(kafka_bootstrap, topics.inbound(name)):
        assert dict(message.headers())[SEALED].decode().endswith(f"@{name}")
        assert b"Jalan berlubang" in raw_from_message(message).body


def test_the_tracker_runs_as_its_own_principal(
    kafka_bootstrap: str, kafka_secure: tuple[str, str], tmp_path: Path
) -> None:
    """The tracker (faust) reaches Kafka over SASL_SSL as `hub-tracker`, with the ACLs
    `security apply` gave it, and keeps its table."""
    import random

    from hub.config import load_config as load
    from hub.kafka import make_producer, read_to_end
    from hub.runtime import wait_until
    from hub.samples import sample_report
    from hub.serialization import SchemaStore, SingleObjectCodec, TopicSerializer
    from hub.serialization.store import default_schema_dir
    from hub.topic_specs import ensure_hub_topics, tracker_topics
    from tests.helpers import routed

    prefix = unique("trk-acl")
    config_path = tmp_path / "hub.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "group_prefix": prefix,
                "connectors": {
                    "lapor-nasional": {"type": "lapor-json", "agency": "admin-nasional"}
                },
            }
        )
    )
    config = load(config_path)
    ensure_hub_topics(kafka_bootstrap, config)  # the operator's part: topics made beforehand
    ensure_topics(make_admin(kafka_bootstrap), tracker_topics(config))
    credentials = tmp_path / "credentials"
    assert security_apply(kafka_bootstrap, config_path, credentials).returncode == 0
    saved = json.loads(credentials_file(credentials, "hub-tracker").read_text())
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_secure[0],
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_USERNAME": saved["username"],
        "KAFKA_SASL_PASSWORD": saved["password"],
        "KAFKA_SSL_CA_LOCATION": kafka_secure[1],
    }
    log_path = tmp_path / "tracker.log"
    with log_path.open("wb") as log:
        tracker = subprocess.Popen(
            [sys.executable, "-m", "hub", "tracker", "--config", str(config_path), "--name", "a"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        report = sample_report(random.Random(8))
        serializer = TopicSerializer(SingleObjectCodec(SchemaStore(default_schema_dir())))
        producer = make_producer(kafka_bootstrap)
        value = serializer.serialize(topics.ROUTED, routed(report, "kemenkes"))
        producer.produce(topics.ROUTED, key=report["hub_id"].encode(), value=value)
        assert producer.flush(30) == 0

        def tracked() -> bool:
            changelog = topics.tracker_changelog(prefix)
            return any(
                m.key() == report["hub_id"].encode()
                for m in read_to_end(kafka_bootstrap, changelog)
            )

        assert wait_until(tracked, 90), log_path.read_text()[-3000:]
    finally:
        tracker.terminate()
        tracker.wait(30)


def test_only_the_audit_writer_appends_to_the_audit_trail(
    kafka_bootstrap: str, kafka_secure: tuple[str, str], tmp_path: Path, monkeypatch
) -> None:
    """`hub-runtime` may write every hub topic but the audit trail: recording an action as
    it alone fails closed; with the audit writer's credentials beside its own the record is
    written, and names `hub-runtime` as the principal the action went through."""
    from hub import audit

    name = unique("kota-audit")
    config_path = tmp_path / "hub.yaml"
    config_path.write_text(
        yaml.safe_dump({"connectors": {name: {"type": "lapor-json", "agency": "pemkot-surabaya"}}})
    )
    credentials = tmp_path / "credentials"
    applied = security_apply(kafka_bootstrap, config_path, credentials)  # audited: topic made
    assert applied.returncode == 0, applied.stderr + applied.stdout
    runtime = client_config(kafka_secure, credentials_file(credentials, "hub-runtime"))
    connector = client_config(kafka_secure, credentials_file(credentials, f"connector-{name}"))
    writer = client_config(kafka_secure, credentials_file(credentials, "hub-audit"))

    assert produce_error(runtime, topics.REPORTS) is None, "the hub writes its own topics"
    for principal in (runtime, connector):
        refused = produce_error(principal, topics.AUDIT)
        assert refused is not None, f"{principal['sasl.username']} appended to the trail"
        assert refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused
    assert produce_error(writer, topics.REPORTS) is not None, "the writer writes the trail only"

    secure, ca = kafka_secure
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SSL_CA_LOCATION", ca)
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "hub-runtime")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", runtime["sasl.password"])
    monkeypatch.delenv(audit.WRITER_USERNAME, raising=False)
    with pytest.raises(audit.AuditError, match="hub-audit"):
        audit.record(secure, "test.unrecorded", {"test": name})

    monkeypatch.setenv(audit.WRITER_USERNAME, "hub-audit")
    monkeypatch.setenv(audit.WRITER_PASSWORD, writer["sasl.password"])
    entry = audit.record(secure, "test.recorded", {"test": name})
    assert entry.who == "hub-runtime"
    monkeypatch.undo()  # the operator lists the trail
    listed = [
        item.entry
        for item in audit.entries(kafka_bootstrap)
        if item.entry is not None and item.entry.what.get("test") == name
    ]
    assert [(e.action, e.who) for e in listed] == [("test.recorded", "hub-runtime")]
