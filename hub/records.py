"""One Kafka record type, the names of the hub's headers, and the one place each is read or
built: a message's headers decoded (``headers_of``), the dead-letter headers every stage
writes (``failure_headers``), and a record read back from a retry or dead-letter topic
(``Letter``).

Dead-letter headers follow Kafka Connect's ``__connect.errors.*`` names where they fit
(topic, partition, offset, connector name, exception class, message, stack trace) and add
the stage, the attempt count and the first and last failure times, so an operator sees a
record's whole history and a replay or a retry knows where it came from.
"""

from __future__ import annotations

import hashlib
import operator
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from hub import topics
from hub.errors import BadInput


class Record(NamedTuple):
    """A record to produce, or one read back: a tuple because the hot path makes several
    per report."""

    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, bytes] | None = None


# what an app sent (lapor.in.*)
CONTENT_TYPE = "content-type"
CONNECTOR = "lapor.connector"
RECEIVED_AT = "lapor.received-at"
SOURCE_PREFIX = "lapor.source."  # + the app's own header names
SEALED = "lapor.sealed"  # the key id of a value sealed whole (hub.privacy)
REFUSED_FROM = "lapor.source"  # where a refused input came from (file name, webhook)
# a routed report on its way (lapor.out.*) and back (lapor.feedback.*)
DESTINATION = "lapor.destination"
ROLE = "lapor.role"  # HANDLER or COPY
SOURCE_ID = "lapor.source-id"  # the origin app's id for the report, on feedback records
# failures, retries and replays
ERROR_PREFIX = "__connect.errors."
ERROR_TOPIC = ERROR_PREFIX + "topic"
ERROR_PARTITION = ERROR_PREFIX + "partition"
ERROR_OFFSET = ERROR_PREFIX + "offset"
ERROR_STAGE = ERROR_PREFIX + "stage"
ERROR_CONNECTOR = ERROR_PREFIX + "connector.name"
ERROR_CLASS = ERROR_PREFIX + "exception.class.name"
ERROR_MESSAGE = ERROR_PREFIX + "exception.message"
ERROR_STACKTRACE = ERROR_PREFIX + "exception.stacktrace"
ATTEMPTS = "lapor.errors.attempts"
FIRST_FAILURE = "lapor.errors.first-failure"
LAST_FAILURE = "lapor.errors.last-failure"
NOT_BEFORE = "lapor.retry.not-before"  # epoch ms: a retry is not sent back before it
WAITS_FOR = "lapor.retry.waits-for"  # a record held back behind an earlier one of its key
RETRIED_AT = "lapor.retried-at"
REPLAYED_FROM = "lapor.replayed-from"
FAILED_TO = "lapor.failed.to"  # where a connector's failure is meant to go (hub.dataplane.failures)


TRUNCATED_FROM = "lapor.errors.truncated-from"  # a refused input longer than a dead letter holds
SHA256 = "lapor.errors.sha256"  # of the whole refused input, when it was cut
DEAD_LETTER_MAX_BYTES = 16 * 1024 * 1024  # what one dead letter keeps of a refused input
MAX_RECORD_BYTES = 900_000  # one record on any other topic: under Kafka's default 1 MiB


def kept_whole(body: bytes) -> tuple[bytes, dict[str, bytes]]:
    """A refused input as its dead letter keeps it: whole up to DEAD_LETTER_MAX_BYTES
    (the dead-letter topics take records that large); beyond, its first bytes, with the
    whole length and digest in headers."""
    if len(body) <= DEAD_LETTER_MAX_BYTES:
        return body, {}
    digest = hashlib.sha256(body).hexdigest().encode()
    return body[:DEAD_LETTER_MAX_BYTES], {
        TRUNCATED_FROM: str(len(body)).encode(),
        SHA256: digest,
    }


def confined(record: Record, connector: str) -> Record:
    """A retry or dead letter as a connector's side writes it: onto the connector's own
    failed topic, where it is meant to go in a header. The hub checks it and moves it on
    (hub.dataplane.failures): no connector writes the shared retry and dead-letter topics.
    Any other record is returned as it is."""
    if not record.topic.startswith((topics.RETRY, topics.DEAD_LETTER)):
        return record
    headers = {**(record.headers or {}), FAILED_TO: record.topic.encode()}
    return Record(topics.failed(connector), record.key, record.value, headers)


_HEADERS = operator.methodcaller("headers")
UNREADABLE_HEADERS = "lapor.errors.unreadable-headers"  # a message whose headers cannot be read
_UNREADABLE: dict[tuple[str, int, int], None] = {}  # such messages met lately, oldest first


def headers_of(msg: Any) -> dict[str, bytes]:
    """A consumed message's headers as a dict (a header sent without a value is b"").

    A header name that is not UTF-8 (any client can send one) makes confluent-kafka's
    first ``headers()`` call raise SystemError and every later call return a list holding a
    NULL, which would crash the process when touched: such a message is remembered and its
    headers are never asked for again; it reads as having one header saying so, so the
    stage refuses it alone."""
    where = (msg.topic() or "", msg.partition() or 0, msg.offset() or 0)
    if where in _UNREADABLE:
        return {UNREADABLE_HEADERS: b"1"}
    try:
        # called through methodcaller, not msg.headers(): CPython 3.11 specialises a hot
        # msg.headers() call site and then skips the check that turns that error into
        # SystemError, and the NULL crashes the process (seen: a segfault in the route hop)
        return {name: value or b"" for name, value in (_HEADERS(msg) or [])}
    except SystemError:
        _UNREADABLE[where] = None
        if len(_UNREADABLE) > 10_000:
            del _UNREADABLE[next(iter(_UNREADABLE))]
        return {UNREADABLE_HEADERS: b"1"}


MAX_HEADERS = 64
MAX_HEADER_BYTES = 8 * 1024  # a header value kept on a dead letter or moved on


def bounded(headers: Mapping[str, bytes]) -> dict[str, bytes]:
    """Headers an untrusted writer set, as the hub keeps them: at most MAX_HEADERS, names of
    at most 256 characters, values cut at MAX_HEADER_BYTES (a dead letter's own headers go
    over them, so a record that fit its topic still fits as a letter)."""
    kept = {}
    for name, value in list(headers.items())[:MAX_HEADERS]:
        kept[name[:256]] = value[:MAX_HEADER_BYTES]
    return kept


def text(headers: Mapping[str, bytes], name: str, default: str = "") -> str:
    value = headers.get(name)
    return value.decode("utf-8", "replace") if value else default


def failure_headers(
    stage: str,
    connector: str,
    error: BaseException | None,
    *,
    earlier: Mapping[str, bytes] | None = None,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> dict[str, bytes]:
    """The headers of a record that failed at ``stage``, over ``earlier`` (its own headers:
    an attempt count and first failure time found there carry on). ``topic`` is where it
    goes back on a retry or a replay. ``error`` None: a record held back, not failed: no
    exception, and no attempt counted."""
    headers = dict(earlier or {})
    if topic is not None:
        headers[ERROR_TOPIC] = topic.encode()
    if partition is not None:
        headers[ERROR_PARTITION] = str(partition).encode()
    if offset is not None:
        headers[ERROR_OFFSET] = str(offset).encode()
    headers[ERROR_CONNECTOR] = connector.encode()
    if error is None:
        return headers
    now = datetime.now(UTC).isoformat().encode()
    reason = error.reason if isinstance(error, BadInput) else str(error)
    headers.update(
        {
            ERROR_STAGE: stage.encode(),
            ERROR_CLASS: type(error).__name__.encode(),
            ERROR_MESSAGE: reason.encode()[:2000],
            ERROR_STACKTRACE: "".join(traceback.format_exception_only(type(error), error))[
                -1000:
            ].encode(),
            ATTEMPTS: str(attempts(headers) + 1).encode(),
            FIRST_FAILURE: headers.get(FIRST_FAILURE) or now,
            LAST_FAILURE: now,
        }
    )
    return headers


def attempts(headers: Mapping[str, bytes]) -> int:
    """The attempts a record's headers count (0 where the header is missing or garbage)."""
    value = headers.get(ATTEMPTS) or b"0"
    return int(value) if value.isdigit() and len(value) <= 9 else 0


def dead_letter(msg: Any, stage: str, connector: str, error: BaseException) -> Record:
    """A consumed message that failed at ``stage``, kept byte for byte, for the stage's
    dead-letter topic."""
    kept, cut = kept_whole(msg.value() or b"")
    headers = failure_headers(
        stage,
        connector,
        error,
        earlier={**headers_of(msg), **cut},
        topic=msg.topic() or "",
        partition=msg.partition(),
        offset=msg.offset(),
    )
    return Record(topics.dead_letter(stage), msg.key(), kept, headers)


def sent_back(headers: Mapping[str, bytes], stamp: Mapping[str, bytes]) -> dict[str, bytes]:
    """A retried or replayed record's headers: its failure headers dropped (where it failed
    is its topic again), its attempt count and failure times kept, ``stamp`` added."""
    kept = {
        name: value
        for name, value in headers.items()
        if not name.startswith(ERROR_PREFIX) and name not in (NOT_BEFORE, WAITS_FOR)
    }
    kept.update(stamp)
    return kept


def due_millis(headers: Mapping[str, bytes]) -> int | None:
    """A retry's not-before time (epoch ms), or None if the header is no such time (at most
    13 digits: up to the year 2286)."""
    value = headers.get(NOT_BEFORE) or b"0"
    return int(value) if value.isdigit() and len(value) <= 13 else None


def not_before(seconds_from_now: float) -> bytes:
    return str(int((time.time() + seconds_from_now) * 1000)).encode()


@dataclass(frozen=True)
class Letter:
    """A record read back from a dead-letter or retry topic: the record with where it sits.
    Its id is ``<stage>:<partition>:<offset>``."""

    record: Record
    stage: str
    partition: int
    offset: int
    timestamp: datetime

    @classmethod
    def from_message(cls, msg: Any) -> Letter:
        topic = msg.topic()
        return cls(
            record=Record(topic, msg.key(), msg.value() or b"", headers_of(msg)),
            stage=topics.stage_of(topic),
            partition=msg.partition(),
            offset=msg.offset(),
            timestamp=datetime.fromtimestamp(msg.timestamp()[1] / 1000, UTC),
        )

    @property
    def id(self) -> str:
        return f"{self.stage}:{self.partition}:{self.offset}"

    @property
    def key(self) -> bytes | None:
        return self.record.key

    @property
    def value(self) -> bytes:
        return self.record.value

    @property
    def headers(self) -> dict[str, bytes]:
        return self.record.headers or {}

    def header(self, name: str) -> str:
        return text(self.headers, name)

    @property
    def connector(self) -> str:
        return self.header(ERROR_CONNECTOR)

    @property
    def error_class(self) -> str:
        return self.header(ERROR_CLASS)

    @property
    def reason(self) -> str:
        return self.header(ERROR_MESSAGE)

    @property
    def original_topic(self) -> str:
        return self.header(ERROR_TOPIC)

    @property
    def attempts(self) -> int:
        return attempts(self.headers) or 1

    def group(self, reasons: bool = False) -> tuple[str, ...]:
        """Where it is counted: stage, connector, error class (and reason)."""
        place = (self.stage, self.connector, self.error_class)
        return (*place, self.reason[:80]) if reasons else place

    @property
    def due(self) -> datetime:
        """When a retry is due back (its not-before time)."""
        return datetime.fromtimestamp((due_millis(self.headers) or 0) / 1000, UTC)

    @property
    def waits_for(self) -> str:
        """The id of the earlier record of its key it is held behind ("" if it failed)."""
        return self.header(WAITS_FOR)
