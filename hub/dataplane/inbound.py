"""Inbound: what agency apps send, into ``lapor.in.<connector>``, and where each side of a
connector left off.

- Pulled pages, webhook pushes and file imports land on ``lapor.in.<connector>`` byte for
  byte, sealed whole (they may hold a reporter's identity), keyed by the source's id, and
  written durably (acks=all) before a page's cursor moves or a webhook is answered 2xx.
  Refused input goes to the ingest dead letters with the reason (through the connector's
  ``lapor.failed.<connector>``, hub.dataplane.failures); the rest goes on.
- Cursors are kept in the connector's own compacted topic ``lapor.cursors.<connector>``
  (key ``[<namespace>/]<connector>/<side>``), so a restarted connector continues where it
  left off; a crash between a page and its cursor re-reads that page, which is harmless
  because hub ids are stable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from confluent_kafka import Message

from hub import metrics, records, topics
from hub.errors import BadInput
from hub.kafka import DurableProducer, client_id, latest_values
from hub.privacy import hub_keyring, open_body, seal_body
from hub.records import Record
from hub.sdk.base import Connector, PullPage, RawMessage
from hub.sdk.guard import page_of, record_failures


def raw_headers(connector: str, raw: RawMessage) -> dict[str, bytes]:
    return {
        records.CONTENT_TYPE: raw.content_type.encode(),
        records.CONNECTOR: connector.encode(),
        records.RECEIVED_AT: raw.received_at.isoformat().encode(),
        **{f"{records.SOURCE_PREFIX}{k}": str(v).encode() for k, v in raw.headers.items()},
    }


def raw_from_message(msg: Message) -> RawMessage:
    """The RawMessage a record of ``lapor.in.<connector>`` holds (opened if sealed)."""
    raw = records.headers_of(msg)
    if records.UNREADABLE_HEADERS in raw:
        raise BadInput("its headers cannot be read: a header name is not UTF-8")
    headers = {k: v.decode("utf-8", "replace") for k, v in raw.items()}
    body = msg.value() or b""
    if records.SEALED in headers:
        body = open_body(body, msg.key() or b"", headers[records.SEALED], hub_keyring())
    return RawMessage(
        source_id=(msg.key() or b"").decode(),
        body=body,
        content_type=headers.get(records.CONTENT_TYPE, "application/json"),
        received_at=datetime.fromisoformat(headers[records.RECEIVED_AT])
        if records.RECEIVED_AT in headers
        else datetime.now(UTC),
        headers={
            k[len(records.SOURCE_PREFIX) :]: v
            for k, v in headers.items()
            if k.startswith(records.SOURCE_PREFIX)
        },
    )


def sealed_record(topic: str, key: bytes | None, body: bytes, headers: dict) -> Record:
    """A raw message as the hub keeps it: sealed whole (it may hold a reporter's identity),
    the key id in a header."""
    sealed, kid = seal_body(body, key or b"", hub_keyring())
    return Record(topic, key, sealed, {**headers, records.SEALED: kid})


class Inbound:
    """Writes what an app sent to ``lapor.in.<connector>``, and refusals to the ingest
    dead letters, sealed (hub.privacy)."""

    def __init__(self, bootstrap: str, connector: Connector) -> None:
        self.connector = connector
        self.topic = topics.inbound(connector.instance)
        self.producer = DurableProducer(
            bootstrap,
            confine=connector.instance,
            linger_ms=5,
            client_id=client_id("ingest", connector.instance),
        )

    async def write(self, messages: Iterable[RawMessage | BadInput], source: str = "pull") -> int:
        """Every message to the inbound topic and every refused one (a BadInput item, or a
        message over the record limit) to the ingest dead letters, in one durable send;
        the number written to the inbound topic."""
        batch, refused = [], 0
        for m in messages:
            if isinstance(m, BadInput):
                batch.append(self._refusal(m.body or b"", m.reason, source))
                refused += 1
                continue
            key = m.source_id.encode()
            headers = raw_headers(self.connector.instance, m)
            if len(m.body) + len(key) > records.MAX_RECORD_BYTES:
                reason = (
                    f"message {m.source_id!r} of {len(m.body):,} bytes is over the hub's "
                    f"{records.MAX_RECORD_BYTES:,}-byte limit for one report"
                )
                batch.append(self._refusal(m.body, reason, source, key))
                refused += 1
                continue
            batch.append(sealed_record(self.topic, key, m.body, headers))
        await self.producer.send(batch)
        metrics.count("ingest", "out", len(batch) - refused)
        metrics.count("ingest", "failed", refused)
        return len(batch) - refused

    async def refuse(self, body: bytes, reason: str, source: str, stage: str = "ingest") -> None:
        await self.producer.send([self._refusal(body, reason, source, stage=stage)])
        metrics.count(stage, "failed")

    def _refusal(
        self, body: bytes, reason: str, source: str, key: bytes | None = None, stage="ingest"
    ) -> Record:
        """A refused input kept whole in its dead letter (up to the dead letters' own
        limit), sealed like everything the hub keeps, so it can be looked at and replayed
        once the cause is fixed."""
        kept, extra = records.kept_whole(body)
        headers = records.failure_headers(
            stage,
            self.connector.instance,
            BadInput(reason),
            earlier={records.REFUSED_FROM: source.encode(), **extra},
        )
        return sealed_record(topics.dead_letter(stage), key, kept, headers)


class Cursors:
    """Where each side of one connector left off, in its compacted ``lapor.cursors.<x>``."""

    def __init__(self, bootstrap: str, connector: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topics.cursors(connector)
        self.producer = DurableProducer(
            bootstrap, confine=connector, client_id=client_id("cursors", connector)
        )
        self._known: dict[str, str | None] = {}  # read once, then kept as this process moves it

    async def load(self, key: str, timeout: float = 10.0) -> str | None:
        """The first time, read from the topic in a thread (it may take seconds, which
        would stall every delivery on the event loop); then as this process moved it.
        Raises HubError if the topic cannot be read to its end: a cursor read short would
        send the connector back to an older page."""
        if key not in self._known:
            self._known[key] = await asyncio.to_thread(self._read, key, timeout)
        return self._known[key]

    def _read(self, key: str, timeout: float) -> str | None:
        found = latest_values(self.bootstrap, self.topic, topics.CURSOR_READER_GROUP, timeout).get(
            key.encode()
        )
        return found.decode() if found else None

    async def save(self, key: str, cursor: str) -> None:
        if self._known.get(key) == cursor:
            return  # an idle app's poll: nothing to write (a record a poll, every second)
        await self.producer.send([Record(self.topic, key.encode(), cursor.encode(), {})])
        self._known[key] = cursor

    async def advance(self, key: str, page: PullPage) -> None:
        """Once a page's messages are in Kafka: its cursor, if it has one."""
        if page.cursor is not None:
            await self.save(key, page.cursor)


def cursor_key(connector: Connector, side: str, namespace: str = "") -> str:
    """``[<namespace>/]<instance>/<side>``: a hub deployment keeps its own cursors."""
    return (
        f"{namespace}/{connector.instance}/{side}" if namespace else f"{connector.instance}/{side}"
    )


async def pull_once(
    connector: Connector,
    client: httpx.AsyncClient,
    inbound: Inbound,
    cursors: Cursors,
    namespace: str = "",
) -> int:
    """One page from the app into Kafka, then its cursor; the number of messages."""
    key = cursor_key(connector, "pull", namespace)
    page = await page_of(
        connector.pull(client, await cursors.load(key)), connector.instance, "pull"
    )
    written = await inbound.write(page.messages)
    await cursors.advance(key, page)
    return written


@dataclass
class ImportResult:
    accepted: int = 0
    refused: list[str] = field(default_factory=list)


async def import_file(
    connector: Connector, data: bytes, inbound: Inbound, source: str
) -> ImportResult:
    """Every good row of an export into Kafka; every bad row into the dead letters with
    its reason."""
    result = ImportResult()
    items: list[RawMessage | BadInput] = []
    try:
        with record_failures(f"{connector.instance} reading {source}"):
            items.extend(connector.read_file(data))
    except BadInput as unreadable:  # the rest of the file: kept whole, with the reason
        items.append(BadInput(unreadable.reason, body=data))
    result.refused = [item.reason for item in items if isinstance(item, BadInput)]
    result.accepted = await inbound.write(items, source)
    return result
