"""Operators' view of the dead-letter topics: count, inspect, replay.

A letter's id is ``<stage>:<partition>:<offset>`` in ``lapor.dlq.<stage>``. Replaying sends
the original key, value and headers back to the topic the message failed on (or a chosen
one) without the error headers, but with its attempt count and first failure time, so a
message that fails again comes back to the dead letters with its count raised. Every replay
is recorded in ``lapor.replays`` (when, which filter, which letters, the outcome) and in the
audit trail; a letter already replayed is skipped unless asked again. A letter goes back only to its
stage's own input (hub.topics.may_return_to), never to a topic a header names unchecked.
Replays are idempotent
downstream: a report keeps its hub id, and deliveries are deduplicated by the ledger and
idempotency keys.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import TopicPartition

from hub import audit, records, topics
from hub.kafka import ensure_topics, make_admin, make_consumer, make_producer, read_to_end
from hub.ops.reveal import hidden, revealed
from hub.privacy import hub_keyring, open_body
from hub.records import Letter
from hub.serialization import Codec
from hub.topic_specs import replays_topic


@dataclass
class Filter:
    stages: tuple[str, ...] = topics.STAGES
    connector: str | None = None
    error_class: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    ids: tuple[str, ...] = ()

    def keeps(self, letter: Letter) -> bool:
        return (
            (not self.connector or letter.connector == self.connector)
            and (not self.error_class or letter.error_class == self.error_class)
            and (self.since is None or letter.timestamp >= self.since)
            and (self.until is None or letter.timestamp <= self.until)
            and (not self.ids or letter.id in self.ids)
        )

    def describe(self) -> dict[str, object]:
        return {
            k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in self.__dict__.items()
            if v not in (None, (), topics.STAGES)
        }


def read_letters(bootstrap: str, chosen: Filter) -> list[Letter]:
    letters = []
    for stage in chosen.stages:
        for msg in read_to_end(bootstrap, topics.dead_letter(stage)):
            letter = Letter.from_message(msg)
            if chosen.keeps(letter):
                letters.append(letter)
    return letters


def read_letter(bootstrap: str, letter_id: str, timeout: float = 10.0) -> Letter | None:
    """The one letter ``<stage>:<partition>:<offset>`` names, or None."""
    try:
        stage, partition, offset = letter_id.split(":")
        number, position = int(partition), int(offset)
    except ValueError:
        return None
    if stage not in topics.STAGES:
        return None
    topic = topics.dead_letter(stage)
    consumer = make_consumer(bootstrap, f"{topics.READER_GROUP}-letter-{time.time_ns()}")
    try:
        consumer.assign([TopicPartition(topic, number, position)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            return Letter.from_message(msg) if msg.offset() == position else None
        return None
    finally:
        consumer.close()


def counts(letters: Iterable[Letter], reasons: bool = False) -> Counter[tuple[str, ...]]:
    """Letters by stage, connector and error class (and reason, its first 80 characters)."""
    return Counter(letter.group(reasons) for letter in letters)


@dataclass
class Content:
    """What a letter holds, as an operator may see it: the decoded record (identity hidden
    unless revealed), or its text, or hex; ``sealed`` says a sealed raw message stayed
    closed."""

    decoded: dict[str, Any] | None = None
    text: str | None = None
    hex: str | None = None
    sealed: str | None = None  # the key id of a raw message left sealed


def letter_content(bootstrap: str, letter: Letter, codec: Codec, reveal: bool) -> Content:
    """Decoded where the topic it failed on carries Avro, as text where it is text, hex
    where it is neither. A reporter's identity, and a sealed raw message, stay closed
    unless ``reveal`` (then the reveal is in the audit trail before anything opens)."""
    try:
        schema = topics.value_schema(letter.original_topic) if letter.original_topic else None
    except ValueError:
        schema = None
    via = f"dlq show {letter.id}"
    if schema:
        decoded = codec.decode(schema, letter.value)
        if "reporter" in decoded or "report" in decoded:
            report = decoded.get("report", decoded)
            shown = revealed(bootstrap, report, via) if reveal else hidden(report)
            decoded = {**decoded, "report": shown} if "report" in decoded else shown
        return Content(decoded=decoded)
    value = letter.value
    kid = letter.header(records.SEALED)
    if kid and not reveal:
        return Content(sealed=kid)
    if kid:
        audit.record(bootstrap, "identity.reveal", {"letter": letter.id, "via": "dlq show"})
        value = open_body(value, letter.key or b"", kid, hub_keyring())
    try:
        return Content(text=value.decode("utf-8"))
    except UnicodeDecodeError:
        return Content(hex=value[:512].hex(" "))


def replayed_ids(bootstrap: str) -> set[str]:
    done: set[str] = set()
    for msg in read_to_end(bootstrap, topics.REPLAYS):
        record = json.loads(msg.value())
        if record.get("outcome") == "replayed":
            done.update(record.get("letters", []))
    return done


@dataclass
class ReplayResult:
    replayed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # replayed before
    unroutable: list[str] = field(default_factory=list)  # no original topic known
    refused: list[str] = field(default_factory=list)  # the target is not its stage's input
    dry_run: bool = False


def replay(
    bootstrap: str,
    letters: list[Letter],
    chosen: Filter,
    *,
    to: str | None = None,
    rate: float = 100.0,
    dry_run: bool = False,
    again: bool = False,
    on_progress=None,
) -> ReplayResult:
    """Send letters back where they failed (or to ``to``), at most ``rate`` per second."""
    result = ReplayResult(dry_run=dry_run)
    before = set() if again else replayed_ids(bootstrap)
    producer = None if dry_run else make_producer(bootstrap)
    started = time.monotonic()
    for letter in letters:
        target = to or letter.original_topic
        if letter.id in before:
            result.skipped.append(letter.id)
            continue
        if not target:
            result.unroutable.append(letter.id)
            continue
        if not topics.may_return_to(letter.stage, target):
            result.refused.append(letter.id)  # never to a topic a header names unchecked
            continue
        if producer is not None:
            headers = records.sent_back(letter.headers, {records.REPLAYED_FROM: letter.id.encode()})
            producer.produce(target, key=letter.key, value=letter.value, headers=headers)
            producer.poll(0)
            pause = len(result.replayed) / rate - (time.monotonic() - started)
            if pause > 0:
                time.sleep(pause)
        result.replayed.append(letter.id)
        if on_progress:
            on_progress(len(result.replayed))
    if producer is not None:
        if producer.flush(60):
            raise RuntimeError("Kafka did not acknowledge every replayed message in 60 s")
        _record(bootstrap, chosen, result, to)
    return result


def replay_audited(
    bootstrap: str, letters: list[Letter], chosen: Filter, **options: Any
) -> ReplayResult:
    """``replay``, then (unless a dry run) the audit record of what it did."""
    result = replay(bootstrap, letters, chosen, **options)
    if not result.dry_run:
        audit.record(
            bootstrap,
            "dlq.replay",
            {
                "filter": chosen.describe(),
                "to": options.get("to"),
                "replayed": len(result.replayed),
                "skipped": len(result.skipped),
                "unroutable": len(result.unroutable),
                "refused": len(result.refused),
            },
            "ok"
            if not (result.unroutable or result.refused)
            else "partly: some letters had no original topic or one not allowed",
        )
    return result


def _record(bootstrap: str, chosen: Filter, result: ReplayResult, to: str | None) -> None:
    ensure_topics(make_admin(bootstrap), [replays_topic(bootstrap)])
    producer = make_producer(bootstrap)
    record = {
        "at": datetime.now(UTC).isoformat(),
        "filter": chosen.describe(),
        "to": to,
        "count": len(result.replayed),
        "letters": result.replayed,
        "skipped": result.skipped,
        "unroutable": result.unroutable,
        "refused": result.refused,
        "outcome": "replayed",
    }
    producer.produce(topics.REPLAYS, key=None, value=json.dumps(record).encode())
    producer.flush(30)
