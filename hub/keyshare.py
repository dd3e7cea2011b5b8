"""One identity key ring for the whole network, checked where it matters: at start.

Every hub process and agency connector seals reporters' identities with the key ring it
finds on its machine (hub.privacy), which is made on first use where there is none. Two
machines that each made their own would seal with keys the other cannot open, silently,
until a delivery or a reveal fails. So each process, as it starts, compares its ring with
the one the cluster knows: ``lapor.keyring`` (compacted, kept forever) holds, per key id, a
fingerprint of the key (never the key), the host that published it and when.

- The cluster knows no key yet: this ring's keys are published (the first machine decides).
- Every key the cluster knows must be in this ring with the same fingerprint (so what any
  machine sealed opens here); otherwise the process refuses to start and says which key is
  missing or different, and from which host it came. A ring that holds them all and more
  (a rotation, by `lapor-hub keys rotate` or in a secret store) publishes its new keys,
  and from then on a machine still holding the old ring is refused until it has the new
  one. A machine that made a ring of its own holds none of the network's keys: refused.

An agency's connector holds its own ring only (hub.privacy: keys derived for it). The hub
publishes the fingerprints of each configured connector's keys too (``<key id>@<connector>``),
and a connector's ring must match them and cover every key the network has.
"""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterable
from datetime import UTC, datetime

from confluent_kafka import KafkaException

from hub import topics
from hub.kafka import DurableProducer, ensure_topics, latest_values, make_admin
from hub.privacy import KeyRing, PrivacyError
from hub.records import Record
from hub.topic_specs import keyring_topic


def fingerprint(key: bytes) -> str:
    """A key's fingerprint: enough to tell two keys apart, nothing to rebuild one from."""
    return hashlib.sha256(b"lapor-hub identity key fingerprint\0" + key).hexdigest()[:32]


def known_keys(bootstrap: str) -> dict[str, dict]:
    """The cluster's keys: key id -> {fingerprint, host, at}."""
    found = {}
    for kid, value in latest_values(bootstrap, topics.KEYRING, topics.READER_GROUP, 30).items():
        if value:
            try:
                found[kid.decode()] = json.loads(value)
            except ValueError:
                continue  # not ours: nothing to compare with
    return found


def publish(bootstrap: str, ring: KeyRing, kids: list[str]) -> None:
    host, at = socket.gethostname(), datetime.now(UTC).isoformat()
    records = []
    for kid in kids:
        value = {"fingerprint": fingerprint(ring.keys[kid]), "host": host, "at": at}
        records.append(Record(topics.KEYRING, kid.encode(), json.dumps(value).encode()))
    DurableProducer(bootstrap).send_blocking(records)


def agree(bootstrap: str, ring: KeyRing, where: str, connectors: Iterable[str] = ()) -> None:
    """Refuse (PrivacyError) a ring that differs from the cluster's; publish it where the
    cluster has none. ``where``: the ring's source, for the message. The network's ring
    also publishes the fingerprints of ``connectors``' own keys, so that each agency's
    connector can check the ring it was given (``lapor-hub keys export``)."""
    ensure_topics(make_admin(bootstrap), [keyring_topic(bootstrap)])
    if ring.connector is not None:
        _agree_as_connector(bootstrap, ring, where)
        return
    known = {kid: seen for kid, seen in known_keys(bootstrap).items() if "@" not in kid}
    if not known:
        try:
            publish(bootstrap, ring, list(ring.keys))
        except KafkaException as exc:
            raise PrivacyError(
                f"the cluster knows no identity key yet, and this process cannot publish "
                f"its ring ({exc.args[0].str()})",
                fix="start the hub (lapor-hub up) first: it publishes the network's ring.",
            ) from exc
        known = {kid: seen for kid, seen in known_keys(bootstrap).items() if "@" not in kid}
    problems = _differences(known, ring)
    if problems:
        raise PrivacyError(
            f"the identity key ring of this machine ({where}) is not the network's: "
            + "; ".join(problems)
            + ". Identities sealed on one machine would not open on the other",
            fix="copy the key ring the other machines use here (LAPOR_HUB_IDENTITY_KEYS_FILE "
            "or LAPOR_HUB_IDENTITY_KEYS; in Kubernetes, one Secret for every pod), then start "
            "again. After `lapor-hub keys rotate`, give every machine the new ring.",
        )
    extra = [kid for kid in ring.keys if kid not in known]
    if extra:  # a rotation made in the secret store: the network learns the new key
        publish(bootstrap, ring, extra)
    publish_connector_keys(bootstrap, ring, connectors)


def publish_connector_keys(bootstrap: str, ring: KeyRing, connectors: Iterable[str]) -> None:
    """The fingerprints of each connector's keys the cluster does not list yet."""
    known = known_keys(bootstrap)
    for connector in connectors:
        theirs = ring.for_connector(connector)
        missing = [kid for kid in theirs.keys if kid not in known]
        if missing:
            publish(bootstrap, theirs, missing)


def _differences(known: dict[str, dict], ring: KeyRing) -> list[str]:
    problems = []
    for kid, seen in sorted(known.items()):
        key = ring.keys.get(kid)
        origin = f"published by {seen.get('host', '?')} at {seen.get('at', '?')}"
        if key is None:
            problems.append(f"key {kid} ({origin}) is not in this ring")
        elif fingerprint(key) != seen.get("fingerprint"):
            problems.append(f"key {kid} differs from the one {origin}")
    return problems


def _agree_as_connector(bootstrap: str, ring: KeyRing, where: str) -> None:
    """A connector's ring (at its agency): it must hold its own key of every key the network
    has, as the hub derived them; it cannot publish anything."""
    me = ring.connector
    everything = known_keys(bootstrap)
    network = [kid for kid in everything if "@" not in kid]
    if not network:
        raise PrivacyError(
            "the cluster knows no identity key yet", fix="start the hub (lapor-hub up) first."
        )
    mine = {kid: seen for kid, seen in everything.items() if kid.endswith(f"@{me}")}
    problems = _differences(mine, ring)
    problems += [
        f"key {kid} is not one the hub made for {me}" for kid in ring.keys if kid not in mine
    ]
    problems += [
        f"the network's key {kid} has no key for {me} yet"
        for kid in network
        if f"{kid}@{me}" not in mine
    ]
    if problems:
        raise PrivacyError(
            f"the identity key ring of connector {me} ({where}) is not the one the hub made "
            "for it: " + "; ".join(problems),
            fix=f"on the hub, run `lapor-hub keys export {me} --file FILE` (after the hub "
            "has started with this connector configured) and give this machine that file.",
        )
