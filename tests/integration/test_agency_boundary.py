"""A compromised agency, played on the broker's SASL_SSL listener with the credentials
`lapor-hub security apply` gave its connector: every way out of its own topics is denied by
Kafka or refused and counted by the hub, and the identity key it holds opens its own
reports' identities only."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from confluent_kafka import KafkaError, Producer

from hub import metrics, records, topics
from hub.config import load_config
from hub.dataplane.route import route_loop
from hub.kafka import TopicSpec, ensure_topics, make_admin, make_producer, read_to_end
from hub.keyshare import agree
from hub.privacy import KeyRing, PrivacyError, hub_keyring, open_identity, seal_identity
from hub.samples import sample_report
from hub.topic_specs import ensure_hub_topics
from tests.helpers import unique
from tests.integration.test_access_control import (
    client_config,
    consume_error,
    produce_error,
    security_apply,
)

pytestmark = pytest.mark.kafka
DENIED = (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED)


def hub(bootstrap: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    return subprocess.run(
        [sys.executable, "-m", "hub", *args], env=env, capture_output=True, text=True, timeout=120
    )


def send_with_unreadable_header(bootstrap: str, topic: str, key: str) -> None:
    """One record whose first header's name is the bytes ff fe (aiokafka's pure-Python
    record builder, fed a name that encodes so)."""
    script = f"""
import asyncio, os
os.environ["AIOKAFKA_NO_EXTENSIONS"] = "1"
from aiokafka import AIOKafkaProducer
class Name(str):
    def encode(self, *args, **kwargs):
        return b"\\xff\\xfe"
async def main():
    producer = AIOKafkaProducer(bootstrap_servers={bootstrap!r})
    await producer.start()
    await producer.send_and_wait({topic!r}, b"x", key={key!r}.encode(), headers=[(Name("n"), b"1")])
    await producer.stop()
asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_a_compromised_agency_cannot_leave_its_own_topics(
    kafka_bootstrap: str, kafka_secure: tuple[str, str], tmp_path: Path
) -> None:
    prefix = unique("boundary")
    mine, theirs = unique("kota-a"), unique("kota-b")
    collide = f"{mine}-x"  # a name ours is a prefix of: a PREFIXED grant would reach it
    config_path = tmp_path / "hub.yaml"
    connectors = {
        name: {"type": "lapor-json", "agency": agency, "base_url": "http://127.0.0.1:9"}
        for name, agency in (
            (mine, "pemkot-surabaya"),
            (theirs, "pemkot-bandung"),
            (collide, "pemkot-malang"),
        )
    }
    config_path.write_text(yaml.safe_dump({"group_prefix": prefix, "connectors": connectors}))
    ensure_hub_topics(kafka_bootstrap, load_config(config_path))
    # what an older release granted: PREFIXED writes on the shared retry topics; applying
    # the plan removes it
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    stale = AclBinding(
        ResourceType.TOPIC,
        topics.RETRY,
        ResourcePatternType.PREFIXED,
        f"User:connector-{mine}",
        "*",
        AclOperation.WRITE,
        AclPermissionType.ALLOW,
    )
    admin = make_admin(kafka_bootstrap)
    for future in admin.create_acls([stale]).values():
        future.result()
    credentials = tmp_path / "credentials"
    applied = security_apply(kafka_bootstrap, config_path, credentials)
    assert applied.returncode == 0, applied.stderr + applied.stdout
    # what a compromised agency holds: its connector's credentials
    attacker = client_config(kafka_secure, credentials / f"connector-{mine}.json")

    # 1. Kafka itself denies every topic that is not its own
    for topic in (
        topics.outbound(theirs),
        topics.outbound(mine),  # it reads its deliveries; it does not make them
        topics.inbound(collide),
        topics.status(collide),
        topics.retry("deliver"),
        topics.retry("feedback"),
        topics.dead_letter("deliver"),
        topics.dead_letter("ingest"),
        topics.ledger(theirs),
        topics.cursors(theirs),
        topics.failed(theirs),
        topics.AUDIT,
        topics.REPORTS,
        topics.ROUTED,
        topics.KEYRING,
    ):
        error = produce_error(attacker, topic)
        assert error is not None and error.code() in DENIED, f"wrote {topic}: {error}"
    for topic, group in (
        (topics.outbound(collide), topics.deliver_group(prefix, mine)),
        (topics.ledger(theirs), f"{topics.LEDGER_READER_GROUP}-{unique('x')}"),
        (topics.AUDIT, f"{topics.READER_GROUP}-{unique('x')}"),
    ):
        error = consume_error(attacker, topic, group)
        assert error is not None and error.code() in DENIED, f"read {topic}: {error}"
    for topic in (
        topics.inbound(mine),
        topics.status(mine),
        topics.failed(mine),
        topics.ledger(mine),
        topics.cursors(mine),
    ):
        assert produce_error(attacker, topic) is None, f"its own {topic} is open to it"

    # 2. through its own failed topic: only its own retries and dead letters move on
    def failure(
        key: str, meant: str, origin: str, value: bytes = b"{}", **more: bytes
    ) -> tuple[str, bytes, dict]:
        headers = {records.FAILED_TO: meant.encode(), records.ERROR_TOPIC: origin.encode()}
        headers[records.ERROR_CONNECTOR] = theirs.encode()  # a lie: the topic says who
        headers[records.NOT_BEFORE] = records.not_before(1)
        return key, value, {**headers, **more}

    own_retry = (topics.retry("deliver"), topics.outbound(mine))
    attempts = {
        "aimed": failure(unique("aimed"), topics.retry("deliver"), topics.outbound(theirs)),
        "collide": failure(unique("col"), topics.retry("deliver"), topics.outbound(collide)),
        "audit": failure(unique("audit"), topics.AUDIT, topics.outbound(mine)),
        "replay": failure(unique("rep"), topics.dead_letter("deliver"), topics.REPORTS),
        # its own retries, but made to stop the hop: over the retry topic's size limit (the
        # broker's refusal would abort the transaction and read it again for ever), due in
        # ten days (its partition of the retry topic would hold every agency's retries)
        "huge": failure(unique("huge"), *own_retry, value=random.randbytes(1_200_000)),
        "far": failure(
            unique("far"), *own_retry, **{records.NOT_BEFORE: records.not_before(864_000)}
        ),
        "own": failure(unique("own"), topics.dead_letter("deliver"), topics.outbound(mine)),
    }
    producer = Producer({**attacker, "message.max.bytes": 4_000_000})
    for key, value, headers in attempts.values():
        producer.produce(topics.failed(mine), key=key.encode(), value=value, headers=headers)
    assert producer.flush(30) == 0
    # a header name that is not UTF-8 (any client may send one; confluent-kafka's first
    # headers() call raises, later ones hold a NULL that would crash the process)
    unreadable = unique("unreadable")
    send_with_unreadable_header(kafka_bootstrap, topics.failed(mine), unreadable)
    attempts["unreadable"] = (unreadable, b"", {})
    refused_before = metrics.FAILURES_REFUSED.labels(mine)._value.get()
    loop = route_loop(config_path, "w1", kafka_bootstrap)  # the hub's side, as `up` runs it
    keys = {key.encode() for key, _, _ in attempts.values()}

    def moved() -> dict[bytes, tuple[str, dict]]:
        found = {}
        for topic in (topics.dead_letter("ingest"), topics.dead_letter("deliver")):
            for m in read_to_end(kafka_bootstrap, topic):
                if m.key() in keys:
                    found[m.key()] = (topic, records.headers_of(m))
        return found

    deadline = time.monotonic() + 60
    while len(moved()) < len(attempts) and time.monotonic() < deadline:
        loop.step(0.5)
    loop.flush()
    loop.close()
    found = moved()
    for name, (key, _, _) in attempts.items():
        topic, headers = found[key.encode()]
        if name == "own":
            assert topic == topics.dead_letter("deliver"), name
            assert headers[records.ERROR_CONNECTOR] == mine.encode(), "its own name, not theirs"
            continue
        assert topic == topics.dead_letter("ingest"), name
        why = {"huge": b"over the", "far": b"not a time within", "unreadable": b"not UTF-8"}
        assert why.get(name, b"target not allowed") in headers[records.ERROR_MESSAGE], name
        assert records.SEALED in headers, "kept sealed, like every dead letter"
    # the seven above, and part 1's probe of its failed topic (no target at all)
    assert metrics.FAILURES_REFUSED.labels(mine)._value.get() - refused_before == 8
    for topic in (topics.outbound(theirs), topics.outbound(collide), topics.retry("deliver")):
        arrived = [m.key() for m in read_to_end(kafka_bootstrap, topic)]
        assert not keys & set(arrived), f"an attempt reached {topic}"

    # 3. its identity key: the hub hands it its own ring, which opens its reports only
    exported = tmp_path / f"{mine}-keys.json"
    done = hub(kafka_bootstrap, "keys", "export", mine, "--file", str(exported))
    assert done.returncode == 0, done.stderr + done.stdout
    assert exported.stat().st_mode & 0o077 == 0
    ring = KeyRing.from_json(exported.read_text(), str(exported))
    network = hub_keyring()
    assert ring.connector == mine and not set(ring.keys) & set(network.keys)
    named = sample_report(random.Random(3))
    named["reporter"].update(name="Siti", phone="+62811", anonymous=False)
    sealed = seal_identity(named, network)
    for_theirs = seal_identity(open_identity(sealed, network), network.for_connector(theirs))
    for_mine = seal_identity(open_identity(sealed, network), network.for_connector(mine))
    assert open_identity(for_mine, ring)["reporter"]["name"] == "Siti"
    for other in (for_theirs, sealed):
        with pytest.raises(PrivacyError):
            open_identity(other, ring)
    # a ring it was not given is refused at its start: `connect` checks the fingerprints
    wrong = tmp_path / "made-up.json"
    made_up = KeyRing(ring.active, {ring.active: b"\0" * 32})
    wrong.write_text(json.dumps(json.loads(made_up.to_json())))
    with pytest.raises(PrivacyError, match="not the one the hub made"):
        agree(kafka_bootstrap, made_up, str(wrong))
    agree(kafka_bootstrap, ring, str(exported))  # the exported one is accepted


def test_a_status_record_the_tracker_cannot_read_is_passed_over(kafka_bootstrap: str) -> None:
    """The tracker's Kafka client (aiokafka, with hub.tracker.transport's fixes) reads on
    after a record whose header name is not UTF-8, which an agency's connector can write to
    its status topic: without the fix every fetch of that partition raises, for good."""
    import asyncio

    from aiokafka import AIOKafkaConsumer

    import hub.tracker.transport  # noqa: F401  (its fixes apply on import)
    from hub.tracker.metrics import REFUSED

    topic = unique("lapor.status.unreadable")
    # one partition: the three records in the order they were written
    ensure_topics(make_admin(kafka_bootstrap), [TopicSpec(topic, 1, 1)])
    producer = make_producer(kafka_bootstrap)
    producer.produce(topic, key=b"before", value=b"1")
    assert producer.flush(30) == 0
    send_with_unreadable_header(kafka_bootstrap, topic, "bad")
    producer.produce(topic, key=b"after", value=b"2")
    assert producer.flush(30) == 0
    passed_over = REFUSED.labels(topic)._value.get()

    async def read() -> list[bytes]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        keys: list[bytes] = []
        try:
            for _ in range(20):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    keys += [r.key for r in records]
                if b"after" in keys:
                    break
        finally:
            await consumer.stop()
        return keys

    assert asyncio.run(read()) == [b"before", b"after"]
    assert REFUSED.labels(topic)._value.get() >= passed_over + 1
