"""A connector's failures, checked and moved on by the hub: ``lapor.failed.<connector>`` ->
``lapor.retry.<stage>`` or ``lapor.dlq.<stage>``.

No connector's principal may write the shared retry and dead-letter topics: the retry
worker and a replay send a record back to the topic its headers name, so a connector that
could write there could aim a record at another agency's outbound topic or at the hub's own.
A connector's sides write their retries and dead letters to their own failed topic instead
(hub.records.confined), with where each is meant to go in a header; the route hop reads
those topics in its transactions and moves each record on, only where the connector that
wrote it may send it:

- the topic meant is a retry or dead-letter topic of a stage a connector's sides fail at
  (ingest, deliver, status, feedback);
- the topic the record came from (where a retry or a replay sends it back) is that
  connector's own topic of that stage, or names no topic of the hub at all;
- the connector named in its headers is the one whose topic it was written to (set so);
- it fits the topic it is meant for, and a retry's due time is within the schedule.

Anything else becomes an ingest dead letter "target not allowed", sealed, and is counted
(``lapor_failures_refused_total``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from confluent_kafka import Message

from hub import metrics, records, topics
from hub.dataplane.inbound import sealed_record
from hub.dataplane.retries import DEFAULT_SCHEDULE
from hub.errors import HubError
from hub.records import Record

log = logging.getLogger(__name__)


class RefusedFailure(HubError):
    """A record on a connector's failed topic that the hub does not move on."""


def _meant_for(headers: dict[str, bytes], connector: str) -> tuple[str, str]:
    """(the topic the record is meant for, its stage), or RefusedFailure saying why not."""
    meant = records.text(headers, records.FAILED_TO)
    stage = topics.stage_of(meant)
    allowed = [topics.dead_letter(s) for s in topics.CONNECTOR_STAGES] + [
        topics.retry(s) for s in topics.RETRIED_STAGES if s in topics.CONNECTOR_STAGES
    ]
    if meant not in allowed:
        raise RefusedFailure(
            f"target not allowed: {connector}'s failures may go to {', '.join(allowed)} "
            f"only, not {meant[:200]!r}"
        )
    origin = records.text(headers, records.ERROR_TOPIC)
    own = topics.own_topic(stage, connector)
    if origin.startswith(topics.PREFIX) and origin != own:
        raise RefusedFailure(
            f"target not allowed: a {stage} failure of {connector} may come from {own} "
            f"only, not {origin[:200]!r} (a retry or replay would send it there)"
        )
    if meant.startswith(topics.RETRY) and origin != own:
        raise RefusedFailure(f"target not allowed: a {stage} retry must come from {own}")
    return meant, stage


def _fits(msg: Message, meant: str) -> None:
    """RefusedFailure for a record its target topic would not take, or one that would hold
    a retry partition for good: sent on as it is, the broker's refusal would abort the
    hop's transaction, and the record would be read again, for ever."""
    size = len(msg.value() or b"") + len(msg.key() or b"")
    if meant.startswith(topics.RETRY):
        if size > records.MAX_RECORD_BYTES:
            raise RefusedFailure(
                f"a retry of {size:,} bytes is over the {records.MAX_RECORD_BYTES:,}-byte "
                "limit for one record"
            )
    elif size > records.DEAD_LETTER_MAX_BYTES:
        raise RefusedFailure(
            f"a dead letter of {size:,} bytes is over the {records.DEAD_LETTER_MAX_BYTES:,}"
            "-byte limit for one"
        )


def _due(headers: dict[str, bytes], meant: str) -> None:
    due = records.due_millis(headers)
    latest = time.time() + DEFAULT_SCHEDULE.max_seconds + 60
    if meant.startswith(topics.RETRY) and (due is None or due / 1000 > latest):
        raise RefusedFailure(
            f"its {records.NOT_BEFORE} header is not a time within the retry schedule (a "
            "far-off time would hold every agency's retries behind it)"
        )


def move_failure(msg: Message) -> Sequence[Record]:
    """The route hop's transform for ``lapor.failed.<connector>``: one record in, the same
    record on the topic it is meant for, or its refusal. The headers are the connector's:
    kept bounded (records.bounded), the connector's name set from the topic."""
    connector = topics.connector_of_failed(msg.topic())
    headers = records.bounded(records.headers_of(msg))
    try:
        if records.UNREADABLE_HEADERS in headers:
            raise RefusedFailure("its headers cannot be read: a header name is not UTF-8")
        meant, _stage = _meant_for(headers, connector)
        _fits(msg, meant)
        _due(headers, meant)
    except RefusedFailure as refused:
        metrics.FAILURES_REFUSED.labels(connector).inc()
        log.warning("refused a failure record: %s", refused, extra={"connector": connector})
        kept, cut = records.kept_whole(msg.value() or b"")
        letter_headers = records.failure_headers(
            "ingest",
            connector,
            refused,
            earlier={**headers, **cut},
            topic=msg.topic(),
            partition=msg.partition(),
            offset=msg.offset(),
        )
        if records.SEALED in headers:
            return [Record(topics.dead_letter("ingest"), msg.key(), kept, letter_headers)]
        # kept as the hub keeps what it refuses: sealed
        return [sealed_record(topics.dead_letter("ingest"), msg.key(), kept, letter_headers)]
    kept = {name: value for name, value in headers.items() if name != records.FAILED_TO}
    kept[records.ERROR_CONNECTOR] = connector.encode()  # the topic says who wrote it
    return [Record(meant, msg.key(), msg.value() or b"", kept)]
