"""The audit trail: every operator action, appended to ``lapor.audit`` (``lapor-hub audit``),
in a chain nobody can rewrite unnoticed.

Dead-letter replays, rules reloads, key rotations, security changes and every reveal of a
reporter's identity are recorded with who (the Kafka principal the action went through, and
the operator's login beside it), where (the host), when, what (ids and counts, never a
reporter's identity) and the outcome.

Each record carries its place in the chain (``seq``), the SHA-256 of the record before it
(``prev``) and an Ed25519 signature by the hub's audit key (``sig``) over everything else.
``lapor-hub audit verify`` reads the whole trail and names the first record that was edited
(its signature fails), removed (the next one's ``prev`` does not match) or inserted (not
signed by the key, or out of sequence). Records are appended by the audit writer's principal
(``hub-audit``, whose credentials the recording process holds beside its own: no other
principal may write the topic) in a Kafka transaction under one transactional id, so two
writers at once cannot both chain to the same record: the later one fences the earlier,
which reads the trail again and chains after it.

The key is 32 bytes in base64, from ``LAPOR_HUB_AUDIT_KEY`` or the file
``<LAPOR_HUB_HOME>/audit-key`` (made, mode 0600, on first use on a machine that runs its own
broker). Verifying needs the same key or only its public half (``lapor-hub audit key``).
"""

from __future__ import annotations

import base64
import contextvars
import getpass
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException, TopicPartition
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.errors import HubError
from hub.kafka import (
    PRODUCER_DEFAULTS,
    client_security,
    ensure_topics,
    make_admin,
    make_consumer,
    read_to_end,
    wait_visible,
    watermarks,
)
from hub.topic_specs import audit_topic
from hub.topics import AUDIT, AUDIT_WRITER

GENESIS = "0" * 64  # the prev of the first record


class AuditError(HubError):
    """The audit trail cannot be written or read as it must be."""


@dataclass(frozen=True)
class Entry:
    at: datetime
    who: str  # the Kafka principal the action went through
    host: str
    action: str
    what: dict[str, Any]
    outcome: str
    login: str = ""  # the operator's own login on the host
    seq: int = 0
    prev: str = ""
    sig: str = ""

    def signed_part(self) -> bytes:
        """What the signature covers: every field but the signature, canonical JSON."""
        fields = {**self.__dict__, "at": self.at.isoformat()}
        fields.pop("sig")
        return json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str).encode()

    def to_json(self) -> bytes:
        return json.dumps(
            {**self.__dict__, "at": self.at.isoformat()}, ensure_ascii=False, default=str
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Entry:
        """An entry; ValueError for anything that is not one (fields of other types)."""
        fields = json.loads(data)
        if not isinstance(fields, dict):
            raise ValueError("not a JSON object")
        entry = cls(**{**fields, "at": datetime.fromisoformat(fields["at"])})
        texts = (entry.who, entry.host, entry.action, entry.outcome, entry.login, entry.prev)
        if not all(isinstance(t, str) for t in (*texts, entry.sig)):
            raise ValueError("a field that must be text is not")
        if not isinstance(entry.seq, int) or isinstance(entry.seq, bool):
            raise ValueError("seq is not a whole number")
        if not isinstance(entry.what, dict):
            raise ValueError("what is not an object")
        return entry


# -- the key -------------------------------------------------------------------------------


def key_file(home: Path) -> Path:
    return home / "audit-key"


def signing_key(home: Path | None = None, create: bool = True) -> Ed25519PrivateKey:
    """The hub's audit key: LAPOR_HUB_AUDIT_KEY, else the key file (made on first use)."""
    if os.environ.get("LAPOR_HUB_AUDIT_KEY"):
        return _key_of(os.environ["LAPOR_HUB_AUDIT_KEY"], "LAPOR_HUB_AUDIT_KEY")
    if home is None:
        from hub.settings import load_settings

        home = load_settings().home
    path = key_file(home)
    if not path.exists():
        if not create:
            raise AuditError(
                f"no audit key: {path} does not exist and LAPOR_HUB_AUDIT_KEY is not set",
                fix="give the hub's audit key (LAPOR_HUB_AUDIT_KEY or the key file) to verify.",
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        seed = base64.b64encode(os.urandom(32)).decode()
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w") as out:
                out.write(seed + "\n")
    return _key_of(path.read_text().strip(), str(path))


def _key_of(text: str, where: str) -> Ed25519PrivateKey:
    try:
        seed = base64.b64decode(text, validate=True)
        return Ed25519PrivateKey.from_private_bytes(seed)
    except (ValueError, TypeError) as exc:
        raise AuditError(
            f"the audit key in {where} is not 32 bytes in base64",
            fix="restore the hub's audit key from its backup.",
        ) from exc


def public_key_text(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def _public_of(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))


# -- writing -------------------------------------------------------------------------------


# who acts, when a process acts for someone logged in to it (the console's user)
ACTING_AS: contextvars.ContextVar[str | None] = contextvars.ContextVar("acting_as", default=None)


def operator() -> str:
    acting = ACTING_AS.get()
    if acting:
        return acting
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no such user in a container
        login = f"uid {os.getuid()}"
    return os.environ.get("LAPOR_HUB_OPERATOR") or login


def principal() -> str:
    """The Kafka principal this process acts as (its SASL user), or the development
    listener's anonymous one."""
    return client_security().get("sasl.username") or "ANONYMOUS (PLAINTEXT listener)"


WRITER_USERNAME = "LAPOR_HUB_AUDIT_SASL_USERNAME"
WRITER_PASSWORD = "LAPOR_HUB_AUDIT_SASL_PASSWORD"


def writer_security() -> dict[str, str]:
    """The settings the trail is appended with: this process's own, with the audit writer's
    credentials (``hub-audit``, the only principal allowed to write ``lapor.audit``) in
    place of its SASL user when it holds them. ``who`` stays this process's principal."""
    own = client_security()
    username = os.environ.get(WRITER_USERNAME)
    if not own or not username:
        return own
    return {**own, "sasl.username": username, "sasl.password": os.environ.get(WRITER_PASSWORD, "")}


def record(bootstrap: str, action: str, what: dict[str, Any], outcome: str = "ok") -> Entry:
    """Append one action to the chain; returns once Kafka has it. Raises AuditError if it
    cannot be written: what asked for it must not go ahead unrecorded (a reveal fails
    closed)."""
    from confluent_kafka import Producer

    from hub.kafka import CLIENT_LOGGER

    security = writer_security()
    ensure_topics(make_admin(bootstrap, **security), [audit_topic(bootstrap)])
    key = signing_key()
    for attempt in range(5):
        producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                **PRODUCER_DEFAULTS,
                **security,
                "transactional.id": AUDIT_WRITER,
                "transaction.timeout.ms": 20_000,
            },
            logger=CLIENT_LOGGER,
        )
        try:
            producer.init_transactions(30)  # fences a writer still at it: it starts over
            producer.begin_transaction()
            seq, prev = _chain_end(bootstrap, security)
            entry = Entry(
                at=datetime.now(UTC),
                who=principal(),
                host=socket.gethostname(),
                action=action,
                what=what,
                outcome=outcome,
                login=operator(),
                seq=seq,
                prev=prev,
            )
            signature = base64.b64encode(key.sign(entry.signed_part())).decode()
            entry = Entry(**{**entry.__dict__, "sig": signature})
            written: list = []
            producer.produce(
                AUDIT,
                key=action.encode(),
                value=entry.to_json(),
                on_delivery=lambda err, msg, into=written: into.append(msg),
            )
            producer.commit_transaction(30)
            if written:  # an auditor listing the trail right after sees this record
                wait_visible(bootstrap, AUDIT, written[0].partition(), written[0].offset(), 30)
            return entry
        except KafkaException as exc:
            error = exc.args[0]
            if attempt == 4 or "AUTHORIZATION" in error.name():
                raise AuditError(
                    f"the audit record of {action} could not be written: {error.str()}",
                    fix="check the broker, and that this process holds the audit writer's "
                    f"credentials ({WRITER_USERNAME}, {WRITER_PASSWORD}: the principal "
                    "hub-audit of `lapor-hub security apply`), the only ones allowed to "
                    "write lapor.audit; the action was not done without its record.",
                ) from exc
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _chain_end(bootstrap: str, security: dict[str, str]) -> tuple[int, str]:
    """The next record's seq and prev: after the trail's last committed record."""
    consumer = make_consumer(bootstrap, f"lapor-reader-audit-{time.time_ns()}", **security)
    try:
        low, high = watermarks(consumer, TopicPartition(AUDIT, 0), 10)
        if high <= low:
            return 0, GENESIS
        last = None
        # the last record: read back from near the end (commit markers take offsets too)
        consumer.assign([TopicPartition(AUDIT, 0, max(low, high - 50))])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            batch = consumer.consume(100, 0.5)
            for msg in batch:
                if msg.error() is None:
                    last = msg
            position = consumer.position([TopicPartition(AUDIT, 0)])[0].offset
            if position >= high:
                break
        if last is None:  # records there, none committed near the end: never fork the chain
            raise AuditError(
                f"the audit trail's last records could not be read (offsets {low}-{high})",
                fix="check the broker; the action was not done without its record.",
            )
        try:
            seq = Entry.from_json(last.value()).seq + 1
        except (ValueError, TypeError, KeyError, RecursionError):
            seq = last.offset() + 1  # after a record that is none: verify names it
        return seq, hashlib.sha256(last.value() or b"").hexdigest()
    finally:
        consumer.close()


# -- reading and verifying -----------------------------------------------------------------


@dataclass
class Listed:
    """One record of the trail as read: its entry, or why it could not be read."""

    offset: int
    raw: bytes
    entry: Entry | None = None
    malformed: str | None = None


def read_trail(bootstrap: str) -> list[Listed]:
    listed = []
    for message in read_to_end(bootstrap, AUDIT):
        raw = message.value() or b""
        try:
            listed.append(Listed(message.offset(), raw, Entry.from_json(raw)))
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            listed.append(Listed(message.offset(), raw, malformed=f"{type(exc).__name__}: {exc}"))
    return listed


def entries(
    bootstrap: str,
    action: str | None = None,
    who: str | None = None,
    since: datetime | None = None,
) -> list[Listed]:
    """The trail, filtered; a malformed record is listed as such (it matches no filter
    but is always shown, so it cannot hide)."""
    found = []
    for item in read_trail(bootstrap):
        entry = item.entry
        if entry is not None:
            if action and not entry.action.startswith(action):
                continue
            if who and who not in (entry.who, entry.login):
                continue
            if since and entry.at < since:
                continue
        found.append(item)
    return found


@dataclass
class Verdict:
    checked: int = 0
    unchained: int = 0  # records from before the trail was chained (no seq, no sig)
    first_break: str | None = None  # where and how the chain first breaks
    breaks: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.breaks


def verify(trail: Iterable[Listed], public_key: str) -> Verdict:
    """Every record signed by the key, each chained to the one before it, in sequence."""
    verdict = Verdict()
    key = _public_of(public_key)
    prev_hash, expected_seq, chained = GENESIS, 0, False
    for item in trail:
        verdict.checked += 1
        where = f"offset {item.offset}"
        entry = item.entry
        if entry is None:
            verdict.breaks.append(f"{where}: not an audit record ({item.malformed})")
        elif not entry.sig and not chained:
            verdict.unchained += 1  # written before the chain began
        else:
            if not chained:  # the chain's first record: the sequence starts from it
                expected_seq, chained = entry.seq, True
            what = f"{where} ({entry.action} at {entry.at:%Y-%m-%d %H:%M:%S})"
            try:
                key.verify(base64.b64decode(entry.sig), entry.signed_part())
            except (InvalidSignature, ValueError):
                verdict.breaks.append(f"{what}: its signature does not match (edited or forged)")
            if entry.prev != prev_hash:
                verdict.breaks.append(
                    f"{what}: it does not follow the record before it (one was removed or "
                    "inserted before it)"
                )
            elif entry.seq != expected_seq:
                verdict.breaks.append(f"{what}: seq {entry.seq}, expected {expected_seq}")
            expected_seq = entry.seq + 1
        prev_hash = hashlib.sha256(item.raw).hexdigest()
    verdict.first_break = verdict.breaks[0] if verdict.breaks else None
    return verdict
