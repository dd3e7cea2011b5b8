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
- the connector named in its headers is the one whose topic it was written to (set so).

Anything else becomes an ingest dead letter "target not allowed", sealed, and is counted
(``lapor_failures_refused_total``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from confluent_kafka import Message

from hub import metrics, records, topics
from hub.dataplane.inbound import sealed_record
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


def move_failure(msg: Message) -> Sequence[Record]:
    """The route hop's transform for ``lapor.failed.<connector>``: one record in, the same
    record on the topic it is meant for, or its refusal."""
    connector = topics.connector_of_failed(msg.topic())
    headers = records.headers_of(msg)
    try:
        meant, _stage = _meant_for(headers, connector)
    except RefusedFailure as refused:
        metrics.FAILURES_REFUSED.labels(connector).inc()
        log.warning("refused a failure record: %s", refused, extra={"connector": connector})
        letter = records.dead_letter(msg, "ingest", connector, refused)
        if records.SEALED not in headers:  # kept as the hub keeps what it refuses: sealed
            letter = sealed_record(letter.topic, letter.key, letter.value, letter.headers)
        return [letter]
    kept = {name: value for name, value in headers.items() if name != records.FAILED_TO}
    kept[records.ERROR_CONNECTOR] = connector.encode()  # the topic says who wrote it
    return [Record(meant, msg.key(), msg.value() or b"", kept)]
