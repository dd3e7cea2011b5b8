"""Operators' view of the dead-letter topics: count, inspect, replay.

A letter's id is ``<stage>:<partition>:<offset>`` in ``lapor.dlq.<stage>``. Replaying sends
the original key, value and headers back to the topic the message failed on (or a chosen
one) without the error headers, but with its attempt count and first failure time, so a
message that fails again comes back to the dead letters with its count raised. Every replay
is recorded in ``lapor.replays`` (when, which filter, which letters, the outcome); a letter
already replayed is skipped unless asked again. Replays are idempotent downstream: a report
keeps its hub id, and deliveries are deduplicated by the ledger and idempotency keys.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hub import topics
from hub.kafka import TopicSpec, ensure_topics, make_admin, make_producer, read_to_end

STAGES = ("ingest", "translate", "route", "deliver", "status", "feedback")
REPLAYS = "lapor.replays"
ERROR_PREFIX = "__connect.errors."


@dataclass(frozen=True)
class Letter:
    stage: str
    partition: int
    offset: int
    timestamp: datetime
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]

    @classmethod
    def from_message(cls, stage: str, msg) -> Letter:
        return cls(
            stage=stage,
            partition=msg.partition(),
            offset=msg.offset(),
            timestamp=datetime.fromtimestamp(msg.timestamp()[1] / 1000, UTC),
            key=msg.key(),
            value=msg.value() or b"",
            headers={k: v or b"" for k, v in (msg.headers() or [])},
        )

    @property
    def id(self) -> str:
        return f"{self.stage}:{self.partition}:{self.offset}"

    def header(self, name: str) -> str:
        return self.headers.get(name, b"").decode("utf-8", "replace")

    @property
    def connector(self) -> str:
        return self.header(ERROR_PREFIX + "connector.name")

    @property
    def error_class(self) -> str:
        return self.header(ERROR_PREFIX + "exception.class.name")

    @property
    def reason(self) -> str:
        return self.header(ERROR_PREFIX + "exception.message")

    @property
    def original_topic(self) -> str:
        return self.header(ERROR_PREFIX + "topic")

    @property
    def attempts(self) -> int:
        return int(self.header("lapor.errors.attempts") or 1)


@dataclass
class Filter:
    stages: tuple[str, ...] = STAGES
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
            if v not in (None, (), STAGES)
        }


def read_letters(bootstrap: str, chosen: Filter) -> list[Letter]:
    letters = []
    for stage in chosen.stages:
        for msg in read_to_end(bootstrap, topics.dead_letter(stage)):
            letter = Letter.from_message(stage, msg)
            if chosen.keeps(letter):
                letters.append(letter)
    return letters


def counts(letters: Iterable[Letter]) -> Counter[tuple[str, str, str]]:
    return Counter((letter.stage, letter.connector, letter.error_class) for letter in letters)


def replayed_ids(bootstrap: str) -> set[str]:
    done: set[str] = set()
    for msg in read_to_end(bootstrap, REPLAYS):
        record = json.loads(msg.value())
        if record.get("outcome") == "replayed":
            done.update(record.get("letters", []))
    return done


@dataclass
class ReplayResult:
    replayed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # replayed before
    unroutable: list[str] = field(default_factory=list)  # no original topic known
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
        if producer is not None:
            headers = {k: v for k, v in letter.headers.items() if not k.startswith(ERROR_PREFIX)}
            headers["lapor.replayed-from"] = letter.id.encode()
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


def _record(bootstrap: str, chosen: Filter, result: ReplayResult, to: str | None) -> None:
    ensure_topics(make_admin(bootstrap), [TopicSpec(REPLAYS, 1, 1, {"retention.ms": "-1"})])
    producer = make_producer(bootstrap)
    record = {
        "at": datetime.now(UTC).isoformat(),
        "filter": chosen.describe(),
        "to": to,
        "count": len(result.replayed),
        "letters": result.replayed,
        "skipped": result.skipped,
        "unroutable": result.unroutable,
        "outcome": "replayed",
    }
    producer.produce(REPLAYS, key=None, value=json.dumps(record).encode())
    producer.flush(30)
